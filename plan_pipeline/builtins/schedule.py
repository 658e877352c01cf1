"""``schedule.critical_path``: earliest/latest dates, slack and the critical path (CPM)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from plan_pipeline.builtins._hooks import capability_hooks

CAPABILITY = "schedule.critical_path"

DESCRIPTION: dict[str, Any] = {
    "summary": "Schedule tasks with finish-to-start dependencies and find the critical path.",
    "input_schema": {
        "type": "object",
        "required": ["wbs", "start_date"],
        "properties": {
            "wbs": {"type": "object", "required": ["tasks"]},
            "start_date": {"type": "string", "format": "date"},
        },
    },
    "output_schema": {
        "type": "object",
        "required": ["tasks", "duration_days", "finish_date", "critical_path"],
        "properties": {
            "duration_days": {"type": "integer", "minimum": 0},
            "start_date": {"type": "string"},
            "finish_date": {"type": "string"},
            "critical_path": {"type": "array", "items": {"type": "string"}},
            "tasks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "start_day", "finish_day", "slack_days", "critical"],
                },
            },
        },
    },
}


def _topological(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id = {t["id"]: t for t in tasks}
    waiting = {t["id"]: set(t["after"]) for t in tasks}
    order: list[dict[str, Any]] = []
    ready = [t["id"] for t in tasks if not waiting[t["id"]]]
    while ready:
        current = ready.pop(0)
        order.append(by_id[current])
        for other in tasks:
            deps = waiting[other["id"]]
            if current in deps:
                deps.discard(current)
                if not deps:
                    ready.append(other["id"])
    if len(order) != len(tasks):
        stuck = sorted(i for i, deps in waiting.items() if deps)
        raise ValueError(f"task dependencies form a cycle through {', '.join(stuck)}")
    return order


def compute(inputs: dict[str, Any]) -> dict[str, Any]:
    tasks = inputs["wbs"]["tasks"]
    order = _topological(tasks)
    early: dict[str, tuple[int, int]] = {}
    for task in order:
        start = max((early[a][1] for a in task["after"]), default=0)
        early[task["id"]] = (start, start + task["days"])
    duration = max((f for _, f in early.values()), default=0)
    late: dict[str, tuple[int, int]] = {}
    successors: dict[str, list[str]] = {t["id"]: [] for t in tasks}
    for task in tasks:
        for before in task["after"]:
            successors[before].append(task["id"])
    for task in reversed(order):
        finish = min((late[s][0] for s in successors[task["id"]]), default=duration)
        late[task["id"]] = (finish - task["days"], finish)
    start_date = date.fromisoformat(inputs["start_date"])
    rows = []
    for task in order:
        es, ef = early[task["id"]]
        slack = late[task["id"]][0] - es
        rows.append(
            {
                "id": task["id"],
                "name": task.get("name", task["id"]),
                "start_day": es,
                "finish_day": ef,
                "start_date": (start_date + timedelta(days=es)).isoformat(),
                "finish_date": (start_date + timedelta(days=ef)).isoformat(),
                "slack_days": slack,
                "critical": slack == 0,
            }
        )
    return {
        "start_date": start_date.isoformat(),
        "duration_days": duration,
        "finish_date": (start_date + timedelta(days=duration)).isoformat(),
        "critical_path": [r["id"] for r in rows if r["critical"]],
        "tasks": rows,
    }


planexe_describe, planexe_run = capability_hooks(CAPABILITY, DESCRIPTION, compute)
