"""Settings: environment variables ``VIDEOLOOM_*`` over an optional TOML file over defaults.

Every setting is documented in ``docs/configuration.md``; keep the two in step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from videoloom.core.errors import InvalidRequest
from videoloom.core.webhooks import validate_event_types, validate_secret

__all__ = ["OperatorWebhookEndpoint", "Settings"]


class OperatorWebhookEndpoint(BaseModel):
    """One ``[[webhook_endpoints]]`` table: receives the events of every tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    """http(s) URL; deliveries pass the same address guard as tenant endpoints."""
    secret: SecretStr
    """Signing secret, ``whsec_<base64>`` (or any string, used as its UTF-8 bytes); masked in reprs."""
    event_types: list[str] = Field(default_factory=lambda: ["video.completed", "video.failed"])

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("a webhook endpoint URL must start with http:// or https://")
        return value

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr) -> SecretStr:
        validate_secret(value.get_secret_value())
        return value

    @field_validator("event_types")
    @classmethod
    def _check_event_types(cls, value: list[str]) -> list[str]:
        try:
            return list(validate_event_types(value))
        except InvalidRequest as exc:
            raise ValueError(exc.message) from None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDEOLOOM_", extra="forbid")

    data_dir: Path = Field(default=Path("data"), description="Database, videos and secrets live here.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default: SQLite file videoloom.db in data_dir.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    grpc_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of the gRPC listener (xAI's xai_api.Video, for the xai-sdk) on `host`; "
        "off unless set.",
    )
    public_base_url: str | None = Field(
        default=None,
        # VIDEOLOOM_PUBLIC_URL too: the name the relay engine's issue and some gateways use.
        validation_alias=AliasChoices("public_base_url", "VIDEOLOOM_PUBLIC_BASE_URL", "VIDEOLOOM_PUBLIC_URL"),
        description="Base URL used in video_url links; default: the URL the request came in on.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Hex key that signs content URLs; default: generated once into data_dir/secret.key. "
        "Give every API node of a cluster the same one.",
    )
    storage_url: str | None = Field(
        default=None,
        description="Where blobs live: local disk (default: data_dir/blobs), file:///path, or s3://bucket/prefix.",
    )
    s3_endpoint: str | None = Field(
        default=None, description="Endpoint of a non-AWS S3-compatible store, e.g. http://127.0.0.1:9000."
    )
    content_delivery: Literal["redirect", "stream"] = Field(
        default="redirect",
        description="With a bucket: answer content downloads with a presigned-URL redirect, or stream them.",
    )
    models_file: Path | None = Field(default=None, description="TOML file of [models.<name>] tables.")

    embedded_worker: bool = Field(default=True, description="Run workers inside the API server.")
    worker_concurrency: int = Field(default=1, ge=1, le=64)
    render_isolation: Literal["process", "thread"] = Field(
        default="process",
        description=(
            "Where renders run: 'process' (one child process per worker slot, so encoding never "
            "holds the API's interpreter lock) or 'thread' (in the server process)."
        ),
    )
    lease_seconds: float = Field(
        default=30.0, gt=0, description="A task whose worker is silent this long is re-queued."
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Claims per task before it fails with worker_lost."
    )
    poll_interval_seconds: float = Field(default=1.0, gt=0, description="Queue poll when no wake-up arrives.")

    retention_hours: float = Field(default=168.0, gt=0, description="How long results stay downloadable.")
    signed_url_ttl_seconds: int = Field(default=3600, ge=60)

    max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    max_image_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    image_fetch_timeout_seconds: float = Field(default=10.0, gt=0)
    allow_private_urls: bool = Field(
        default=False,
        description="Let image and webhook URLs reach loopback/private addresses (closed networks, tests).",
    )

    url_allow_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs that user-given URLs may reach even if private (operator allow-list).",
    )

    key_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        description="How long a verified API key is remembered; revocations elsewhere lag by this.",
    )
    status_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        description=(
            "How long a status poll may be answered from memory. Writes in this process clear it at "
            "once; a separate worker's changes show up at most this late (0: always read the database)."
        ),
    )
    rate_limit_per_minute: int = Field(
        default=120, ge=0, description="Creating requests per API key per minute (0: no limit)."
    )
    max_active_tasks_per_tenant: int = Field(
        default=16, ge=0, description="Queued + processing tasks one tenant may have (0: no limit)."
    )
    max_queued_tasks: int = Field(default=1000, ge=0, description="Queued tasks server-wide (0: no limit).")
    max_request_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest JSON request body; uploads use max_upload_bytes."
    )
    max_upload_seconds: float = Field(default=600.0, gt=0, description="Longest uploaded video.")
    max_upload_dimension: int = Field(default=4096, ge=16, description="Largest uploaded width or height.")
    retention_sweep_seconds: float = Field(
        default=60.0, gt=0, description="How often expired results are deleted."
    )

    openai_status_vocabulary: Literal["openai", "gateway"] = Field(
        default="openai",
        description="Statuses on the OpenAI routes: queued/in_progress, or the gateway's processing.",
    )
    poll_after_ms: int = Field(default=1000, ge=100, description="openai-poll-after-ms sent while running.")

    webhook_endpoints: list[OperatorWebhookEndpoint] = Field(
        default_factory=list,
        description="Operator endpoints that receive the webhook events of every tenant.",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Deadline of one delivery attempt, connection included."
    )
    webhook_max_age_seconds: float = Field(
        default=3 * 24 * 3600, gt=0, description="Deliveries are retried until the event is this old."
    )
    webhook_initial_backoff_seconds: float = Field(
        default=5.0, gt=0, description="Backoff ceiling after the first failed attempt; doubles per attempt."
    )

    encoder_preset: str = "veryfast"
    encoder_crf: int = Field(default=18, ge=0, le=51)

    log_format: Literal["text", "json"] = Field(
        default="text",
        description="Log lines as text, or as JSON objects carrying request_id and task_id.",
    )

    @field_validator("webhook_endpoints")
    @classmethod
    def _unique_webhook_urls(cls, value: list[OperatorWebhookEndpoint]) -> list[OperatorWebhookEndpoint]:
        urls = [endpoint.url for endpoint in value]
        if len(set(urls)) != len(urls):
            raise ValueError("webhook_endpoints lists the same URL twice")
        return value

    @field_validator("url_allow_networks")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for network in value:
            ipaddress.ip_network(network, strict=False)
        return value

    @field_validator("public_base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("VIDEOLOOM_CONFIG_FILE")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    # Derived paths: one place decides the data directory's layout.
    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'videoloom.db'}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def secret_file(self) -> Path:
        return self.data_dir / "secret.key"

    def describe(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
