"""Signed content URLs: what verifies and what does not (never an exception)."""

from __future__ import annotations

import pytest

from videoloom.core.signing import RELAY_INPUT, sign_content, verify_content

SECRET = b"s" * 32
TASK = "grok:00000000-0000-4000-8000-000000000001"


def test_a_signature_verifies_for_its_task_variant_and_time_only() -> None:
    signature = sign_content(SECRET, TASK, "video", 1_000)
    assert verify_content(SECRET, TASK, "video", 1_000, signature, now=999)
    assert not verify_content(SECRET, TASK, "video", 1_000, signature, now=1_001)  # expired
    assert not verify_content(SECRET, TASK, "thumbnail", 1_000, signature, now=0)
    assert not verify_content(SECRET, TASK, RELAY_INPUT, 1_000, signature, now=0)
    assert not verify_content(SECRET, TASK, "video", 1_060, signature, now=0)  # expiry moved
    assert not verify_content(b"t" * 32, TASK, "video", 1_000, signature, now=0)


@pytest.mark.parametrize("forged", ["", "abc", "\x1c\xf1\xb8\x8f\x91", "é" * 64, "\ud800", "0" * 10_000])
def test_forged_signatures_are_refused_not_crashed_on(forged: str) -> None:
    assert verify_content(SECRET, TASK, "video", 277815667435247, forged, now=0) is False
