from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import AWS_TEST_ENV, MotoServer, ServerProcess, create_postgres_database, make_clip


@pytest.fixture(scope="session")
def clip_10s(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The judged source: 10 s of 1280×720 at 24 fps, moving."""
    return make_clip(tmp_path_factory.mktemp("clips") / "source-10s.mp4")


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session", params=["embedded", "postgres+s3"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One running server shared by the end-to-end tests, with two tenants' keys.

    Parametrised: the same tests run on the embedded default (SQLite + local disk) and on
    the scale-out configuration (PostgreSQL + an S3-compatible bucket).
    """
    data_dir = tmp_path_factory.mktemp("server") / "data"
    if request.param == "embedded":
        srv = ServerProcess(data_dir)
    else:
        moto: MotoServer = request.getfixturevalue("moto")
        srv = ServerProcess(
            data_dir,
            extra_env=AWS_TEST_ENV,
            moto=moto,
            database_url=create_postgres_database(),
            **moto.settings(data_dir.parent.name),
        )
    srv.keys = {  # type: ignore[attr-defined]
        name: srv.cli("keys", "create", "--name", name).stdout.strip() for name in ("alice", "bob")
    }
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def alice(server: ServerProcess) -> Iterator[object]:
    with server.client(server.keys["alice"]) as client:  # type: ignore[attr-defined]
        yield client


@pytest.fixture(scope="session")
def bob(server: ServerProcess) -> Iterator[object]:
    with server.client(server.keys["bob"]) as client:  # type: ignore[attr-defined]
        yield client
