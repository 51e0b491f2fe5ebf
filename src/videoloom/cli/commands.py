"""The user commands of ``videoloom``: create, extend, upload, status, wait, download, list, lineage, usage…

They talk to a running server over HTTP (``--base-url`` / ``VIDEOLOOM_BASE_URL``,
``--api-key`` / ``VIDEOLOOM_API_KEY``). Results go to stdout (``--json`` for
scripts), progress and errors to stderr. Exit codes:

====  ==========================================================================
0     success
1     the server refused the request (its ``error.message`` is printed)
2     usage error (a missing or invalid option)
3     the task ended ``failed`` or ``cancelled`` (``wait``, ``--wait``)
4     the server could not be reached (refused, timed out, connection cut)
5     ``wait --timeout`` ran out while the task was still running
130   interrupted (Ctrl-C)
====  ==========================================================================
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.tree import Tree

from videoloom.cli.client import (
    DEFAULT_BASE_URL,
    ApiError,
    ClientError,
    ConnectionFailed,
    TaskFailed,
    TaskUpdate,
    VideoloomClient,
    WaitTimedOut,
    image_reference,
)

__all__ = ["EXIT_CODES", "register"]

EXIT_OK, EXIT_API, EXIT_USAGE, EXIT_TASK_FAILED, EXIT_CONNECTION, EXIT_TIMEOUT = 0, 1, 2, 3, 4, 5
EXIT_INTERRUPTED = 130
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_API: "the server refused the request",
    EXIT_USAGE: "usage error",
    EXIT_TASK_FAILED: "the task failed or was cancelled",
    EXIT_CONNECTION: "the server could not be reached",
    EXIT_TIMEOUT: "wait timed out",
    EXIT_INTERRUPTED: "interrupted",
}

SIZES = ("720P", "1080P")
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3")
VARIANTS = ("video", "thumbnail", "spritesheet")

F = TypeVar("F", bound=Callable[..., Any])


class Session:
    """What every user command gets: the client, the output mode and the two consoles."""

    def __init__(self, base_url: str, api_key: str | None, as_json: bool, quiet: bool) -> None:
        self.client = VideoloomClient(base_url, api_key)
        self.as_json = as_json
        self.quiet = quiet
        self.out = Console(highlight=False)
        if not self.out.is_terminal:  # pipes and files: long lines, ids never cut
            self.out = Console(highlight=False, width=200)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def emit_json(self, value: Any) -> None:
        click.echo(json.dumps(value, indent=2))

    def note(self, text: str) -> None:
        """A human message on stderr (never in the way of --json or --quiet output)."""
        if not self.quiet:
            self.err.print(text)


def _client_command(func: F) -> F:
    """Adds the connection and output options, opens the client and maps errors to exit codes."""

    @click.option(
        "--base-url",
        envvar="VIDEOLOOM_BASE_URL",
        default=DEFAULT_BASE_URL,
        show_default=True,
        help="Server to talk to (or VIDEOLOOM_BASE_URL).",
    )
    @click.option(
        "--api-key", envvar="VIDEOLOOM_API_KEY", default=None, help="API key (or VIDEOLOOM_API_KEY)."
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the server's JSON answer (for scripts).")
    @click.option("-q", "--quiet", is_flag=True, help="Print only the id (or path) on stdout.")
    @functools.wraps(func)
    def wrapper(base_url: str, api_key: str | None, as_json: bool, quiet: bool, **kwargs: Any) -> None:
        session = Session(base_url, api_key, as_json, quiet)
        try:
            func(session, **kwargs)
        except TaskFailed as exc:
            if session.as_json:
                session.emit_json(exc.task)
            _fail(session, exc.message, EXIT_TASK_FAILED)
        except ApiError as exc:
            hint = ""
            if exc.status == 401:
                hint = "\nhint: pass --api-key or set VIDEOLOOM_API_KEY (videoloom keys create --name NAME)"
            _fail(session, f"{exc.message}{hint}", EXIT_API)
        except ConnectionFailed as exc:
            _fail(session, exc.message, EXIT_CONNECTION)
        except WaitTimedOut as exc:
            _fail(session, exc.message, EXIT_TIMEOUT)
        except ClientError as exc:
            raise click.UsageError(exc.message) from exc
        except KeyboardInterrupt:
            _fail(session, "interrupted", EXIT_INTERRUPTED)
        finally:
            session.client.close()

    return wrapper  # type: ignore[return-value]


def _fail(session: Session, message: str, code: int) -> None:
    session.err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    raise SystemExit(code)


# --- rendering -------------------------------------------------------------------------------


def _when(timestamp: Any) -> str:
    if not isinstance(timestamp, int | float) or not timestamp:
        return "—"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _describe(task: dict[str, Any]) -> str:
    parts = [task.get("kind") or "video"]
    if task.get("duration"):
        parts.append(f"{task['duration']:.1f} s")
    if task.get("width") and task.get("height"):
        parts.append(f"{task['width']}×{task['height']}")
    if task.get("kind") == "extend" and task.get("start_time") is not None:
        parts.append(f"cut at {task['start_time']} s")
    return ", ".join(parts)


def _print_created(session: Session, task: dict[str, Any], verb: str) -> None:
    if session.as_json:
        session.emit_json(task)
    elif session.quiet:
        click.echo(task["id"])
    else:
        session.out.print(f"{verb} [bold]{task['id']}[/] ({task['status']})")
        if task["status"] != "completed":
            session.err.print(f"follow it with: videoloom wait {task['id']}")


def _print_task(session: Session, task: dict[str, Any]) -> None:
    if session.as_json:
        session.emit_json(task)
        return
    if session.quiet:
        click.echo(task["id"])
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    state = task.get("state", task.get("status"))
    rows: list[tuple[str, Any]] = [
        ("id", task["id"]),
        ("status", f"{state} ({task.get('progress', 0)}%)"),
        ("kind", task.get("kind")),
        ("model", task.get("model")),
        ("prompt", task.get("prompt") or "—"),
        ("parent", task.get("parent_id") or "—"),
        ("start_time", task.get("start_time") if task.get("start_time") is not None else "—"),
        ("video", _describe(task)),
        ("created", _when(task.get("created_at"))),
        ("completed", _when(task.get("completed_at"))),
        ("expires", _when(task.get("expires_at"))),
    ]
    if task.get("error"):
        rows.append(("error", f"{task['error'].get('code')}: {task['error'].get('message')}"))
    if task.get("video_url"):
        rows.append(("video_url", task["video_url"]))
    for name, value in rows:
        table.add_row(name, str(value))
    session.out.print(table)


class _ProgressView:
    """A rich progress bar on a terminal; one plain line per change otherwise (logs, CI, tests)."""

    def __init__(self, session: Session, task_id: str) -> None:
        self.session = session
        self.task_id = task_id
        self.live = session.err.is_terminal
        self.last: tuple[str, int] | None = None
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[state]}"),
            TimeElapsedColumn(),
            console=session.err,
            transient=False,
        )
        self.bar = self.progress.add_task(task_id, total=100, state="waiting", start=True)

    def __enter__(self) -> _ProgressView:
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.live:
            self.progress.stop()

    def update(self, update: TaskUpdate) -> None:
        progress = 100 if update.state == "completed" else update.progress
        if self.live:
            self.progress.update(self.bar, completed=progress, state=update.state)
            return
        if (update.state, progress) == self.last:
            return
        self.last = (update.state, progress)
        filled = progress // 5
        bar = "█" * filled + "░" * (20 - filled)
        self.session.err.print(
            f"{self.task_id} {bar} {progress:3d}% {update.state}", markup=False, highlight=False
        )


def _wait(
    session: Session, task_id: str, *, timeout: float | None = None, poll: bool = False
) -> dict[str, Any]:
    with _ProgressView(session, task_id) as view:
        return session.client.wait(task_id, on_update=view.update, timeout=timeout, use_events=not poll)


def _print_finished(session: Session, task: dict[str, Any]) -> None:
    if session.as_json:
        session.emit_json(task)
    elif session.quiet:
        click.echo(task["id"])
    else:
        session.out.print(f"[green]completed[/] [bold]{task['id']}[/]: {_describe(task)}")
        session.err.print(f"download it with: videoloom download {task['id']}")


# --- commands --------------------------------------------------------------------------------


def _generation_options(func: F) -> F:
    for option in reversed(
        [
            click.option("--prompt", "-p", required=True, help="What the new content should show or do."),
            click.option(
                "--image",
                "images",
                multiple=True,
                metavar="URL|FILE",
                help="Reference image (http(s) or data: URL, or a local file); repeat up to 4 times.",
            ),
            click.option(
                "--size",
                type=click.Choice(SIZES, case_sensitive=False),
                default=None,
                help="Short side of the output: 720P (default) or 1080P.",
            ),
            click.option(
                "--aspect", type=click.Choice(ASPECT_RATIOS), default=None, help="Aspect ratio, e.g. 16:9."
            ),
            click.option(
                "--duration",
                type=click.IntRange(1, 15),
                default=None,
                help="Seconds of new content (1–15, default 6).",
            ),
            click.option("--model", default=None, help="Model name (see `videoloom models`)."),
            click.option(
                "--seed", type=click.IntRange(min=0), default=None, help="Makes the output repeatable."
            ),
            click.option("--wait", "wait_", is_flag=True, help="Wait for the task, with a progress bar."),
        ]
    ):
        func = option(func)
    return func


def _body(
    prompt: str,
    images: tuple[str, ...],
    size: str | None,
    aspect: str | None,
    duration: int | None,
    seed: int | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": prompt}
    if images:
        body["images"] = [image_reference(i) for i in images]
    if size:
        body["size"] = size.upper()
    if aspect:
        body["aspect_ratio"] = aspect
    if duration is not None:
        body["duration"] = duration
    if seed is not None:
        body["seed"] = seed
    return body


@click.command()
@_generation_options
@_client_command
def create(
    session: Session,
    prompt: str,
    images: tuple[str, ...],
    size: str | None,
    aspect: str | None,
    duration: int | None,
    model: str | None,
    seed: int | None,
    wait_: bool,
) -> None:
    """Generate a video from a prompt (and reference images)."""
    body = _body(prompt, images, size, aspect, duration, seed)
    body["model"] = model or session.client.models()["data"][0]["id"]
    task = session.client.create(body)
    if not wait_:
        _print_created(session, task, "created")
        return
    _print_finished(session, _wait(session, task["id"]))


@click.command()
@click.argument("video_id")
@click.option(
    "--at",
    "start_time",
    type=click.IntRange(min=0),
    default=None,
    help="Second of the source where the new content starts (default: its end).",
)
@click.option("--upscale", is_flag=True, help="Render at the engine's size, then enhance to --size.")
@_generation_options
@_client_command
def extend(
    session: Session,
    video_id: str,
    start_time: int | None,
    upscale: bool,
    prompt: str,
    images: tuple[str, ...],
    size: str | None,
    aspect: str | None,
    duration: int | None,
    model: str | None,
    seed: int | None,
    wait_: bool,
) -> None:
    """Continue VIDEO_ID from second --at with new content shaped by --prompt."""
    body = _body(prompt, images, size, aspect, duration, seed)
    body["model"] = model or session.client.query(video_id)["model"]
    if start_time is not None:
        body["start_time"] = start_time
    if upscale:
        body["upscale"] = True
    task = session.client.extend(video_id, body)
    if not wait_:
        _print_created(session, task, "extending into")
        return
    _print_finished(session, _wait(session, task["id"]))


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", default=None, help="Model whose id family the upload takes (default: the first).")
@_client_command
def upload(session: Session, file: Path, model: str | None) -> None:
    """Upload a video FILE (MP4, MOV or WebM); it becomes a completed task to extend."""
    session.note(f"uploading {file.name} ({file.stat().st_size / 1e6:.1f} MB)…")
    task = session.client.upload(file, model=model)
    _print_created(session, task, "uploaded")


@click.command()
@click.argument("video_id")
@_client_command
def status(session: Session, video_id: str) -> None:
    """Show a task: status, progress, what it is, its signed video_url once done."""
    _print_task(session, session.client.query(video_id))


@click.command()
@click.argument("video_id")
@click.option(
    "--timeout", type=click.FloatRange(min=0), default=None, help="Give up after this many seconds."
)
@click.option("--poll", is_flag=True, help="Poll /v1/video/query instead of following the event stream.")
@_client_command
def wait(session: Session, video_id: str, timeout: float | None, poll: bool) -> None:
    """Wait for a task to finish, with a progress bar (exit 3 if it fails)."""
    _print_finished(session, _wait(session, video_id, timeout=timeout, poll=poll))


@click.command()
@click.argument("video_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write (default: <id>.mp4, or .jpg for images, in the current directory).",
)
@click.option(
    "--variant",
    type=click.Choice(VARIANTS),
    default="video",
    show_default=True,
    help="The MP4, its thumbnail, or a spritesheet of 25 frames.",
)
@_client_command
def download(session: Session, video_id: str, output: Path | None, variant: str) -> None:
    """Download a finished video (or its thumbnail or spritesheet)."""
    suffix = ".mp4" if variant == "video" else f".{variant}.jpg" if variant == "spritesheet" else ".jpg"
    target = output or Path(video_id.replace(":", "_") + suffix)
    size = session.client.download(video_id, target, variant=variant)
    if session.as_json:
        session.emit_json({"id": video_id, "variant": variant, "path": str(target), "bytes": size})
    elif session.quiet:
        click.echo(str(target))
    else:
        session.out.print(f"saved {target} ({size / 1e6:.2f} MB)")


@click.command("list")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--after", default=None, help="Continue after this id (the previous page's last).")
@click.option("--order", type=click.Choice(("desc", "asc")), default="desc", show_default=True)
@_client_command
def list_(session: Session, limit: int, after: str | None, order: str) -> None:
    """List your videos, newest first."""
    page = session.client.list(limit=limit, after=after, order=order)
    if session.as_json:
        session.emit_json(page)
        return
    if session.quiet:
        for video in page["data"]:
            click.echo(video["id"])
        return
    table = Table()
    table.add_column("id", no_wrap=True)
    for name in ("kind", "status", "seconds", "size", "created", "prompt"):
        table.add_column(name)
    for video in page["data"]:
        table.add_row(
            video["id"],
            video.get("kind", ""),
            f"{video['status']} {video['progress']}%" if video["status"] != "completed" else "completed",
            video.get("seconds", ""),
            video.get("size", ""),
            _when(video.get("created_at")),
            (video.get("prompt") or "")[:40],
        )
    session.out.print(table)
    if page.get("has_more"):
        session.err.print(f"more: videoloom list --after {page['last_id']}")


@click.command()
@click.argument("video_id")
@_client_command
def delete(session: Session, video_id: str) -> None:
    """Delete a video (cancels it first if it is still running) and its files."""
    answer = session.client.delete(video_id)
    if session.as_json:
        session.emit_json(answer)
    elif session.quiet:
        click.echo(answer["id"])
    else:
        session.out.print(f"deleted {answer['id']}")


@click.command()
@click.argument("video_id")
@_client_command
def lineage(session: Session, video_id: str) -> None:
    """Show the chain of extends and edits that led to VIDEO_ID, from its root."""
    chain = session.client.lineage(video_id)
    if session.as_json:
        session.emit_json(chain)
        return
    if session.quiet:
        for task in chain:
            click.echo(task["id"])
        return

    def label(task: dict[str, Any]) -> str:
        if task.get("missing"):
            return f"[dim]{task['id']} (deleted)[/]"
        mark = "[bold cyan]" if task["id"] == video_id else "[bold]"
        text = f"{mark}{task['id']}[/] [dim]{_describe(task)}, {task.get('state', task.get('status'))}[/]"
        if task.get("prompt"):
            text += f'\n[italic]"{task["prompt"]}"[/]'
        return text

    tree = Tree(label(chain[0]))
    node = tree
    for task in chain[1:]:
        node = node.add(label(task))
    session.out.print(tree)


@click.group(invoke_without_command=True)
@_client_command
def models(session: Session) -> None:
    """List the models the server serves and the engine behind each.

    `videoloom models check` checks this host's models file instead (no server needed).
    """
    if click.get_current_context().invoked_subcommand is not None:
        return
    answer = session.client.models()
    if session.as_json:
        session.emit_json(answer)
        return
    table = Table("model", "engine", "description")
    for model in answer["data"]:
        table.add_row(model["id"], model.get("engine", ""), model.get("description", ""))
    session.out.print(table)


@click.command()
@click.option("--start", default=None, help="First UTC day, YYYY-MM-DD (inclusive).")
@click.option("--end", default=None, help="Last UTC day, YYYY-MM-DD (inclusive).")
@_client_command
def usage(session: Session, start: str | None, end: str | None) -> None:
    """Seconds of video your tenant generated, per API key, day and model."""
    answer = session.client.usage(start=start, end=end)
    if session.as_json:
        session.emit_json(answer)
        return
    table = Table("day", "api key", "model", "seconds", "tasks", "failed", "channels")
    for entry in answer["data"]:
        channels = ", ".join(f"{name} {seconds:g} s" for name, seconds in entry["channels"].items())
        table.add_row(
            entry["day"],
            entry.get("api_key") or "-",
            entry["model"],
            f"{entry['seconds']:g}",
            str(entry["tasks"]),
            str(entry["failed"]),
            channels or "-",
        )
    session.out.print(table)
    session.out.print(f"total: {answer['total_seconds']:g} s")


COMMANDS = (create, extend, upload, status, wait, download, list_, delete, lineage, models, usage)


def register(group: click.Group) -> None:
    """Add the user commands to the ``videoloom`` group beside ``serve`` and ``keys``."""
    for command in COMMANDS:
        group.add_command(command)
    group.epilog = group.epilog or (
        "Client commands talk to a running server (--base-url / VIDEOLOOM_BASE_URL, "
        "--api-key / VIDEOLOOM_API_KEY) and exit 0 on success, 1 when the server refuses, "
        "2 on a usage error, 3 when the task failed, 4 when the server cannot be reached, "
        "5 when wait --timeout runs out. See docs/cli.md."
    )
