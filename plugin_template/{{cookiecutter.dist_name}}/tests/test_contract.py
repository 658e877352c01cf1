"""Contract tests of '{{ cookiecutter.capability }}': golden examples and property tests.

Every output, for the spec's examples and for inputs generated from the input schema, must
validate against the output schema and satisfy every constraint of the spec.
"""

from __future__ import annotations

import copy
import math
import os
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis_jsonschema import from_schema

from {{ cookiecutter.module_name }} import CAPABILITY, planexe_describe, planexe_run
from {{ cookiecutter.module_name }}.spec import SPEC

{%- if cookiecutter._generated %}


def bounded_range(*bounds: int) -> range:
    """What ``range`` in a constraint means: at most {{ cookiecutter._max_range }} numbers."""
    numbers = range(*bounds)
    assert len(numbers) <= {{ cookiecutter._max_range }}, f"range of {len(numbers)} numbers"
    return numbers
{{ cookiecutter._date_functions }}


# (constraint as written in the spec, the same check in Python)
CONSTRAINTS: list[tuple[str, Any]] = [
{{ cookiecutter._constraints }}
]
{%- else %}
# (constraint as written in the spec, the same check in Python)
CONSTRAINTS: list[tuple[str, Any]] = [
    ("output.area >= 0", lambda input, output: output["area"] >= 0),
]
{%- endif %}
PROPERTY_EXAMPLES = int(os.environ.get("PLANEXE_PROPERTY_EXAMPLES", "50"))


def _run(inputs: dict[str, Any]) -> Any:
    context = {"run_id": "contract-test", "stage": "test", "capability": CAPABILITY}
    return planexe_run(capability=CAPABILITY, inputs=copy.deepcopy(inputs), context=context)


def _check(inputs: dict[str, Any], output: Any) -> None:
    assert isinstance(output, dict), f"output is {type(output).__name__}, not a mapping"
    jsonschema.validate(output, SPEC["output_schema"])
    for text, holds in CONSTRAINTS:
        assert holds(inputs, output), f"constraint does not hold: {text}"


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, float) or isinstance(actual, float):
        if isinstance(actual, bool) or isinstance(expected, bool):
            return actual is expected
        return isinstance(actual, int | float) and math.isclose(actual, expected, rel_tol=1e-9)
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(_same(actual[k], expected[k]) for k in expected)
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_same(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected) and type(actual) is type(expected)


def test_describe_matches_the_spec() -> None:
    described = planexe_describe(capability=CAPABILITY)
    assert described["input_schema"] == SPEC["input_schema"]
    assert described["output_schema"] == SPEC["output_schema"]
    assert planexe_describe(capability="other.capability") is None


@pytest.mark.parametrize("example", SPEC["examples"], ids=lambda e: e.get("note") or "example")
def test_golden_example(example: dict[str, Any]) -> None:
    jsonschema.validate(example["input"], SPEC["input_schema"])
    output = _run(example["input"])
    _check(example["input"], output)
    if example.get("output") is not None:
        assert _same(output, example["output"]), f"expected {example['output']}, got {output}"


@settings(
    max_examples=PROPERTY_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(inputs=from_schema(SPEC["input_schema"]))
def test_outputs_follow_the_contract(inputs: dict[str, Any]) -> None:
    _check(inputs, _run(inputs))


def test_input_is_not_modified() -> None:
    for example in SPEC["examples"]:
        before = copy.deepcopy(example["input"])
        planexe_run(capability=CAPABILITY, inputs=example["input"], context={})
        assert example["input"] == before
