"""``budget.rollup``: cost per workstream, contingency, total against the budget cap."""

from __future__ import annotations

from typing import Any

from plan_pipeline.builtins._hooks import capability_hooks

CAPABILITY = "budget.rollup"

DESCRIPTION: dict[str, Any] = {
    "summary": "Roll task costs up by workstream, add contingency, compare with the cap.",
    "input_schema": {
        "type": "object",
        "required": ["wbs", "budget_cap", "contingency_pct"],
        "properties": {
            "wbs": {"type": "object", "required": ["tasks", "workstreams"]},
            "budget_cap": {"type": "number", "minimum": 0},
            "contingency_pct": {"type": "number", "minimum": 0, "maximum": 100},
            "currency": {"type": "string"},
        },
    },
    "output_schema": {
        "type": "object",
        "required": ["by_workstream", "subtotal", "contingency", "total", "within_cap"],
        "properties": {
            "by_workstream": {
                "type": "array",
                "items": {"type": "object", "required": ["id", "name", "cost", "share_pct"]},
            },
            "subtotal": {"type": "number"},
            "contingency": {"type": "number"},
            "total": {"type": "number"},
            "budget_cap": {"type": "number"},
            "headroom": {"type": "number"},
            "within_cap": {"type": "boolean"},
            "currency": {"type": "string"},
        },
    },
}


def compute(inputs: dict[str, Any]) -> dict[str, Any]:
    wbs = inputs["wbs"]
    cost_of = {t["id"]: float(t["cost"]) for t in wbs["tasks"]}
    subtotal = round(sum(cost_of.values()), 2)
    rows = []
    for ws in wbs["workstreams"]:
        cost = round(sum(cost_of[i] for i in ws["task_ids"]), 2)
        share = round(100 * cost / subtotal, 1) if subtotal else 0.0
        rows.append({"id": ws["id"], "name": ws["name"], "cost": cost, "share_pct": share})
    contingency = round(subtotal * float(inputs["contingency_pct"]) / 100, 2)
    total = round(subtotal + contingency, 2)
    cap = float(inputs["budget_cap"])
    return {
        "currency": inputs.get("currency", "USD"),
        "by_workstream": rows,
        "subtotal": subtotal,
        "contingency": contingency,
        "total": total,
        "budget_cap": cap,
        "headroom": round(cap - total, 2),
        "within_cap": total <= cap,
    }


planexe_describe, planexe_run = capability_hooks(CAPABILITY, DESCRIPTION, compute)
