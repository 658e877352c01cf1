"""``wbs.build``: a flat work breakdown structure from the brief's workstreams."""

from __future__ import annotations

from typing import Any

from plan_pipeline.builtins._hooks import capability_hooks

CAPABILITY = "wbs.build"

WBS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["tasks", "workstreams", "task_count"],
    "properties": {
        "task_count": {"type": "integer", "minimum": 1},
        "workstreams": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "name", "task_ids"],
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "task_ids": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "tasks": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "code", "name", "workstream", "days", "cost", "after"],
                "properties": {
                    "id": {"type": "string"},
                    "code": {"type": "string"},
                    "name": {"type": "string"},
                    "workstream": {"type": "string"},
                    "days": {"type": "integer", "minimum": 0},
                    "cost": {"type": "number", "minimum": 0},
                    "after": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}

DESCRIPTION: dict[str, Any] = {
    "summary": "Number every task (1.1, 1.2, ...) and check task dependencies.",
    "input_schema": {
        "type": "object",
        "required": ["brief"],
        "properties": {"brief": {"type": "object", "required": ["workstreams"]}},
    },
    "output_schema": WBS_SCHEMA,
}


def compute(inputs: dict[str, Any]) -> dict[str, Any]:
    tasks: list[dict[str, Any]] = []
    workstreams: list[dict[str, Any]] = []
    for ws_index, ws in enumerate(inputs["brief"]["workstreams"], start=1):
        ids = []
        for task_index, task in enumerate(ws["tasks"], start=1):
            tasks.append(
                {
                    "id": task["id"],
                    "code": f"{ws_index}.{task_index}",
                    "name": task["name"],
                    "workstream": ws["id"],
                    "days": task["days"],
                    "cost": task["cost"],
                    "after": list(task.get("after", [])),
                }
            )
            ids.append(task["id"])
        workstreams.append({"id": ws["id"], "name": ws["name"], "task_ids": ids})
    known = {t["id"] for t in tasks}
    for task in tasks:
        unknown = [a for a in task["after"] if a not in known]
        if unknown:
            raise ValueError(f"task {task['id']!r} comes after unknown task {unknown[0]!r}")
    return {"tasks": tasks, "workstreams": workstreams, "task_count": len(tasks)}


planexe_describe, planexe_run = capability_hooks(CAPABILITY, DESCRIPTION, compute)
