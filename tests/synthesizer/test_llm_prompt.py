"""What the LLM backend sends (built from the spec alone) and how it reads an answer: parsed,
never run, in linear time whatever the answer holds."""

from __future__ import annotations

import sys

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
        ("```python\ndef compute(:\n```\n", "its python block does not parse on Python 3."),
        ("```python\ndef other():\n    pass\n```\n", "no python block defines compute(input)"),
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
    assert "operator.attrgetter" in system and "assert statements" in system
    assert "Capability: risk.score_matrix" in user
    assert "output.risks[*].score = item.likelihood * item.impact" in user
    assert "Golden examples" in user and '"likelihood": 5' in user
    assert "Permissions granted: none" in user
    assert "subprocess" not in user.split("Modules you may import (only those you use): ")[1]
    assert "empty lists, zeros" in user and "character for character" in user


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


def test_the_authors_words_come_first_and_the_contract_snippet_compiles(
    risk_spec: PluginSpec,
) -> None:
    """The spec's natural-language constraints are the first thing the model reads; the
    snippet the prompt shows imports what it uses and compiles as shown; the prompt names
    the Python version and the refusals the gates make."""
    words = "Score each risk as likelihood times impact; 15 and up is high."
    spec = risk_spec.model_copy(update={"description": words})
    system, user = (m["content"] for m in first_prompt(spec).messages)
    assert user.startswith(f"What the stage is for, in its author's words:\n{words}")
    snippet = system.split("compiles as shown):\n\n")[1].split("\n\ncompute receives")[0]
    code = "\n".join(line.removeprefix("    ") for line in snippet.splitlines())
    compile(code.replace("...", "return input"), "snippet", "exec")
    assert "from typing import Any" in code
    assert "star imports (from m import *)" in system
    assert "names used but never defined or imported" in system
    assert f"Python {sys.version_info.major}.{sys.version_info.minor}" in system


def test_an_unreadable_examples_block_never_discards_the_code() -> None:
    parsed = parse_answer(f'```python\n{MODULE}```\n```json\n{{"not": "a list"}}\n```\n')
    assert parsed.source == MODULE and parsed.extra_examples == []
    assert parsed.notes == [
        "your json block was left out, it is not a list of examples: Input should be a valid array"
    ]


def test_a_backslash_in_an_f_string_is_judged_by_the_target_python() -> None:
    """Before 3.12 a backslash inside an f-string's braces does not parse: the answer says
    how to write it instead; from 3.12 on the same module is fine."""
    answer = "```python\ndef compute(input):\n    return {'x': f\"{'\\n'.join([])}\"}\n```\n"
    if sys.version_info >= (3, 12):
        assert parse_answer(answer).source.startswith("def compute")
        return
    with pytest.raises(UnusableAnswer, match="compute such a value into a name before"):
        parse_answer(answer)
