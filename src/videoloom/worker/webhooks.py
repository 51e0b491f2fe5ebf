"""The webhook dispatcher: announce finished tasks, then send, retry and give up deliveries.

    finished task ──announce (one transaction)──▶ deliveries (pending)
                                                     │ claim (lease = timeout + margin)
                                                     ▼
                           sign with the endpoint's secrets, POST through the SSRF guard
                              │ 2xx                     │ anything else
                              ▼                         ▼
                          delivered      retry after full-jitter backoff, or failed
                                         once the event is older than max_age

It runs as asyncio tasks in the API process, beside the embedded worker but sharing
nothing with its render threads: it only awaits the database and the network, so a
slow receiver never delays a render. Several processes may run it against one
PostgreSQL database: announcing and claiming are ``SKIP LOCKED`` single statements.
Delivery is at-least-once: a crash after the receiver answered but before the result
was stored sends that delivery again with the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from videoloom.core.errors import AddressNotAllowed, FetchError
from videoloom.core.webhooks import (
    TEST_VIDEO_ID,
    Delivery,
    OperatorEndpoint,
    WebhookEndpoint,
    event_payload,
    new_delivery_id,
    new_event_id,
    retry_delay,
    signature_headers,
)
from videoloom.net import SafeFetcher
from videoloom.queue import LocalWakeUp
from videoloom.storage.webhooks import WebhookRepository

__all__ = ["WebhookDispatcher"]

log = logging.getLogger("videoloom.webhooks")

ANNOUNCE_BATCH = 100
"""Finished tasks announced per transaction."""
LEASE_MARGIN_SECONDS = 30.0
"""Added to the request timeout to form a claimed delivery's lease."""
STOP_GRACE_SECONDS = 5.0
"""How long :meth:`WebhookDispatcher.stop` lets in-flight attempts finish."""
_USER_AGENT = "videoloom-webhooks/0.1"


class WebhookDispatcher:
    """Delivers the outbox. ``fetcher`` (its ``timeout_s`` is the per-attempt deadline) is
    owned by the dispatcher and closed by :meth:`stop`."""

    def __init__(
        self,
        *,
        repository: WebhookRepository,
        fetcher: SafeFetcher,
        operators: Sequence[OperatorEndpoint] = (),
        initial_backoff: float,
        max_age: float,
        poll_interval: float = 0.5,
        concurrency: int = 8,
    ) -> None:
        self._repo = repository
        self._fetcher = fetcher
        self._operators = {endpoint.id: endpoint for endpoint in operators}
        self._initial_backoff = initial_backoff
        self._max_age = max_age
        self._poll_interval = poll_interval
        self._concurrency = concurrency
        self._lease = fetcher.limits.timeout_s + LEASE_MARGIN_SECONDS
        self._wakeup = LocalWakeUp()
        self._sending: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._closed = False

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._loop(), name="videoloom-webhooks")

    def notify(self) -> None:
        """Look for finished tasks and due deliveries now instead of at the next poll."""
        self._wakeup.notify()

    async def stop(self) -> None:
        """Stop claiming, let in-flight attempts finish briefly, close the fetcher. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stopping = True
        self._wakeup.notify()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._sending:
            # Unfinished attempts are cancelled; their leases run out and they are sent again.
            _, pending = await asyncio.wait(set(self._sending), timeout=STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._fetcher.aclose()

    async def _loop(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            try:
                await self.run_once()
            except Exception:
                log.exception("webhook dispatch failed; retrying after the poll interval")
            await self._wakeup.wait(self._poll_interval)

    async def run_once(self) -> None:
        """Announce every finished task, then claim due deliveries while slots are free."""
        while True:
            announced = await self._repo.announce(
                now=time.time(), operators=tuple(self._operators.values()), limit=ANNOUNCE_BATCH
            )
            if announced.deliveries:
                log.info("queued %d webhook deliveries", announced.deliveries)
            if announced.tasks < ANNOUNCE_BATCH:
                break
        while len(self._sending) < self._concurrency and not self._stopping:
            delivery = await self._repo.claim_delivery(now=time.time(), lease_seconds=self._lease)
            if delivery is None:
                break
            sending = asyncio.create_task(self._deliver(delivery), name=f"webhook-{delivery.id}")
            self._sending.add(sending)
            sending.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._wakeup.notify()  # a slot is free: claim the next due delivery at once

    # --- one attempt -----------------------------------------------------------------

    async def _post(self, url: str, payload: bytes, *, webhook_id: str, secrets: Sequence[str]) -> int:
        """Sign with a timestamp taken now (so every retry is fresh) and POST."""
        headers = signature_headers(
            payload, webhook_id=webhook_id, timestamp=int(time.time()), secrets=secrets
        )
        headers["user-agent"] = _USER_AGENT
        return await self._fetcher.post(url, content=payload, headers=headers)

    async def _target(self, delivery: Delivery) -> tuple[str, list[str]] | None:
        operator = self._operators.get(delivery.endpoint_id)
        if operator is not None:
            return operator.url, [operator.secret]
        endpoint = await self._repo.get_endpoint_any_tenant(delivery.endpoint_id)
        if endpoint is None:
            return None
        return endpoint.url, endpoint.signing_secrets(time.time())

    async def _deliver(self, delivery: Delivery) -> None:
        try:
            await self._attempt(delivery)
        except asyncio.CancelledError:
            raise
        except Exception:  # the lease runs out and the delivery is tried again
            log.exception("webhook delivery %s failed unexpectedly", delivery.id)

    async def _attempt(self, delivery: Delivery) -> None:
        target = await self._target(delivery)
        if target is None:
            await self._repo.give_up(
                delivery, now=time.time(), error="the endpoint no longer exists", status_code=None
            )
            return
        url, secrets = target
        status: int | None = None
        try:
            status = await self._post(url, delivery.payload.encode(), webhook_id=delivery.id, secrets=secrets)
        except FetchError as exc:
            error = f"{exc.code}: {exc.message}"
        else:
            if 200 <= status < 300:
                await self._repo.mark_delivered(delivery, now=time.time(), status_code=status)
                log.info("delivered %s (%s) to %s", delivery.event_type, delivery.id, delivery.endpoint_id)
                return
            error = f"the endpoint answered HTTP {status}"
            if 300 <= status < 400:
                error += " (redirects are not followed)"
        now = time.time()
        deadline = delivery.event_created_at + self._max_age
        if now >= deadline:
            await self._repo.give_up(delivery, now=now, error=error, status_code=status)
            log.warning(
                "gave up on webhook delivery %s after %d attempts: %s", delivery.id, delivery.attempts, error
            )
            return
        delay = retry_delay(delivery.attempts, initial=self._initial_backoff)
        await self._repo.reschedule(
            delivery,
            now=now,
            next_attempt_at=min(now + delay, deadline),
            error=error,
            status_code=status,
        )
        log.info(
            "webhook delivery %s attempt %d failed (%s); next in %.1f s",
            delivery.id,
            delivery.attempts,
            error,
            delay,
        )

    # --- test events -----------------------------------------------------------------

    async def send_test(self, endpoint: WebhookEndpoint, event_type: str) -> int:
        """Send a sample event now, outside the outbox; the endpoint's status code.

        Raises :class:`FetchError` (or :class:`AddressNotAllowed`) when no answer came.
        """
        payload = event_payload(
            event_id=new_event_id(),
            event_type=event_type,
            created_at=int(time.time()),
            video_id=TEST_VIDEO_ID,
        )
        try:
            return await self._post(
                endpoint.url,
                payload.encode(),
                webhook_id=new_delivery_id(),
                secrets=endpoint.signing_secrets(time.time()),
            )
        except AddressNotAllowed as exc:
            raise AddressNotAllowed(f"the test event was not sent: {exc.message}", code=exc.code) from exc
        except FetchError as exc:
            raise FetchError(f"the test event could not be delivered: {exc.message}", code=exc.code) from exc
