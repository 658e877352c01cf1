"""``brief.load``: check a project brief and normalize it for the later stages."""

from __future__ import annotations

from typing import Any

from plan_pipeline.builtins._hooks import capability_hooks

CAPABILITY = "brief.load"

_TASK = {
    "type": "object",
    "required": ["id", "name", "days", "cost"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "name": {"type": "string"},
        "days": {"type": "integer", "minimum": 0},
        "cost": {"type": "number", "minimum": 0},
        "after": {"type": "array", "items": {"type": "string"}},
    },
}
_BRIEF = {
    "type": "object",
    "required": ["project", "start_date", "budget_cap", "workstreams"],
    "properties": {
        "project": {"type": "string", "minLength": 1},
        "location": {"type": "string"},
        "start_date": {"type": "string", "format": "date"},
        "currency": {"type": "string"},
        "budget_cap": {"type": "number", "minimum": 0},
        "contingency_pct": {"type": "number", "minimum": 0, "maximum": 100},
        "workstreams": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "name", "tasks"],
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "tasks": {"type": "array", "minItems": 1, "items": _TASK},
                },
            },
        },
    },
}

DESCRIPTION: dict[str, Any] = {
    "summary": "Check a project brief and fill in defaults (currency, contingency).",
    "input_schema": {"type": "object", "required": ["brief"], "properties": {"brief": _BRIEF}},
    "output_schema": _BRIEF,
}


def compute(inputs: dict[str, Any]) -> dict[str, Any]:
    brief = dict(inputs["brief"])
    brief.setdefault("currency", "USD")
    brief.setdefault("contingency_pct", 10)
    ids = [t["id"] for ws in brief["workstreams"] for t in ws["tasks"]]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"task id {duplicates[0]!r} appears more than once in the brief")
    return brief


planexe_describe, planexe_run = capability_hooks(CAPABILITY, DESCRIPTION, compute)
