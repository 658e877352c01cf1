"""The offline rules code generator."""

from __future__ import annotations

from typing import Any

import pytest

from plan_pipeline.plan import Rule
from plan_pipeline.spec import PluginSpec
from synthesizer.codegen import find_code_generator
from synthesizer.errors import SynthesizerError, UnsupportedSpecError
from synthesizer.llm_codegen import LLMCodeGenerator
from synthesizer.rules_codegen import RulesCodeGenerator


def _spec(rules: list[dict[str, str]], required: list[str]) -> PluginSpec:
    return PluginSpec(
        capability="test.thing",
        stage_name="thing",
        input_schema={"type": "object"},
        output_schema={"type": "object", "required": required},
        rules=[Rule(**r) for r in rules],
    )


def _compute(source: str, inputs: dict[str, Any]) -> Any:
    scope: dict[str, Any] = {}
    exec(compile(source, "<generated>", "exec"), scope)  # test of generated code only
    return scope["compute"](inputs)


def test_generated_code_implements_the_rules(risk_spec: PluginSpec) -> None:
    logic = RulesCodeGenerator().generate(risk_spec)
    inputs = {"risks": [{"id": "A", "title": "a", "likelihood": 5, "impact": 4},
                        {"id": "B", "title": "b", "likelihood": 2, "impact": 4},
                        {"id": "C", "title": "c", "likelihood": 1, "impact": 1}]}  # fmt: skip
    out = _compute(logic.source, inputs)
    assert [(r["score"], r["level"]) for r in out["risks"]] == [
        (20, "high"), (8, "medium"), (1, "low")
    ]  # fmt: skip
    assert out["high_count"] == 1
    assert "score" not in inputs["risks"][0]  # the input is never modified
    assert "    # rule 2: risks[*].score = item.likelihood * item.impact\n" in logic.source


def test_nested_paths() -> None:
    spec = _spec(
        [
            {"set": "groups", "expr": "input.groups"},
            {"set": "groups[*].items[*].double", "expr": "item.v * 2"},
            {"set": "summary.count", "expr": "len(output.groups)"},
        ],
        ["groups", "summary"],
    )
    out = _compute(RulesCodeGenerator().generate(spec).source,
                   {"groups": [{"items": [{"v": 1}, {"v": 2}]}, {"items": []}]})  # fmt: skip
    assert out == {"groups": [{"items": [{"v": 1, "double": 2}, {"v": 2, "double": 4}]},
                              {"items": []}], "summary": {"count": 2}}  # fmt: skip


def test_same_spec_same_source(solar_spec: PluginSpec) -> None:
    gen = RulesCodeGenerator()
    assert gen.generate(solar_spec).source == gen.generate(solar_spec).source


def test_spec_without_rules_for_required_fields_needs_another_backend() -> None:
    spec = _spec([{"set": "a", "expr": "1"}], ["a", "b", "c"])
    with pytest.raises(UnsupportedSpecError) as err:
        RulesCodeGenerator().generate(spec)
    assert "needs a code-generation backend that can handle this" in str(err.value)
    assert "output field(s) b, c" in str(err.value)


def test_rule_outside_the_subset_needs_another_backend() -> None:
    spec = _spec([{"set": "words", "expr": "input.text.encode()"}], ["words"])
    with pytest.raises(UnsupportedSpecError) as err:
        RulesCodeGenerator().generate(spec)
    assert "needs a code-generation backend that can handle this: rule 1" in str(err.value)


def test_code_generators_are_found_by_entry_point() -> None:
    assert isinstance(find_code_generator("rules"), RulesCodeGenerator)
    assert isinstance(find_code_generator("llm"), LLMCodeGenerator)
    with pytest.raises(SynthesizerError, match=r"no code generator named 'gpt' .*llm, rules"):
        find_code_generator("gpt")


@pytest.mark.parametrize(
    "expr",
    ["input.get('rows', [])", "input.rows or []", "input.rows + []", "[r for r in input.rows]",
     "input.rows if input.rows else []"],
)  # fmt: skip
def test_a_rule_never_modifies_the_input_through_a_value_it_took_from_it(expr: str) -> None:
    spec = _spec([{"set": "rows", "expr": expr}, {"set": "rows[*].seen", "expr": "True"}], ["rows"])
    inputs = {"rows": [{"v": 1}]}
    out = _compute(RulesCodeGenerator().generate(spec).source, inputs)
    assert out == {"rows": [{"v": 1, "seen": True}]}
    assert inputs == {"rows": [{"v": 1}]}


def test_let_rules_become_local_values_read_by_later_rules() -> None:
    spec = _spec(
        [
            {"let": "total", "expr": "sum(input.xs)"},
            {"set": "shares", "expr": "[x / total for x in input.xs] if total else []"},
        ],
        ["shares"],
    )
    source = RulesCodeGenerator().generate(spec).source
    assert "    # rule 1: let total = sum(input.xs)\n    total = _clone(sum(input['xs']))\n" in (
        source
    )
    assert _compute(source, {"xs": [1, 3]}) == {"shares": [0.25, 0.75]}


def test_a_let_rule_named_like_a_generated_helper_cannot_reach_it() -> None:
    with pytest.raises(ValueError, match="let name '_clone' is not allowed"):
        _spec([{"let": "_clone", "expr": "1"}, {"set": "x", "expr": "1"}], ["x"])
    with pytest.raises(ValueError, match="would shadow a name of the language"):
        _spec([{"let": "bounded_range", "expr": "1"}, {"set": "x", "expr": "1"}], ["x"])
