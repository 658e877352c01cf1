"""``report.markdown``: the plan as one readable markdown document.

Known inputs (brief, schedule, budget, solar, risks) get their own sections; any other input is
shown as a JSON block so that a new stage's output still reaches the report.
"""

from __future__ import annotations

import json
from typing import Any

from plan_pipeline.builtins._hooks import capability_hooks

CAPABILITY = "report.markdown"

DESCRIPTION: dict[str, Any] = {
    "summary": "Write the plan as a markdown report from every upstream output.",
    "input_schema": {
        "type": "object",
        "required": ["brief"],
        "properties": {
            "brief": {"type": "object", "required": ["project"]},
            "schedule": {"type": "object"},
            "budget": {"type": "object"},
            "solar": {"type": "object"},
            "risks": {"type": "object"},
        },
        "additionalProperties": {"type": "object"},
    },
    "output_schema": {
        "type": "object",
        "required": ["markdown", "sections"],
        "properties": {
            "markdown": {"type": "string", "minLength": 1},
            "sections": {"type": "array", "items": {"type": "string"}},
        },
    },
}


def _money(value: float, currency: str) -> str:
    return f"{value:,.0f} {currency}"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _schedule(s: dict[str, Any]) -> list[str]:
    rows = [
        [
            t["id"],
            t.get("name", ""),
            t.get("start_date", ""),
            t.get("finish_date", ""),
            t["slack_days"],
            "yes" if t["critical"] else "",
        ]
        for t in s["tasks"]
    ]
    return [
        f"{s['duration_days']} days, from {s.get('start_date', '?')} to {s['finish_date']}. "
        f"Critical path: {' -> '.join(s['critical_path'])}.",
        "",
        *_table(["Task", "Name", "Start", "Finish", "Slack (days)", "Critical"], rows),
    ]


def _budget(b: dict[str, Any]) -> list[str]:
    cur = b.get("currency", "USD")
    rows = [[w["name"], _money(w["cost"], cur), f"{w['share_pct']}%"] for w in b["by_workstream"]]
    verdict = "within" if b["within_cap"] else "OVER"
    return [
        *_table(["Workstream", "Cost", "Share"], rows),
        "",
        f"Subtotal {_money(b['subtotal'], cur)}, contingency {_money(b['contingency'], cur)}, "
        f"total **{_money(b['total'], cur)}**: {verdict} the cap of "
        f"{_money(b.get('budget_cap', 0), cur)}.",
    ]


def _solar(s: dict[str, Any]) -> list[str]:
    rows = [
        [a.get("name", "?"), a.get("capacity_kw", "?"), f"{a.get('annual_kwh', 0):,.0f}"]
        for a in s.get("arrays", [])
    ]
    lines = _table(["Array", "Capacity (kW)", "Yield (kWh/yr)"], rows)
    if "total_annual_kwh" in s:
        lines += [
            "",
            f"Total yield {s['total_annual_kwh']:,.0f} kWh/yr"
            + (f", {s['demand_coverage_pct']}% of demand." if "demand_coverage_pct" in s else "."),
        ]
    return lines


def _risks(r: dict[str, Any]) -> list[str]:
    items = sorted(r.get("risks", []), key=lambda x: -x.get("score", 0))
    rows = [
        [
            x.get("id", ""),
            x.get("title", ""),
            x.get("likelihood", ""),
            x.get("impact", ""),
            x.get("score", ""),
            x.get("level", ""),
        ]
        for x in items
    ]
    return _table(["Risk", "Title", "Likelihood", "Impact", "Score", "Level"], rows)


_SECTIONS = {
    "schedule": ("Schedule", _schedule),
    "budget": ("Budget", _budget),
    "solar": ("Energy yield", _solar),
    "risks": ("Risks", _risks),
}


def compute(inputs: dict[str, Any]) -> dict[str, Any]:
    brief = inputs["brief"]
    lines = [f"# {brief['project']}", ""]
    if brief.get("location"):
        lines += [f"Location: {brief['location']}. Start: {brief.get('start_date', '?')}.", ""]
    sections = []
    for key, value in inputs.items():
        if key == "brief":
            continue
        title, render = _SECTIONS.get(key, (key.replace("_", " ").title(), None))
        sections.append(title)
        lines += [f"## {title}", ""]
        if render is not None:
            lines += render(value)
        else:
            lines += ["```json", json.dumps(value, indent=2), "```"]
        lines.append("")
    return {"markdown": "\n".join(lines).rstrip() + "\n", "sections": sections}


planexe_describe, planexe_run = capability_hooks(CAPABILITY, DESCRIPTION, compute)
