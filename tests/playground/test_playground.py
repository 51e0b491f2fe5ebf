"""The playground page in real headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright).

Chromium is started with the flags that keep it off the network, a fresh
profile, and a route that refuses any request not bound for loopback; the test
also asserts that none was attempted.

Set ``VIDEOLOOM_UPDATE_SCREENSHOT=1`` to copy the screenshot to ``docs/img/playground.png``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support import REPO, ServerProcess, decode_all, make_clip

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK = {"127.0.0.1", "::1", "[::1]", "localhost"}

sync_api = pytest.importorskip("playwright.sync_api")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (make test installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A persistent Chromium context with a fresh profile; non-loopback requests are refused.

    Asks for ``server`` so the server is up first: Playwright's sync API keeps an event loop
    running in this thread, and the server fixture may need ``asyncio.run`` to set up.
    """
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),  # becomes --user-data-dir
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1366, "height": 900},
            accept_downloads=True,
            # Playwright's own waits evaluate code; the page's CSP (script-src 'self') forbids that.
            bypass_csp=True,
        )
        context.set_default_timeout(30_000)
        context.outside = []  # type: ignore[attr-defined]

        def guard(route: Any) -> None:
            host = urlsplit(route.request.url).hostname or ""
            if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
                route.continue_()
            else:
                context.outside.append(route.request.url)  # type: ignore[attr-defined]
                route.abort("blockedbyclient")

        context.route("**/*", guard)
        try:
            yield context
        finally:
            context.close()
    assert context.outside == [], f"the page tried to reach beyond loopback: {context.outside}"  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def playground_key(server: ServerProcess) -> str:
    """A tenant of its own, so the gallery holds only what this test makes."""
    return server.cli("keys", "create", "--name", f"playground-{server.port}").stdout.strip()


def _save_docs_screenshot(shot: Path) -> None:
    """``docs/img/playground.png``, palette-reduced so the repository stays small."""
    from PIL import Image

    target = REPO / "docs" / "img" / "playground.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(shot) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)


def _player(page: Any, expression: str) -> Any:
    return page.evaluate(f"(() => {{ const v = document.getElementById('player'); return {expression}; }})()")


def test_upload_pick_second_4_extend_watch_progress_play_lineage(
    browser: Any, server: ServerProcess, playground_key: str, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "beach.mp4", seconds=6, width=640, height=360)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.base_url}/playground")

    # Paste the key; it is kept for the next visit.
    page.get_by_label("API key").fill(playground_key)
    page.get_by_role("button", name="Save key").click()
    assert page.evaluate("localStorage.getItem('videoloom.apiKey')") == playground_key

    # Upload a file.
    page.get_by_label("Upload a video (MP4, MOV or WebM)").set_input_files(clip)
    page.get_by_role("button", name="Upload", exact=True).click()
    card = page.locator("#gallery .card").first
    card.wait_for()
    source_id = card.get_attribute("data-id")
    assert source_id and source_id.startswith("grok:")
    # Its thumbnail loads from the signed thumbnail_url (a redirect to the bucket on S3 storage).
    page.wait_for_function(
        "(() => { const img = document.querySelector('#gallery .card img');"
        " return img && img.complete && img.naturalWidth > 0; })()"
    )

    # Select it in the gallery; the player loads it through its signed URL.
    card.click()
    page.locator(".stage[aria-busy='false']").wait_for()
    page.wait_for_function("document.getElementById('player').duration > 5")
    assert card.get_attribute("aria-current") == "true"

    # Pick second 4 on the timeline with the keyboard: the player follows.
    timeline = page.get_by_label(re.compile("Extend from second"))
    timeline.focus()
    page.keyboard.press("Home")
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    assert page.locator("#timeline-value").inner_text() == "4"
    page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 4) < 0.1")
    assert page.get_by_role("button", name="Extend from 4 s").is_enabled()

    page.get_by_label("Prompt for the new part").fill("zoom in slowly")
    page.get_by_label("New seconds").fill("2")

    # Live progress: the panel appears with a percentage, then reports completion.
    progress = page.locator("#progress-text")
    assert progress.get_attribute("aria-live") == "polite"
    seen: list[str] = []
    page.expose_function("reportProgress", lambda text: seen.append(text))
    page.evaluate(
        """(() => {
             const text = document.getElementById('progress-text');
             new MutationObserver(() => window.reportProgress(text.textContent))
               .observe(text, {childList: true, characterData: true, subtree: true});
           })()"""
    )
    page.get_by_role("button", name="Extend from 4 s").click()
    page.wait_for_function(
        "/^Extending grok:\\S+: completed/.test(document.getElementById('progress-text').textContent)",
        timeout=180_000,
    )
    assert any(re.fullmatch(r"Extending grok:\S+: \d+% \(\w+\)\.", text) for text in seen), seen
    result_id = re.search(r"Extending (grok:\S+):", progress.inner_text()).group(1)  # type: ignore[union-attr]
    assert result_id != source_id

    # The result is selected and plays: 4 s kept + 2 s new.
    page.wait_for_function(f"document.getElementById('selected-info').textContent.startsWith({result_id!r})")
    page.wait_for_function("document.getElementById('player').duration > 5.5")
    assert _player(page, "v.duration") == pytest.approx(6, abs=0.1)
    _player(page, "(v.currentTime = 0, v.play(), true)")
    page.wait_for_function("document.getElementById('player').currentTime > 1", timeout=30_000)
    assert _player(page, "v.error") is None

    # Lineage: the source, then the result (the current step).
    items = page.locator("#lineage li")
    assert items.count() == 2
    assert source_id in items.nth(0).inner_text()
    assert result_id in items.nth(1).inner_text()
    assert items.nth(1).get_attribute("aria-current") == "step"
    assert "from 4 s" in items.nth(1).inner_text() and "zoom in slowly" in items.nth(1).inner_text()

    # The screenshot: the result paused at its cut (the timeline moves the player there),
    # the timeline focused, the lineage below.
    page.locator("#timeline").focus()
    page.keyboard.press("Home")
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "Math.abs(document.getElementById('player').currentTime - 4) < 0.1 "
        "&& document.getElementById('player').readyState >= 2"
    )
    shot = tmp_path / "playground.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("VIDEOLOOM_UPDATE_SCREENSHOT") == "1":
        _save_docs_screenshot(shot)

    # Download: the file is the result, whole.
    link = page.get_by_role("link", name="Download MP4")
    saved = tmp_path / "download.mp4"
    # Saved, not opened, on a bucket deployment too (whose video links redirect to the bucket).
    with page.expect_download() as download_info:
        link.click()
    download_info.value.save_as(saved)
    frames, _ = decode_all(saved)
    assert abs(len(frames) - 6 * 24) <= 1

    assert errors == []
    page.close()


def test_phone_viewport_and_keyboard(
    browser: Any, server: ServerProcess, playground_key: str, tmp_path: Path
) -> None:
    page = browser.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server.base_url}/playground/")
    page.evaluate("key => localStorage.setItem('videoloom.apiKey', key)", playground_key)
    page.reload()

    # No sideways scrolling; the main controls are on screen-width.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for name in ("API key", "Upload a video (MP4, MOV or WebM)", "Prompt for the new part"):
        box = page.get_by_label(name).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, name

    # Every form control has a label.
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input, select, textarea')]
             .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))
             .map(e => e.id)"""
    )
    assert unlabelled == []

    # The first Tab reaches the skip link; a gallery card works from the keyboard.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    card = page.locator("#gallery .card").first
    card.wait_for()
    card.focus()
    page.keyboard.press("Enter")
    page.locator(".stage[aria-busy='false']").wait_for()
    page.wait_for_function("document.getElementById('player').duration > 0")
    page.screenshot(path=str(tmp_path / "playground-phone.png"), full_page=True)
    page.close()
