"""Shifts and quiet hours are one kind of thing: a daily window "HH:MM-HH:MM", read once."""

from __future__ import annotations

from datetime import time

import pytest

from services.notify.roster import in_window, parse_window


def test_a_window_is_read_with_spaces_and_past_midnight() -> None:
    assert parse_window("22:00 - 07:30") == (time(22), time(7, 30))


@pytest.mark.parametrize("text", ["07:00", "7-8", "25:00-07:00", ""])
def test_what_is_not_a_window_is_a_clear_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_window(text)


@pytest.mark.parametrize(
    ("window", "at", "inside"),
    [
        ("08:00-16:00", time(8), True),
        ("08:00-16:00", time(16), False),
        ("22:00-07:00", time(23, 59), True),
        ("22:00-07:00", time(6, 59), True),
        ("22:00-07:00", time(12), False),
        ("00:00-00:00", time(12), True),  # round the clock
    ],
)
def test_inside_a_window(window: str, at: time, inside: bool) -> None:
    assert in_window(*parse_window(window), at) is inside
