"""Values shown to people and to models in findings: whole when they fit, else shortened in
a way that says so, never cut in the middle of a value.

A repair round of the LLM backend needs the failing input and both the expected and the
actual output; a finding cut at a fixed length lost the "got" half. Here each value is
bounded on its own: long lists keep their first items and say how many more there are, long
strings their start and how many characters more, and the result is still JSON.
"""

from __future__ import annotations

import json
from typing import Any

SHOWN_CHARS = 1500
"""The longest a value is shown, in characters of its JSON."""
_STEPS = ((20, 300), (8, 120), (3, 60), (1, 30))
"""Items of a list (and keys of an object) and characters of a string kept, tried in turn."""


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """``value`` as JSON, at most about ``limit`` characters, shortened as it says."""
    text = _json(value)
    if len(text) <= limit:
        return text
    for items, chars in _STEPS:
        text = _json(_shortened(value, items, chars))
        if len(text) <= limit:
            return text
    return f"(a value of {len(_json(value)):,} characters, too deep to show)"


def _shortened(value: Any, items: int, chars: int) -> Any:
    if isinstance(value, list):
        kept: list[Any] = [_shortened(v, items, chars) for v in value[:items]]
        if len(value) > items:
            kept.append(f"... {len(value) - items} more items")
        return kept
    if isinstance(value, dict):
        keys = list(value)
        short = {str(k): _shortened(value[k], items, chars) for k in keys[: items * 2]}
        if len(keys) > items * 2:
            short["..."] = f"{len(keys) - items * 2} more keys"
        return short
    if isinstance(value, str) and len(value) > chars:
        return f"{value[:chars]}... ({len(value) - chars} more characters)"
    return value


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=repr)
