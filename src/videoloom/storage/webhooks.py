"""WebhookRepository: every query on webhook endpoints and the delivery outbox.

The outbox removes the dual write between "the task finished" and "its event is
queued": the worker only finishes tasks; :meth:`WebhookRepository.announce` later
finds finished, unannounced tasks and, in ONE transaction, inserts their deliveries
and sets ``tasks.announced_at``. A crash before that commit leaves the task
unannounced (it is found again); after it, the deliveries are durable.

Claims (of tasks to announce, of deliveries to send) are single statements whose
sub-select carries ``FOR UPDATE SKIP LOCKED``: on PostgreSQL several API nodes can
run the dispatcher side by side; on SQLite SQLAlchemy drops the clause and the
``UPDATE`` holds the write lock for its whole run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from videoloom.core.webhooks import (
    Delivery,
    DeliveryStatus,
    OperatorEndpoint,
    WebhookEndpoint,
    event_payload,
    event_type_for_status,
    new_delivery_id,
    new_event_id,
)
from videoloom.storage.schema import tasks, webhook_deliveries, webhook_endpoints

__all__ = ["Announced", "WebhookRepository"]

_ANNOUNCED_STATUSES = ("completed", "failed")

_ENDPOINT_FIELDS = frozenset({"name", "url", "event_types"})


class Announced(NamedTuple):
    tasks: int
    """Finished tasks marked announced by this call."""
    deliveries: int
    """Deliveries queued for them."""


def _endpoint(row: Mapping[Any, Any]) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        url=row["url"],
        event_types=tuple(row["event_types"] or ()),
        secret=row["secret"],
        previous_secret=row["previous_secret"],
        previous_secret_expires_at=row["previous_secret_expires_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _delivery(row: Mapping[Any, Any]) -> Delivery:
    return Delivery(
        id=row["id"],
        endpoint_id=row["endpoint_id"],
        tenant_id=row["tenant_id"],
        task_id=row["task_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        payload=row["payload"],
        event_created_at=row["event_created_at"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        last_status_code=row["last_status_code"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        delivered_at=row["delivered_at"],
    )


class WebhookRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # --- endpoints (always tenant-scoped for callers) ---------------------------------------

    async def insert_endpoint(self, endpoint: WebhookEndpoint) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                webhook_endpoints.insert().values(
                    id=endpoint.id,
                    tenant_id=endpoint.tenant_id,
                    name=endpoint.name,
                    url=endpoint.url,
                    event_types=list(endpoint.event_types),
                    secret=endpoint.secret,
                    previous_secret=endpoint.previous_secret,
                    previous_secret_expires_at=endpoint.previous_secret_expires_at,
                    created_at=endpoint.created_at,
                    updated_at=endpoint.updated_at,
                )
            )

    async def get_endpoint(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        """Another tenant's id reads exactly like a missing one."""
        async with self._engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(webhook_endpoints).where(
                            webhook_endpoints.c.id == endpoint_id,
                            webhook_endpoints.c.tenant_id == tenant_id,
                        )
                    )
                )
                .mappings()
                .first()
            )
        return _endpoint(row) if row else None

    async def get_endpoint_any_tenant(self, endpoint_id: str) -> WebhookEndpoint | None:
        """For the dispatcher only, which acts on a delivery it already holds."""
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)))
                .mappings()
                .first()
            )
        return _endpoint(row) if row else None

    async def count_endpoints(self, tenant_id: str) -> int:
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(func.count())
                .select_from(webhook_endpoints)
                .where(webhook_endpoints.c.tenant_id == tenant_id)
            )
            return int(result.scalar_one())

    async def list_endpoints(
        self, tenant_id: str, *, after: str | None, limit: int
    ) -> tuple[list[WebhookEndpoint], bool]:
        """Newest first. Ids sort by creation time, so ``after`` works even once deleted."""
        query = select(webhook_endpoints).where(webhook_endpoints.c.tenant_id == tenant_id)
        if after is not None:
            query = query.where(webhook_endpoints.c.id < after)
        query = query.order_by(webhook_endpoints.c.id.desc()).limit(limit + 1)
        async with self._engine.connect() as conn:
            rows = [_endpoint(row) for row in (await conn.execute(query)).mappings()]
        return rows[:limit], len(rows) > limit

    async def update_endpoint(
        self, tenant_id: str, endpoint_id: str, *, now: int, **changes: Any
    ) -> WebhookEndpoint | None:
        """Set ``name``, ``url`` and/or ``event_types`` and advance ``updated_at``."""
        if not changes or not set(changes) <= _ENDPOINT_FIELDS:
            raise ValueError(f"unexpected endpoint fields {sorted(changes)}")
        if "event_types" in changes:
            changes["event_types"] = list(changes["event_types"])
        async with self._engine.begin() as conn:
            row = (
                (
                    await conn.execute(
                        update(webhook_endpoints)
                        .where(
                            webhook_endpoints.c.id == endpoint_id,
                            webhook_endpoints.c.tenant_id == tenant_id,
                        )
                        .values(updated_at=now, **changes)
                        .returning(*webhook_endpoints.c)
                    )
                )
                .mappings()
                .first()
            )
        return _endpoint(row) if row else None

    async def rotate_secret(
        self, tenant_id: str, endpoint_id: str, *, secret: str, keep_previous_until: int | None, now: int
    ) -> WebhookEndpoint | None:
        """Make ``secret`` current; the old one keeps signing until ``keep_previous_until``.

        One UPDATE: its right-hand sides read the row as it was, so the old current
        secret becomes the previous one atomically.
        """
        kept = {
            "previous_secret": webhook_endpoints.c.secret if keep_previous_until is not None else None,
            "previous_secret_expires_at": keep_previous_until,
        }
        async with self._engine.begin() as conn:
            row = (
                (
                    await conn.execute(
                        update(webhook_endpoints)
                        .where(
                            webhook_endpoints.c.id == endpoint_id,
                            webhook_endpoints.c.tenant_id == tenant_id,
                        )
                        .values(secret=secret, updated_at=now, **kept)
                        .returning(*webhook_endpoints.c)
                    )
                )
                .mappings()
                .first()
            )
        return _endpoint(row) if row else None

    async def delete_endpoint(self, tenant_id: str, endpoint_id: str) -> bool:
        """Delete the endpoint and, in the same transaction, its deliveries (sent or not)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                webhook_endpoints.delete().where(
                    webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.tenant_id == tenant_id
                )
            )
            if result.rowcount != 1:
                return False
            await conn.execute(
                webhook_deliveries.delete().where(webhook_deliveries.c.endpoint_id == endpoint_id)
            )
            return True

    # --- the announcer ----------------------------------------------------------------------

    async def announce(
        self, *, now: float, operators: Sequence[OperatorEndpoint] = (), limit: int = 100
    ) -> Announced:
        """Queue the events of up to ``limit`` finished, unannounced tasks, atomically.

        One transaction: mark the tasks announced (the first statement, so the write lock is
        taken before anything is read), read their tenants' endpoints, insert one delivery
        per (task, matching endpoint) — tenant endpoints of the task's tenant and operator
        endpoints alike — all sharing the event's id and body.
        """
        pending = (
            select(tasks.c.id)
            .where(
                tasks.c.announced_at.is_(None),
                tasks.c.status.in_(_ANNOUNCED_STATUSES),
                tasks.c.kind != "upload",
            )
            .order_by(tasks.c.status_update_time)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(tasks)
            .where(tasks.c.id.in_(pending), tasks.c.announced_at.is_(None))
            .values(announced_at=now)
            .returning(tasks.c.id, tasks.c.tenant_id, tasks.c.status, tasks.c.status_update_time)
        )
        async with self._engine.begin() as conn:
            finished = list((await conn.execute(claim)).mappings())
            if not finished:
                return Announced(0, 0)
            tenants = sorted({row["tenant_id"] for row in finished})
            subscribed: dict[str, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
            endpoint_rows = await conn.execute(
                select(
                    webhook_endpoints.c.id, webhook_endpoints.c.tenant_id, webhook_endpoints.c.event_types
                ).where(webhook_endpoints.c.tenant_id.in_(tenants))
            )
            for row in endpoint_rows.mappings():
                subscribed[row["tenant_id"]].append((row["id"], tuple(row["event_types"] or ())))
            deliveries: list[dict[str, Any]] = []
            for task in finished:
                event_type = event_type_for_status(task["status"])
                if event_type is None:  # pragma: no cover - the claim selects only these statuses
                    continue
                targets = [eid for eid, types in subscribed[task["tenant_id"]] if event_type in types]
                targets += [op.id for op in operators if event_type in op.event_types]
                if not targets:
                    continue
                event_id = new_event_id()
                created_at = int(task["status_update_time"])
                payload = event_payload(
                    event_id=event_id, event_type=event_type, created_at=created_at, video_id=task["id"]
                )
                for endpoint_id in targets:
                    deliveries.append(
                        {
                            "id": new_delivery_id(),
                            "endpoint_id": endpoint_id,
                            "tenant_id": task["tenant_id"],
                            "task_id": task["id"],
                            "event_id": event_id,
                            "event_type": event_type,
                            "payload": payload,
                            "event_created_at": created_at,
                            "status": DeliveryStatus.PENDING.value,
                            "attempts": 0,
                            "next_attempt_at": now,
                            "last_error": None,
                            "last_status_code": None,
                            "created_at": int(now),
                            "updated_at": int(now),
                            "delivered_at": None,
                        }
                    )
            if deliveries:
                await conn.execute(webhook_deliveries.insert(), deliveries)
        return Announced(len(finished), len(deliveries))

    # --- deliveries -------------------------------------------------------------------------

    async def claim_delivery(self, *, now: float, lease_seconds: float) -> Delivery | None:
        """Take the most overdue pending delivery and count the attempt.

        ``next_attempt_at`` moves to ``now + lease_seconds``: that is the lease. If the
        process dies mid-send, the delivery becomes due again when it runs out.
        """
        due = and_(
            webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
            webhook_deliveries.c.next_attempt_at <= now,
        )
        oldest = (
            select(webhook_deliveries.c.id)
            .where(due)
            .order_by(webhook_deliveries.c.next_attempt_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).scalar_subquery()
        statement = (
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == oldest, due)
            .values(
                attempts=webhook_deliveries.c.attempts + 1,
                next_attempt_at=now + lease_seconds,
                updated_at=int(now),
            )
            .returning(*webhook_deliveries.c)
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(statement)).mappings().first()
        return _delivery(row) if row else None

    def _held(self, delivery: Delivery) -> Any:
        """The attempt this caller claimed is still the latest one and still pending."""
        return and_(
            webhook_deliveries.c.id == delivery.id,
            webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
            webhook_deliveries.c.attempts == delivery.attempts,
        )

    async def _finish(self, delivery: Delivery, **values: Any) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(webhook_deliveries).where(self._held(delivery)).values(**values)
            )
            return result.rowcount == 1

    async def mark_delivered(self, delivery: Delivery, *, now: float, status_code: int) -> bool:
        return await self._finish(
            delivery,
            status=DeliveryStatus.DELIVERED.value,
            last_status_code=status_code,
            last_error=None,
            delivered_at=int(now),
            updated_at=int(now),
        )

    async def reschedule(
        self,
        delivery: Delivery,
        *,
        now: float,
        next_attempt_at: float,
        error: str,
        status_code: int | None,
    ) -> bool:
        return await self._finish(
            delivery,
            next_attempt_at=next_attempt_at,
            last_error=error,
            last_status_code=status_code,
            updated_at=int(now),
        )

    async def give_up(self, delivery: Delivery, *, now: float, error: str, status_code: int | None) -> bool:
        return await self._finish(
            delivery,
            status=DeliveryStatus.FAILED.value,
            last_error=error,
            last_status_code=status_code,
            updated_at=int(now),
        )

    async def next_due_at(self) -> float | None:
        """When the earliest pending delivery becomes due (a lease end for one in flight)."""
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(func.min(webhook_deliveries.c.next_attempt_at)).where(
                    webhook_deliveries.c.status == DeliveryStatus.PENDING.value
                )
            )
            value = result.scalar_one()
        return float(value) if value is not None else None

    async def deliveries_for_task(self, task_id: str) -> list[Delivery]:
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(webhook_deliveries)
                .where(webhook_deliveries.c.task_id == task_id)
                .order_by(webhook_deliveries.c.id)
            )
            return [_delivery(row) for row in result.mappings()]
