"""Property inputs from the magnitudes plans live in: a correct plugin over numbers a spec
leaves unbounded (litres, money, costs with only ``minimum: 0``) passes the gate, and one that
really overflows on the inputs its spec allows fails with a finding about the spec that names
the field and the bound to add."""

from __future__ import annotations

import random
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
    assert "2 number(s) the spec leaves unbounded drawn within ±1e+09" in gate.summary


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
