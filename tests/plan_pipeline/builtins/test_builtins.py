"""Built-in capabilities compute the right figures (called through the same hooks)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from plan_pipeline.registry import CapabilityRegistry


def _run(capability: str, inputs: dict[str, Any]) -> dict[str, Any]:
    loaded = CapabilityRegistry().load(capability)
    jsonschema.validate(inputs, loaded.input_schema)
    output = loaded.run(inputs, {"run_id": "t", "stage": "t", "capability": capability})
    jsonschema.validate(output, loaded.output_schema)
    return dict(output)


def _task(tid: str, days: int, after: list[str] | None = None, cost: float = 0) -> dict[str, Any]:
    return {"id": tid, "name": tid, "days": days, "cost": cost, "after": after or []}


def test_critical_path_and_slack() -> None:
    # A(3) -> B(4) -> D(2); A -> C(1) -> D: C has 3 days of slack
    tasks = [_task("A", 3), _task("B", 4, ["A"]), _task("C", 1, ["A"]), _task("D", 2, ["B", "C"])]
    out = _run("schedule.critical_path", {"wbs": {"tasks": tasks}, "start_date": "2027-01-01"})
    assert out["duration_days"] == 9
    assert out["finish_date"] == "2027-01-10"
    assert out["critical_path"] == ["A", "B", "D"]
    slack = {t["id"]: t["slack_days"] for t in out["tasks"]}
    assert slack == {"A": 0, "B": 0, "C": 3, "D": 0}


def test_schedule_rejects_a_task_cycle() -> None:
    tasks = [_task("A", 1, ["B"]), _task("B", 1, ["A"])]
    with pytest.raises(ValueError, match="cycle through A, B"):
        _run("schedule.critical_path", {"wbs": {"tasks": tasks}, "start_date": "2027-01-01"})


def test_wbs_numbers_tasks_and_checks_references() -> None:
    brief = {
        "workstreams": [
            {"id": "w1", "name": "One", "tasks": [_task("A", 1), _task("B", 1, ["A"])]},
            {"id": "w2", "name": "Two", "tasks": [_task("C", 1, ["B"])]},
        ]
    }
    out = _run("wbs.build", {"brief": brief})
    assert [t["code"] for t in out["tasks"]] == ["1.1", "1.2", "2.1"]
    brief["workstreams"][1]["tasks"][0]["after"] = ["Z"]
    with pytest.raises(ValueError, match="unknown task 'Z'"):
        _run("wbs.build", {"brief": brief})


def test_budget_rollup() -> None:
    wbs = {
        "tasks": [_task("A", 1, cost=300), _task("B", 1, cost=100), _task("C", 1, cost=600)],
        "workstreams": [
            {"id": "w1", "name": "One", "task_ids": ["A", "B"]},
            {"id": "w2", "name": "Two", "task_ids": ["C"]},
        ],
    }
    out = _run("budget.rollup", {"wbs": wbs, "budget_cap": 1050, "contingency_pct": 10})
    assert out["subtotal"] == 1000
    assert out["contingency"] == 100
    assert out["total"] == 1100
    assert out["within_cap"] is False
    assert out["headroom"] == -50
    assert [w["share_pct"] for w in out["by_workstream"]] == [40.0, 60.0]


def test_report_renders_known_and_unknown_sections() -> None:
    out = _run(
        "report.markdown",
        {
            "brief": {"project": "P", "location": "L", "start_date": "2027-01-01"},
            "risks": {
                "risks": [
                    {
                        "id": "R1",
                        "title": "t",
                        "likelihood": 2,
                        "impact": 3,
                        "score": 6,
                        "level": "low",
                    }
                ]
            },
            "carbon": {"tonnes": 12},
        },
    )
    assert out["markdown"].startswith("# P\n")
    assert "| R1 | t | 2 | 3 | 6 | low |" in out["markdown"]
    assert '"tonnes": 12' in out["markdown"]
    assert out["sections"] == ["Risks", "Carbon"]
