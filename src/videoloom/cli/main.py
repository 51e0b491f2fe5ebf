"""``videoloom``: run the server, manage API keys, and (``commands.py``) use a server as a client."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from videoloom import __version__
from videoloom.cli.commands import register as register_client_commands
from videoloom.config import Settings
from videoloom.core.errors import VideoloomError
from videoloom.storage.database import create_engine, migrate
from videoloom.storage.keys import ApiKey, ApiKeyRepository

__all__ = ["main"]

T = TypeVar("T")


def _with_keys(settings: Settings, action: Callable[[ApiKeyRepository], Awaitable[T]]) -> T:
    """Open the database (creating and migrating it if needed), run one key action, close."""

    async def run() -> T:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.resolved_database_url)
        try:
            await migrate(engine)
            return await action(ApiKeyRepository(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except VideoloomError as exc:
        raise click.ClickException(exc.message) from exc


def _first_start_key(settings: Settings) -> str | None:
    async def ensure(keys: ApiKeyRepository) -> str | None:
        if await keys.count() > 0:
            return None
        _, plaintext = await keys.create(name="default", tenant_id="default", is_admin=True)
        return plaintext

    return _with_keys(settings, ensure)


@click.group()
@click.version_option(__version__, prog_name="videoloom")
def main() -> None:
    """Videoloom: a self-hosted video generation API server."""


@main.command()
@click.option("--host", default=None, help="Interface to bind (default 127.0.0.1, or VIDEOLOOM_HOST).")
@click.option("--port", type=int, default=None, help="Port (default 8000, or VIDEOLOOM_PORT).")
@click.option("--no-worker", is_flag=True, help="API only: render nothing here (scale-out API node).")
@click.option(
    "--grpc-port",
    type=int,
    default=None,
    help="Also serve xAI's gRPC Video API on this port (or VIDEOLOOM_GRPC_PORT).",
)
def serve(host: str | None, port: int | None, no_worker: bool, grpc_port: int | None) -> None:
    """Run the API server with its embedded worker."""
    import uvicorn

    from videoloom.api.app import create_app
    from videoloom.observability import configure_logging, uvicorn_log_options

    overrides: dict[str, object] = {
        k: v for k, v in {"host": host, "port": port, "grpc_port": grpc_port}.items() if v is not None
    }
    if no_worker:
        overrides["embedded_worker"] = False
    settings = Settings(**overrides)  # type: ignore[arg-type]
    configure_logging(settings.log_format)
    key = _first_start_key(settings)
    if key is not None:
        base = f"http://{settings.host}:{settings.port}"
        click.echo(
            "\nFirst start: created API key 'default' (shown once, store it now):\n\n"
            f"    {key}\n\n"
            "Try it:\n\n"
            f"    curl {base}/v1/models -H 'Authorization: Bearer {key}'\n\n"
            f"Or in a browser: {base}/playground (paste the key)\n"
            f"Or the CLI: export VIDEOLOOM_API_KEY={key}; videoloom --help\n\n"
            f"Data directory: {settings.data_dir.resolve()}\n"
        )
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, **uvicorn_log_options(settings.log_format))


@main.command()
@click.option("--models", "models", multiple=True, help="Claim only tasks of this model (repeatable).")
@click.option("--concurrency", type=int, default=None, help="Tasks rendered at once (default: setting).")
def worker(models: tuple[str, ...], concurrency: int | None) -> None:
    """Run a worker only: claims tasks from the shared database, renders, stores blobs."""
    import signal

    from videoloom.container import Container
    from videoloom.observability import configure_logging

    settings = Settings()
    configure_logging(settings.log_format)

    async def run() -> None:
        container = await Container.create(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            started = await container.start_worker(models=list(models) or None, concurrency=concurrency)
            logging.getLogger("videoloom").info(
                "worker %s serving %s", started.id, ", ".join(models) or "every model"
            )
            await stop.wait()
        finally:
            await container.close()  # hands running tasks back to the queue

    try:
        asyncio.run(run())
    except VideoloomError as exc:
        raise click.ClickException(exc.message) from exc


@main.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@click.option("--name", required=True, help="Unique name for the key.")
@click.option("--tenant", default=None, help="Tenant the key acts for (default: the key's name).")
@click.option("--admin", is_flag=True, help="Allow admin actions.")
def keys_create(name: str, tenant: str | None, admin: bool) -> None:
    """Create a key and print it (only the key, on stdout)."""

    async def create(repo: ApiKeyRepository) -> str:
        _, plaintext = await repo.create(name=name, tenant_id=tenant or name, is_admin=admin)
        return plaintext

    click.echo(_with_keys(Settings(), create))


@keys.command("list")
def keys_list() -> None:
    """List keys (names and prefixes; the keys themselves are not stored)."""
    rows: list[ApiKey] = _with_keys(Settings(), lambda repo: repo.list())
    click.echo(f"{'NAME':<20} {'TENANT':<20} {'PREFIX':<12} {'ADMIN':<6} STATUS")
    for key in rows:
        status = "revoked" if key.revoked_at else "active"
        admin = "yes" if key.is_admin else "no"
        click.echo(f"{key.name:<20} {key.tenant_id:<20} {key.key_prefix:<12} {admin:<6} {status}")


@keys.command("revoke")
@click.argument("name")
def keys_revoke(name: str) -> None:
    """Revoke the key called NAME; requests with it get 401 from now on."""
    _with_keys(Settings(), lambda repo: repo.revoke(name))
    click.echo(f"revoked {name}", err=True)


register_client_commands(main)


@click.command("check")
@click.option(
    "--models-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Models file to check (default: VIDEOLOOM_MODELS_FILE, else the built-in models).",
)
def models_check(models_file: Path | None) -> None:
    """Check that each configured model can run on this host (weights, device, engine installed).

    Prints one row per model; exits 1 when any model is unusable. Nothing is loaded: a
    diffusion model's weights directory and model_index.json are located, not read into memory.
    """
    from videoloom.core.models import ModelRegistry
    from videoloom.engines.registry import EngineContext, check_engine

    settings = Settings()
    path = models_file or settings.models_file
    try:
        registry = ModelRegistry.from_file(path)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    context = EngineContext(channels=registry.channels, tmp_dir=settings.tmp_dir)
    click.echo(f"models file: {path or '(built-in defaults)'}")
    click.echo(f"{'MODEL':<24} {'ENGINE':<10} {'STATUS':<10} DETAIL")
    unusable = 0
    for spec in registry:
        try:
            problem = check_engine(spec, context)
        except Exception as exc:  # a check must report, never crash the table
            problem = f"check failed: {type(exc).__name__}: {exc}"
        unusable += problem is not None
        status = "usable" if problem is None else "UNUSABLE"
        detail = problem or _usable_detail(spec.engine, dict(spec.options))
        click.echo(f"{spec.name:<24} {spec.engine:<10} {status:<10} {detail}")
    if unusable:
        click.echo(f"{unusable} model(s) unusable", err=True)
        sys.exit(1)


def _usable_detail(engine: str, options: dict[str, object]) -> str:
    if engine == "diffusion":
        return f"{options.get('family')} weights {options.get('weights')} on {options.get('device', 'cpu')}"
    return "no weights needed" if engine == "motion" else ""


main_models = main.commands["models"]
assert isinstance(main_models, click.Group)
main_models.add_command(models_check)


@main.group()
def dev() -> None:
    """Developer tools (smoke tests, CI)."""


@dev.command("tiny-model")
@click.option(
    "--family", type=click.Choice(["ltx", "wan-vace"]), required=True, help="Pipeline family to write."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random weights.")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def dev_tiny_model(family: str, seed: int, directory: Path) -> None:
    """Write a tiny random-weight diffusion pipeline to DIRECTORY (needs the diffusion extra).

    A models entry with engine = "diffusion", family = FAMILY, weights = DIRECTORY loads it like
    real weights. For smoke tests and CI only: it produces noise, not pictures.
    """
    try:
        from videoloom.engines._tiny import write_tiny_model
    except ImportError as exc:  # pragma: no cover - the module itself imports nothing heavy
        raise click.ClickException(str(exc)) from exc
    try:
        write_tiny_model(family, directory, seed=seed)
    except ImportError as exc:
        raise click.ClickException(
            f"the diffusion extra is not installed ({exc}): pip install torch, then 'videoloom[diffusion]'"
        ) from exc
    size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    click.echo(f"wrote a tiny {family} pipeline to {directory} ({size // 1024} KiB; noise, not pictures)")


if __name__ == "__main__":
    sys.exit(main())
