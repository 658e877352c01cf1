"""Property inputs from the magnitudes plans live in: a correct plugin over numbers a spec
leaves unbounded (litres, money, costs with only ``minimum: 0``) passes the gate, and one that
really overflows on the inputs its spec allows fails with a finding about the spec that names
the field and the bound to add."""

from __future__ import annotations

import copy
import random
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from plan_pipeline.spec import PluginSpec
from synthesizer import contract_tests
from synthesizer.errors import GateFailedError
from synthesizer.plan_magnitudes import (
    PLAN_MAGNITUDE,
    PLAN_RESOLUTION,
    largest_number,
    within_plan_magnitudes,
)
from synthesizer.synthesize import SynthesisOptions, synthesize_plugin
from tests.synthesizer.corpus import HARDER_SPECS, load_corpus

FAST = SynthesisOptions(property_examples=25)


def test_unbounded_numbers_get_a_plans_bound_and_stated_bounds_are_kept() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "litres": {"type": "number", "minimum": 0},
            "rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "cost": {"type": ["number", "null"]},
                        "share": {"type": "number", "minimum": 0, "maximum": 1},
                        "big": {"type": "number", "exclusiveMaximum": 1e300},
                    },
                },
            },
            "pick": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        },
    }
    bounded, paths = within_plan_magnitudes(schema)
    rows = bounded["properties"]["rows"]["items"]["properties"]
    step = {"multipleOf": PLAN_RESOLUTION}
    assert bounded["properties"]["litres"] == {
        "type": "number", "minimum": 0, "maximum": PLAN_MAGNITUDE, **step
    }  # fmt: skip
    assert rows["cost"]["maximum"] == PLAN_MAGNITUDE and rows["cost"]["minimum"] == -1e9
    assert rows["share"] == {"type": "number", "minimum": 0, "maximum": 1, **step}
    assert rows["big"] == {"type": "number", "exclusiveMaximum": 1e300, "minimum": -1e9, **step}
    assert "multipleOf" not in bounded["properties"]["pick"]["anyOf"][0]  # an integer
    assert bounded["properties"]["pick"]["anyOf"][0]["maximum"] == PLAN_MAGNITUDE
    assert paths == ["$.litres", "$.rows[*].cost", "$.rows[*].big", "$.pick"]
    assert "maximum" not in schema["properties"]["litres"]  # the spec itself is untouched
    assert largest_number({"a": [1, -5e9], "b": {"c": 2}}) == ("$.a[1]", -5e9)


def _product_spec(maximum: float | None) -> PluginSpec:
    """Fuel cost; with ``maximum`` the spec asks for litres up to it (in half litres)."""
    litres: dict[str, Any] = {"type": "number", "minimum": 0}
    if maximum is not None:
        litres |= {"maximum": maximum, "multipleOf": 0.5}
    return PluginSpec.model_validate(
        {
            "capability": "fuel.cost",
            "stage_name": "fuel",
            "version": "1.0.0",
            "summary": "What the fuel costs.",
            "input_schema": {
                "type": "object",
                "required": ["litres", "price"],
                "properties": {"litres": litres, "price": {"type": "number", "minimum": 0}},
            },
            "output_schema": {
                "type": "object",
                "required": ["cost"],
                "properties": {"cost": {"type": "number", "minimum": 0}},
            },
            "rules": [{"set": "cost", "expr": "input.litres * input.litres * input.price"}],
            "examples": [{"input": {"litres": 2, "price": 1.5}, "output": {"cost": 6.0}}],
        }
    )


def test_a_correct_plugin_over_unbounded_amounts_passes(tmp_path: Path) -> None:
    result = synthesize_plugin(_product_spec(None), tmp_path, FAST)
    gate = {g.name: g for g in result.report.gates}["contract_tests"]
    assert gate.passed
    assert "2 number(s) or date(s) the spec leaves unbounded drawn within ±1e+09" in gate.summary


def test_a_plugin_that_overflows_on_what_its_spec_allows_names_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a gate draws its seed from the operating system; this one is fixed to a seed whose 25
    # draws reach the litres at which the product overflows
    monkeypatch.setattr(contract_tests, "_RANDOM", random.Random(0))
    with pytest.raises(GateFailedError) as failed:
        synthesize_plugin(_product_spec(1e300), tmp_path, FAST)
    gate = {g.name: g for g in failed.value.report.gates}["contract_tests"]
    (finding,) = gate.findings
    assert finding.rule == "spec"
    assert "overflowed to a number JSON cannot carry" in finding.message
    assert "$.litres = " in finding.message and "'maximum'" in finding.message


def test_dates_are_drawn_in_the_years_plans_live_in_and_only_real_ones() -> None:
    schema = {"type": "object", "properties": {"start": {"type": "string", "format": "date"}}}
    bounded, paths = within_plan_magnitudes(schema)
    pattern = re.compile(bounded["properties"]["start"]["pattern"])
    assert paths == ["$.start"] and "format" not in bounded["properties"]["start"]
    day, matched = date(2023, 1, 1), 0
    while day.year == 2023:
        matched += bool(pattern.fullmatch(day.isoformat()))
        day += timedelta(days=1)
    assert matched == 365
    assert pattern.fullmatch("2024-02-28") and not pattern.fullmatch("2024-02-29")
    for wrong in ("2023-02-30", "2023-04-31", "2023-13-01", "2023-00-10", "9999-12-31",
                  "1899-12-31", "2200-01-01", "2023-1-01"):  # fmt: skip
        assert not pattern.fullmatch(wrong), wrong
    own = {"type": "string", "format": "date", "pattern": "^20"}
    assert within_plan_magnitudes({"properties": {"d": own}})[0]["properties"]["d"] == own


def test_a_date_past_the_calendar_on_an_unbounded_duration_is_a_finding_about_the_spec(
    tmp_path: Path,
) -> None:
    """Tasks one after another from a start date: with durations of any size, some input the
    schema allows has no finish date (past 9999-12-31); the finding names the field and the
    bound to add. With the bound, the same spec synthesizes."""
    _, bounded = load_corpus(HARDER_SPECS)["schedule.sequential_task_dates"]
    schema = copy.deepcopy(bounded.input_schema)
    del schema["properties"]["tasks"]["items"]["properties"]["duration_days"]["maximum"]
    unbounded = bounded.model_copy(update={"input_schema": schema})
    with pytest.raises(GateFailedError) as failed:
        synthesize_plugin(unbounded, tmp_path / "unbounded", FAST)
    gate = {g.name: g for g in failed.value.report.gates}["contract_tests"]
    (finding,) = gate.findings
    assert finding.rule == "spec"
    assert "overflowed to a date outside the years 1 to 9999" in finding.message
    assert "duration_days = " in finding.message and "'maximum'" in finding.message
    result = synthesize_plugin(bounded, tmp_path / "bounded", FAST)
    assert {g.name: g for g in result.report.gates}["contract_tests"].passed
