"""Contract expressions and the offline rules code generator."""

from __future__ import annotations

import ast
from typing import Any

import pytest

from plan_pipeline.plan import Rule
from plan_pipeline.spec import PluginSpec
from synthesizer.codegen import find_code_generator
from synthesizer.contract_check import ContractCheck
from synthesizer.errors import SynthesizerError, UnsupportedSpecError
from synthesizer.expressions import translate
from synthesizer.rules_codegen import RulesCodeGenerator


@pytest.mark.parametrize(
    ("expr", "python"),
    [
        ("item.likelihood * item.impact", "item['likelihood'] * item['impact']"),
        ("round(sum(a.kwh for a in output.arrays), 1)",
         "round(sum((a['kwh'] for a in output['arrays'])), 1)"),
        ("'high' if item.score >= 15 else 'low'", "'high' if item['score'] >= 15 else 'low'"),
        ("input.rows[0].name", "input['rows'][0]['name']"),
        ("input.x ** 2", "input['x'] ** 2"),
        ("sum(x ** 2 for x in input.x) ** 0.5", "sum((x ** 2 for x in input['x'])) ** 0.5"),
        ("input.text.split()", "input['text'].split()"),
        ("item.title", "item['title']"),
        ("item.title()", "item.title()"),
        ("', '.join(r.name for r in input.rows)", "', '.join((r['name'] for r in input['rows']))"),
        ("input.rates.get(item.kind, 0)", "input['rates'].get(item['kind'], 0)"),
        ("f'{item.cost:,.2f} {item.unit.upper()}'",
         "f\"{item['cost']:,.2f} {item['unit'].upper()}\""),
    ],
)  # fmt: skip
def test_translation(expr: str, python: str) -> None:
    # the same program; 3.12 and later unparse f-strings with the quotes of their choice
    translated = translate(expr, {"input", "output", "item"})
    assert ast.dump(ast.parse(translated, mode="eval")) == ast.dump(ast.parse(python, mode="eval"))


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("input.text.format(input)", "call of 'input.text.format'"),
        ("'{0.__class__}'.format(input)", "call of"),
        ("input.text.format_map(input)", "call of"),
        ("input.text.encode()", "call of 'input.text.encode'"),
        ("input.text.join.__self__", "no leading underscore"),
        ("input.text.__getattribute__('x')", "call of 'input.text.__getattribute__'"),
        ("input.text.split(*input.parts)", "*arguments"),
        ("input.text.split(sep=',')", "keyword arguments"),
        ("input.rows.get.__call__(1)", "call of 'input.rows.get.__call__'"),
        ("input.rows.get(1).__class__", "no leading underscore"),
        ("f'{input.__class__}'", "no leading underscore"),
        ("f'{input!r}'", "conversions"),
        ("f'{input:{input.width}}'", "format spec must be constant"),
        ("f'{input:>1000000000}'", "format spec '>1000000000'"),
        ("f'{input:.999}'", "format spec '.999'"),
        ("f'{input:%Y}'", "format spec '%Y'"),
        ("f'{open(1)}'", "call of 'open'"),
        ("(9 ** 10) ** 10", "exponent of at most 1"),
        ("((2 ** 3 + 1) ** 10) ** 2", "exponent of at most 1"),
        ("-" * 500 + "1", "nested too deeply"),
        ("__import__('os')", "not allowed"),
        ("input.__class__", "no leading underscore"),
        ("open('x')", "call of 'open'"),
        ("lambda: 1", "Lambda is not allowed"),
        ("(x := 1)", "NamedExpr is not allowed"),
        ("input.x ** input.y", "constant exponent"),
        ("10 ** 100", "constant exponent"),
        ("secret", "unknown name 'secret'"),
        ("item.x", "unknown name 'item'"),
        ("sorted(input.x, key=len)", "keyword arguments"),
        ("input.x[1:2]", "Slice is not allowed"),
        ("[len for len in input.x]", "comprehension variable 'len'"),
    ],
)
def test_rejected_expressions(expr: str, problem: str) -> None:
    with pytest.raises(UnsupportedSpecError, match="expression") as err:
        translate(expr, {"input", "output"})
    assert problem in str(err.value)


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
    spec = _spec([{"set": "words", "expr": "input.text[1:]"}], ["words"])
    with pytest.raises(UnsupportedSpecError) as err:
        RulesCodeGenerator().generate(spec)
    assert "needs a code-generation backend that can handle this: rule 1" in str(err.value)


def test_code_generators_are_found_by_entry_point() -> None:
    assert isinstance(find_code_generator("rules"), RulesCodeGenerator)
    with pytest.raises(SynthesizerError, match=r"no code generator named 'llm' .*rules"):
        find_code_generator("llm")


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


def test_constraints_see_input_inside_comprehensions_and_use_methods() -> None:
    spec = _spec([{"set": "names", "expr": "[r.name.upper() for r in input.rows]"}], ["names"])
    spec = spec.model_copy(
        update={
            "constraints": [
                "all(n.lower() in [r.name for r in input.rows] for n in output.names)",
                "', '.join(output.names).startswith('A')",
            ]
        }
    )
    check = ContractCheck(spec)
    assert check.problems({"rows": [{"name": "ann"}]}, {"names": ["ANN"]}) == []
    assert check.problems({"rows": [{"name": "bob"}]}, {"names": ["BOB"]}) == [
        "constraint does not hold: ', '.join(output.names).startswith('A')"
    ]
