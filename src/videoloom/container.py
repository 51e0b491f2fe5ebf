"""Wiring: builds every long-lived part from Settings, once, for the server and the CLI.

Nothing here is a module-level singleton; the API stores the container on
``app.state`` during its lifespan and hands parts out through dependencies.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from videoloom.config import Settings
from videoloom.core.admission import RateLimit, RateLimiter
from videoloom.core.idempotency import Idempotency
from videoloom.core.models import ModelRegistry
from videoloom.core.service import TaskService
from videoloom.core.webhook_service import WebhookService
from videoloom.core.webhooks import OperatorEndpoint, operator_endpoint_id
from videoloom.engines.registry import create_engine as create_model_engine
from videoloom.engines.registry import validate_engine_config
from videoloom.net import AddressPolicy, FetchLimits, SafeFetcher
from videoloom.observability import Metrics
from videoloom.queue import LocalWakeUp, PostgresListener
from videoloom.storage.blobs import BlobStore, open_blob_store
from videoloom.storage.database import create_engine, migrate
from videoloom.storage.idempotency import IdempotencyRepository
from videoloom.storage.keys import ApiKeyRepository
from videoloom.storage.rate_limits import SharedRateLimiter
from videoloom.storage.repository import TaskRepository
from videoloom.storage.webhooks import WebhookRepository
from videoloom.worker.ingest import Ingestor
from videoloom.worker.retention import RetentionSweeper
from videoloom.worker.runner import Worker, WorkerConfig
from videoloom.worker.webhooks import WebhookDispatcher

__all__ = ["Container"]


def _load_or_create_secret(path: Path) -> bytes:
    """The HMAC key for signed content URLs; created once, private to the server."""
    if path.is_file():
        return bytes.fromhex(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value.hex())
    return value


@dataclass
class Container:
    settings: Settings
    db: AsyncEngine
    tasks: TaskRepository
    keys: ApiKeyRepository
    blobs: BlobStore
    registry: ModelRegistry
    service: TaskService
    fetcher: SafeFetcher
    wakeup: LocalWakeUp
    secret: bytes
    webhook_store: WebhookRepository
    webhook_service: WebhookService
    webhooks: WebhookDispatcher
    """Started by the app lifespan; ``notify()`` it when a task finishes to cut event latency."""
    idempotency: Idempotency
    rate_limiter: RateLimit
    retention: RetentionSweeper
    worker: Worker | None = None
    listener: PostgresListener | None = None
    metrics: Metrics = field(default_factory=Metrics)
    """This process's Prometheus registry: HTTP latency, finished tasks; ``/metrics`` exports it."""

    @classmethod
    async def create(cls, settings: Settings) -> Container:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = create_engine(settings.resolved_database_url)
        await migrate(db)
        registry = ModelRegistry.from_file(settings.models_file)
        # A bad [channels.*] table stops startup, as does signed_url without a public URL.
        validate_engine_config(registry, registry.channels, public_url=settings.public_base_url)
        blobs = open_blob_store(
            settings.storage_url, default_root=settings.blob_dir, endpoint=settings.s3_endpoint
        )
        tasks = TaskRepository(db, status_cache_seconds=settings.status_cache_seconds)
        wakeup = LocalWakeUp()
        policy = AddressPolicy(
            allow_private=settings.allow_private_urls,
            allowed_networks=tuple(
                ipaddress.ip_network(n, strict=False) for n in settings.url_allow_networks
            ),
        )
        fetcher = SafeFetcher(
            policy=policy,
            limits=FetchLimits(
                max_bytes=settings.max_image_bytes, timeout_s=settings.image_fetch_timeout_seconds
            ),
        )
        service = TaskService(
            store=tasks,
            registry=registry,
            address_policy=policy,
            notify=wakeup.notify,
            ingest=Ingestor(
                blobs=blobs,
                tmp_dir=settings.tmp_dir,
                max_dimension=settings.max_upload_dimension,
                max_seconds=settings.max_upload_seconds,
            ),
            files=blobs,
            edit_operations=lambda model, prompt: create_model_engine(registry.get(model)).edit_operations(
                prompt
            ),
            retention_seconds=int(settings.retention_hours * 3600),
            max_active_per_tenant=settings.max_active_tasks_per_tenant,
            max_queued=settings.max_queued_tasks,
        )
        webhook_store = WebhookRepository(db)
        webhooks = WebhookDispatcher(
            repository=webhook_store,
            fetcher=SafeFetcher(
                policy=policy, limits=FetchLimits(timeout_s=settings.webhook_timeout_seconds)
            ),
            operators=[
                OperatorEndpoint(
                    id=operator_endpoint_id(e.url),
                    url=e.url,
                    secret=e.secret.get_secret_value(),
                    event_types=tuple(e.event_types),
                )
                for e in settings.webhook_endpoints
            ],
            initial_backoff=settings.webhook_initial_backoff_seconds,
            max_age=settings.webhook_max_age_seconds,
            poll_interval=settings.poll_interval_seconds,
        )
        return cls(
            settings=settings,
            db=db,
            tasks=tasks,
            keys=ApiKeyRepository(db, cache_seconds=settings.key_cache_seconds),
            blobs=blobs,
            registry=registry,
            service=service,
            fetcher=fetcher,
            wakeup=wakeup,
            secret=(
                bytes.fromhex(settings.secret_key.get_secret_value())
                if settings.secret_key
                else _load_or_create_secret(settings.secret_file)
            ),
            idempotency=Idempotency(IdempotencyRepository(db)),
            # One limit for the whole cluster where the nodes share a database server.
            rate_limiter=SharedRateLimiter(db, settings.rate_limit_per_minute)
            if db.dialect.name == "postgresql"
            else RateLimiter(settings.rate_limit_per_minute),
            retention=RetentionSweeper(
                repository=tasks, blobs=blobs, interval=settings.retention_sweep_seconds
            ),
            webhook_store=webhook_store,
            webhook_service=WebhookService(
                store=webhook_store, address_policy=policy, send_test=webhooks.send_test
            ),
            webhooks=webhooks,
        )

    async def start_worker(
        self, *, models: list[str] | None = None, concurrency: int | None = None
    ) -> Worker:
        """Start rendering here; ``models`` limits which tasks this worker claims."""
        s = self.settings
        for name in models or []:
            self.registry.get(name, param="models")
        if self.db.dialect.name == "postgresql":
            # Tasks inserted on any node NOTIFY on commit; the listener wakes this worker.
            dsn = self.db.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self.listener = PostgresListener(dsn, self.wakeup)
            await self.listener.start()
        self.worker = Worker(
            config=WorkerConfig(
                concurrency=concurrency or s.worker_concurrency,
                models=models or None,
                lease_seconds=s.lease_seconds,
                max_attempts=s.max_attempts,
                poll_interval=s.poll_interval_seconds,
                retention_seconds=int(s.retention_hours * 3600),
                tmp_dir=s.tmp_dir,
                max_image_bytes=s.max_image_bytes,
                preset=s.encoder_preset,
                crf=s.encoder_crf,
                render_isolation=s.render_isolation,
            ),
            repository=self.tasks,
            blobs=self.blobs,
            registry=self.registry,
            fetcher=self.fetcher,
            wakeup=self.wakeup,
            on_finished=self.webhooks.notify,
            on_task_end=self.metrics.task_finished,
            public_url=s.public_base_url,
            secret=self.secret,
        )
        self.worker.start()
        return self.worker

    async def close(self) -> None:
        await self.retention.stop()
        if self.worker is not None:
            await self.worker.stop()
        if self.listener is not None:
            await self.listener.stop()
        await self.webhooks.stop()
        await self.fetcher.aclose()
        await self.db.dispose()
