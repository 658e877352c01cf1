"""Values in findings: whole when they fit, else shortened as JSON that says what it left out,
never cut in the middle of a value."""

from __future__ import annotations

import json

from synthesizer.shown_values import shown


def test_a_value_that_fits_is_shown_whole() -> None:
    value = {"risks": [{"id": "A", "score": 20, "level": "high"}], "high_count": 1}
    assert json.loads(shown(value)) == value


def test_a_long_list_keeps_its_first_items_and_says_how_many_more() -> None:
    value = {"rows": [{"n": n, "text": "x" * 40} for n in range(500)], "total": 500}
    text = shown(value, limit=1500)
    assert len(text) <= 1500
    kept = json.loads(text)  # still JSON: nothing cut in the middle
    assert kept["total"] == 500 and kept["rows"][0] == {"n": 0, "text": "x" * 40}
    assert kept["rows"][-1].endswith("more items")


def test_a_long_string_keeps_its_start_and_says_how_many_characters_more() -> None:
    text = shown({"note": "y" * 10_000}, limit=500)
    kept = json.loads(text)
    assert kept["note"].startswith("y" * 30) and kept["note"].endswith("more characters)")


def test_a_value_too_deep_to_shorten_says_so_instead_of_a_broken_half() -> None:
    deep: object = "leaf"
    for _ in range(400):
        deep = [deep]
    text = shown(deep, limit=100)
    assert text.startswith("(a value of ") and text.endswith("too deep to show)")
