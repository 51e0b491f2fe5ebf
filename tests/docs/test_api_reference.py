"""``docs/api-reference.md`` is what ``scripts/gen_api_reference.py`` makes from today's OpenAPI spec."""

from __future__ import annotations

import subprocess
import sys

from tests.support import REPO


def test_api_reference_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_api_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_route_of_the_spec_is_in_the_reference() -> None:
    import warnings

    from videoloom.api.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # FastAPI: GET/HEAD share an operation id
        spec = create_app().openapi()
    text = (REPO / "docs" / "api-reference.md").read_text()
    for path, operations in spec["paths"].items():
        for method in operations:
            if method != "head":
                assert f"### `{method.upper()} {path}`" in text, (method, path)
