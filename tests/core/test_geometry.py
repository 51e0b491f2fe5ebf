from __future__ import annotations

from fractions import Fraction

import pytest

from videoloom.core.errors import InvalidRequest
from videoloom.core.geometry import SIZES, output_size, parse_aspect_ratio, parse_size
from videoloom.core.ids import is_task_id, new_task_id
from videoloom.core.tasks import ALLOWED_TRANSITIONS, TaskStatus, sources_of


@pytest.mark.parametrize(
    ("size", "aspect", "expected"),
    [
        ("720P", "16:9", (1280, 720)),
        ("1080P", "16:9", (1920, 1080)),
        ("720P", "9:16", (720, 1280)),
        ("720P", "1:1", (720, 720)),
        ("720P", "4:3", (960, 720)),
        ("1080P", "3:4", (1080, 1440)),
        ("1080P", "3:2", (1620, 1080)),
        ("720P", "2:3", (720, 1080)),
    ],
)
def test_output_sizes(size: str, aspect: str, expected: tuple[int, int]) -> None:
    assert output_size(SIZES[parse_size(size)], parse_aspect_ratio(aspect)) == expected


def test_odd_source_aspects_round_to_even() -> None:
    width, height = output_size(720, Fraction(853, 480))
    assert height == 720 and width % 2 == 0 and abs(width - 1279.5) <= 1.5


def test_size_is_case_insensitive_and_validated() -> None:
    assert parse_size("1080p") == "1080P"
    with pytest.raises(InvalidRequest) as info:
        parse_size("480P")
    assert info.value.param == "size"
    with pytest.raises(InvalidRequest):
        parse_aspect_ratio("16/9")


def test_ids_look_like_the_seeds() -> None:
    task_id = new_task_id("grok")
    assert task_id.startswith("grok:") and is_task_id(task_id)
    assert not is_task_id("grok:not-a-uuid")
    with pytest.raises(ValueError):
        new_task_id("Bad Family")


def test_state_machine() -> None:
    assert sources_of(TaskStatus.COMPLETED) == {TaskStatus.PROCESSING}
    assert TaskStatus.QUEUED in sources_of(TaskStatus.PROCESSING)
    for terminal in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED):
        assert ALLOWED_TRANSITIONS[terminal] == frozenset()
