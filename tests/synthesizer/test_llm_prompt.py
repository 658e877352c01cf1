"""What the LLM backend sends (built from the spec alone) and how it reads an answer: parsed,
never run, in linear time whatever the answer holds."""

from __future__ import annotations

import pytest

from plan_pipeline.contract import Rule
from plan_pipeline.spec import PluginSpec
from synthesizer.llm_prompt import (
    MAX_ANSWER_CHARS,
    UnusableAnswer,
    feedback_for,
    first_prompt,
    parse_answer,
)
from synthesizer.report import Finding, GateResult

MODULE = "def compute(input):\n    return {'x': 1}\n"


def test_the_first_python_block_that_defines_compute_is_the_module() -> None:
    answer = (
        "Thoughts first.\n```python\nimport math\n```\n"
        f"```python\n{MODULE}```\n"
        '```json\n[{"input": {"a": 1}, "output": {"x": 1}}]\n```\n'
    )
    parsed = parse_answer(answer)
    assert parsed.source == MODULE
    assert [e.input for e in parsed.extra_examples] == [{"a": 1}]


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("no code at all", "it has no fenced python block"),
        ("```python\ndef compute(:\n```\n", "its python block does not parse: invalid syntax"),
        ("```python\ndef other():\n    pass\n```\n", "no python block defines compute(input)"),
        (f"```python\n{MODULE}```\n```json\n{{\"not\": \"a list\"}}\n```\n",
         "its json block is not a list of examples"),
        ("```x\n" * 110_000, "it is longer than 512 KiB"),
        ("```x\n" * 80_000, "it has no fenced python block"),
    ],
)  # fmt: skip
def test_an_answer_without_usable_code_says_why(answer: str, why: str) -> None:
    with pytest.raises(UnusableAnswer) as refused:
        parse_answer(answer)
    assert str(refused.value).startswith(why)
    assert len(answer) > MAX_ANSWER_CHARS or "longer" not in why


def test_the_prompt_holds_the_spec_and_the_gates_rules(risk_spec: PluginSpec) -> None:
    system, user = (m["content"] for m in first_prompt(risk_spec).messages)
    assert "def compute(input: dict[str, Any]) -> dict[str, Any]" in system
    assert "eval" in system and "exec" in system
    assert "Capability: risk.score_matrix" in user
    assert "output.risks[*].score = item.likelihood * item.impact" in user
    assert "Golden examples" in user and '"likelihood": 5' in user
    assert "Permissions granted: none" in user
    assert "subprocess" not in user.split("Modules you may import: ")[1]


def test_a_named_value_is_shown_as_a_name_not_as_an_output_field(risk_spec: PluginSpec) -> None:
    rules = [{"let": "worst", "expr": "max([r.impact for r in input.risks], default=0)"}]
    spec = risk_spec.model_copy(update={"rules": [Rule.model_validate(r) for r in rules]})
    _, user = (m["content"] for m in first_prompt(spec).messages)
    assert "- worst = max([r.impact for r in input.risks], default=0)  (a named value" in user
    assert "output.None" not in user


def test_feedback_names_each_failed_gate_and_its_findings() -> None:
    gates = [
        GateResult(name="static_analysis", passed=True, summary="clean"),
        GateResult.from_findings(
            "contract_tests",
            [Finding(rule="test-failure", message="example 1: expected {'x': 2}, got {'x': 1}")],
            "",
            0.1,
        ),
    ]
    text = feedback_for(gates)
    assert "static_analysis" not in text
    assert "Gate contract_tests failed" in text
    assert "- [test-failure] example 1: expected {'x': 2}, got {'x': 1}" in text
