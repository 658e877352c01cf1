"""The LLM backend end to end against a loopback OpenAI-protocol server answering from a
script: right at once, repaired after the failing tests went back, a malicious answer
stopped by static analysis before anything ran, garbage, and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from plan_pipeline.errors import ContractLanguageError
from plan_pipeline.spec import PluginSpec
from synthesizer.errors import LLMError, UnsupportedSpecError
from synthesizer.llm_codegen import LLMCodeGenerator
from synthesizer.llm_synthesis import synthesize_routed, synthesize_with_llm
from synthesizer.synthesize import SynthesisOptions
from tests.synthesizer.conftest import spec_path
from tests.synthesizer.llm_helpers import (
    CORRECT_RISK,
    KEY_ENV,
    STATEFUL_FIRST_CALL_RISK,
    WRONG_RISK,
    entry,
    fenced,
    write_config,
)
from tests.synthesizer.openai_standin import Reply, StandIn, serve


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-test-123")


def _options(tmp_path: Path, standin: StandIn, rounds: int = 3) -> SynthesisOptions:
    config = write_config(tmp_path / "llm_config.json", {"standin": entry(standin.url)})
    return SynthesisOptions(property_examples=10, llm_config=config, repair_rounds=rounds)


def _report(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text())


def test_a_correct_plugin_at_the_first_try(risk_spec: PluginSpec, tmp_path: Path) -> None:
    lines: list[str] = []
    with serve(Reply(fenced(CORRECT_RISK))) as standin:
        result = synthesize_with_llm(
            risk_spec, tmp_path / "out", _options(tmp_path, standin), lines.append
        )
    assert result.report.passed and result.report.generator == "llm"
    report = _report(result.report_path)
    assert report["model"] == "standin-coder" and report["tokens"] == 200
    (attempt,) = report["attempts"]
    assert attempt["code_sha256"] and attempt["prompt_sha256"]
    assert [g["name"] for g in attempt["gates"] if g["passed"]] == [
        "codegen", "static_analysis", "build", "dependency_audit", "contract_tests"
    ]  # fmt: skip
    prompt = "\n".join(standin.user_messages(0))
    assert '"high_count"' in prompt and "output.high_count <= len(output.risks)" in prompt
    assert "Modules you may import (only those you use):" in prompt
    assert any(line.startswith("round 1/3: asking standin") for line in lines)


def test_a_wrong_plugin_is_repaired_once_the_failing_test_output_went_back(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    with serve(Reply(fenced(WRONG_RISK)), Reply(fenced(CORRECT_RISK))) as standin:
        result = synthesize_with_llm(
            risk_spec, tmp_path / "out", _options(tmp_path, standin), print
        )
    assert result.report.passed
    first, second = _report(result.report_path)["attempts"]
    failed = {g["name"]: g["passed"] for g in first["gates"]}
    assert failed["contract_tests"] is False and failed["static_analysis"] is True
    assert first["code_sha256"] != second["code_sha256"]
    assert first["prompt_sha256"] != second["prompt_sha256"]
    feedback = standin.user_messages(1)[-1]
    assert "Gate contract_tests failed" in feedback
    assert "example 1: expected" in feedback and '"level": "medium"' in feedback
    got = feedback.split(", got ", 1)[1].split("\n")[0]
    assert json.loads(got)["high_count"] == 0  # the actual output, whole
    assert standin.requests[1]["messages"][-2] == {
        "role": "assistant",
        "content": fenced(WRONG_RISK),
    }


def test_a_hostile_model_s_plugin_that_lies_after_its_first_call_is_refused_every_round(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    """The prompt lists the golden inputs, so a hostile provider can write a plugin keyed to
    the first of them; no round of it passes the gate."""
    replies = [Reply(fenced(STATEFUL_FIRST_CALL_RISK)) for _ in range(2)]
    with (
        serve(*replies) as standin,
        pytest.raises(LLMError, match=r"no plugin .* passes every gate in 2 round"),
    ):
        synthesize_with_llm(
            risk_spec, tmp_path / "out", _options(tmp_path, standin, rounds=2), print
        )
    report = next((tmp_path / "out" / "dist").glob("*.report.json"))
    attempts = _report(report)["attempts"]
    assert len(attempts) == 2
    for attempt in attempts:
        gates = {g["name"]: g["passed"] for g in attempt["gates"]}
        assert gates["static_analysis"] is True and gates["contract_tests"] is False


MALICIOUS = {
    "a process": "import subprocess\n\ndef compute(input):\n"
    "    subprocess.run(['touch', {marker!r}])\n    return {{}}\n",
    "a socket": "import socket\n\ndef compute(input):\n"
    "    socket.create_connection(('127.0.0.1', 9))\n    return {{}}\n",
    "a dunder escape": "open({marker!r}, 'w')\n\ndef compute(input):\n"
    "    return {{'x': ().__class__.__base__.__subclasses__()}}\n",
}


@pytest.mark.parametrize("source", list(MALICIOUS.values()), ids=list(MALICIOUS))
def test_a_malicious_answer_is_stopped_by_static_analysis_before_anything_runs(
    risk_spec: PluginSpec, tmp_path: Path, source: str
) -> None:
    marker = tmp_path / "ran.txt"
    with (
        serve(Reply(fenced(source.format(marker=str(marker))))) as standin,
        pytest.raises(LLMError) as failed,
    ):
        synthesize_with_llm(risk_spec, tmp_path / "out", _options(tmp_path, standin, 1), print)
    assert "in 1 round(s); last: plugin for 'risk.score_matrix' failed gate(s) static_analysis" in (
        failed.value.problem
    )
    report = _report(next((tmp_path / "out" / "dist").glob("*.report.json")))
    gates = {g["name"]: (g["ran"], g["passed"]) for g in report["attempts"][0]["gates"]}
    assert gates["static_analysis"] == (True, False)
    assert gates["build"] == (False, False) and gates["contract_tests"] == (False, False)
    assert not list((tmp_path / "out" / "dist").glob("*.whl"))
    assert not marker.exists()


def test_garbage_in_every_round_is_one_line_and_the_attempts_are_kept(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    with (
        serve(Reply("I am sorry, I cannot write code today.")) as standin,
        pytest.raises(LLMError) as failed,
    ):
        synthesize_with_llm(risk_spec, tmp_path / "out", _options(tmp_path, standin, 2), print)
    assert failed.value.problem == (
        "the LLM backend found no plugin for 'risk.score_matrix' that passes every gate in 2 "
        "round(s); last: the answer has no usable code: it has no fenced python block"
    )
    assert len(standin.requests) == 2
    assert "Your answer could not be used" in standin.user_messages(1)[-1]
    report = _report(next((tmp_path / "out" / "dist").glob("*.report.json")))
    assert [a["problem"] for a in report["attempts"]] == [
        "the answer has no usable code: it has no fenced python block",
        "the answer has no usable code: it has no fenced python block; the same answer as an "
        "earlier round: a fresh conversation next",
    ]


def test_a_spec_outside_the_rules_subset_goes_to_the_llm_backend_when_one_is_configured(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    no_rules = risk_spec.model_copy(update={"rules": []})
    lines: list[str] = []
    with serve(Reply(fenced(CORRECT_RISK))) as standin:
        options = _options(tmp_path, standin)
        result = synthesize_routed(no_rules, tmp_path / "out", options, lines.append)
    assert result.report.generator == "llm"
    assert any("the rules generator cannot write it" in line for line in lines)
    unconfigured = SynthesisOptions(property_examples=10)
    with pytest.raises(UnsupportedSpecError):
        synthesize_routed(no_rules, tmp_path / "out2", unconfigured, lines.append)


def test_the_command_line_names_the_generator_and_fails_in_one_line(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    spec_file = spec_path(tmp_path, risk_spec)
    with serve(Reply(fenced(CORRECT_RISK))) as standin:
        config = write_config(tmp_path / "llm_config.json", {"standin": entry(standin.url)})
        command = [sys.executable, "-m", "plan_pipeline.cli", "synth", str(spec_file),
                   "--out", str(tmp_path / "out"), "--codegen", "llm", "--llm-config",
                   str(config), "--llm", "standin", "--property-examples", "10"]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert "round 1/3: asking standin" in done.stdout
        missing = subprocess.run(
            [*command[:-6], "--llm-config", str(config), "--llm", "gpt"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].startswith("error: no LLM entry named 'gpt'")
    assert "Traceback" not in missing.stderr


def test_the_generator_answers_the_codegen_protocol_in_one_round(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    with serve(Reply(fenced(CORRECT_RISK))) as standin:
        config = write_config(tmp_path / "llm_config.json", {"standin": entry(standin.url)})
        logic = LLMCodeGenerator.from_config(config, None).generate(risk_spec)
    assert logic.generator == "llm" and "def compute" in logic.source


def test_every_round_is_in_the_report_when_the_repairs_run_out(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    script = (Reply(fenced(WRONG_RISK)), Reply("no code, sorry"))
    with serve(*script) as standin, pytest.raises(LLMError) as failed:
        synthesize_with_llm(risk_spec, tmp_path / "out", _options(tmp_path, standin, 2), print)
    report_path = next((tmp_path / "out" / "dist").glob("*.report.json"))
    assert str(report_path) in str(failed.value)
    first, second = _report(report_path)["attempts"]
    assert {g["name"]: g["passed"] for g in first["gates"]}["contract_tests"] is False
    assert second["problem"] == "the answer has no usable code: it has no fenced python block"


def test_a_constraint_no_plugin_could_be_checked_against_stops_before_any_call(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    spec = risk_spec.model_copy(update={"constraints": ["(lambda: 1)() == 1"], "rules": []})
    with serve(Reply(fenced(CORRECT_RISK))) as standin:
        with pytest.raises(ContractLanguageError, match="lambda"):
            synthesize_routed(spec, tmp_path / "out", _options(tmp_path, standin), print)
        assert standin.requests == []


def test_an_undefined_name_is_a_finding_with_its_line_before_anything_runs(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    """The model copies the contract's annotation without importing ``Any``: static analysis
    says so, with the line, and the repair round gets that finding, not "the worker could not
    load the plugin"."""
    careless = CORRECT_RISK.replace("from typing import Any\n", "")
    with serve(Reply(fenced(careless)), Reply(fenced(CORRECT_RISK))) as standin:
        result = synthesize_with_llm(
            risk_spec, tmp_path / "out", _options(tmp_path, standin), print
        )
    assert result.report.passed
    first, _ = _report(result.report_path)["attempts"]
    ran = {g["name"]: g["passed"] for g in first["gates"] if g["ran"]}
    assert ran["static_analysis"] is False and "contract_tests" not in ran
    feedback = standin.user_messages(1)[-1]
    assert "[names] " in feedback and "logic.py:" in feedback
    assert "undefined name 'Any': import it or define it before use" in feedback


def test_an_answer_cut_off_at_the_token_limit_is_told_so_and_a_shorter_one_asked(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    cut = Reply("Here is the module.\n\n```python\ndef compute(input):\n    risks = [",
                finish_reason="length", completion_tokens=512)  # fmt: skip
    lines: list[str] = []
    with serve(cut, Reply(fenced(CORRECT_RISK))) as standin:
        result = synthesize_with_llm(
            risk_spec, tmp_path / "out", _options(tmp_path, standin), lines.append
        )
    assert result.report.passed
    feedback = standin.user_messages(1)[-1]
    assert "cut off at the token limit after 512 tokens" in feedback
    assert "Answer again, shorter" in feedback and "fenced python block" in feedback
    assert "no fenced python block" not in feedback
    first = _report(result.report_path)["attempts"][0]
    assert "cut off at the token limit" in first["problem"]


def test_a_model_that_repeats_itself_gets_a_changed_strategy_not_the_same_request(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    """The same wrong module twice: the third request is not the conversation grown by one
    more identical repair, but a fresh one that states what that module failed and asks for
    another approach."""
    wrong = Reply(fenced(WRONG_RISK))
    lines: list[str] = []
    with serve(wrong, wrong, Reply(fenced(CORRECT_RISK))) as standin:
        result = synthesize_with_llm(
            risk_spec, tmp_path / "out", _options(tmp_path, standin), lines.append
        )
    assert result.report.passed
    second, third = standin.requests[1]["messages"], standin.requests[2]["messages"]
    assert len(second) == 4  # system, spec, the first answer, its feedback
    assert len(third) == 2  # afresh: system, spec with what the repeated module failed
    assert not any(m["role"] == "assistant" for m in third)
    assert "A module written for this spec before failed these checks" in third[-1]["content"]
    assert "different approach" in third[-1]["content"]
    assert "Gate contract_tests failed" in third[-1]["content"]
    attempts = _report(result.report_path)["attempts"]
    assert attempts[0]["code_sha256"] == attempts[1]["code_sha256"]
    assert "a fresh conversation next" in attempts[1]["problem"]
    assert any("the same code as an earlier round; starting afresh" in line for line in lines)
    assert "temperature" not in standin.requests[1]  # the entry sets none: the server's own
    assert standin.requests[2]["temperature"] >= 0.7  # the fresh start is sampled hotter


def test_the_same_unusable_answer_twice_gets_a_changed_strategy(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    """A model that is cut off at the token limit with the same text round after round (a
    1.5B model at a low temperature does): the third request is a fresh, hotter
    conversation that asks for a short module, not the same repair request again."""
    cut = Reply("```python\ndef compute(input):\n    risks = [", finish_reason="length",
                completion_tokens=512)  # fmt: skip
    lines: list[str] = []
    with serve(cut, cut, Reply(fenced(CORRECT_RISK))) as standin:
        result = synthesize_with_llm(
            risk_spec, tmp_path / "out", _options(tmp_path, standin), lines.append
        )
    assert result.report.passed
    second, third = standin.requests[1], standin.requests[2]
    assert len(second["messages"]) == 4  # the repair of a first cut-off answer
    assert len(third["messages"]) == 2 and third["temperature"] >= 0.7  # afresh, hotter
    assert "cut off at the token limit" in third["messages"][-1]["content"]
    assert "Keep it short: at most 60 lines" in third["messages"][-1]["content"]
    attempts = _report(result.report_path)["attempts"]
    assert "the same answer as an earlier round" in attempts[1]["problem"]
    assert any("the same answer as an earlier round; starting afresh" in line for line in lines)


def test_a_repeating_model_hands_the_fresh_start_to_the_next_entry(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    """With two entries in auto, the fresh start after a repeated answer goes to the other
    model first, and that model's answer passes."""
    wrong = Reply(fenced(WRONG_RISK))
    with serve(wrong) as first, serve(Reply(fenced(CORRECT_RISK))) as second:
        config = write_config(
            tmp_path / "llm_config.json",
            {
                "first": {**entry(first.url, temperature=0.1), "priority": 1},
                "second": {**entry(second.url, temperature=0.1), "priority": 2},
            },
        )
        options = SynthesisOptions(property_examples=10, llm_config=config, repair_rounds=3)
        result = synthesize_with_llm(risk_spec, tmp_path / "out", options, lambda _line: None)
    assert result.report.passed
    assert len(first.requests) == 2 and len(second.requests) == 1
    assert first.requests[1]["temperature"] == 0.1  # a repair of a new answer: as configured
    assert second.requests[0]["temperature"] == 0.7
    assert len(second.requests[0]["messages"]) == 2  # afresh


def test_first_round_samples_the_first_passing_answer_wins(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    """--samples 3: the first answer fails, the second (sampled hotter) passes; the third is
    never asked for, and both attempts are in the report as samples of round 1."""
    lines: list[str] = []
    with serve(Reply(fenced(WRONG_RISK)), Reply(fenced(CORRECT_RISK))) as standin:
        options = replace(_options(tmp_path, standin), samples=3)
        result = synthesize_with_llm(risk_spec, tmp_path / "out", options, lines.append)
    assert result.report.passed and len(standin.requests) == 2
    assert standin.requests[0]["messages"] == standin.requests[1]["messages"]
    assert "temperature" not in standin.requests[0]
    assert standin.requests[1]["temperature"] >= 0.8
    attempts = _report(result.report_path)["attempts"]
    assert [(a["round"], a["sample"]) for a in attempts] == [(1, 1), (1, 2)]
    assert any(line.startswith("round 1/3, sample 2/3: asking standin") for line in lines)


def test_after_failed_samples_the_repair_goes_on_from_the_one_that_got_furthest(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    """Sample 1 has no usable code, sample 2 reaches the contract tests: the repair round
    answers sample 2's findings."""
    script = [Reply("I cannot help with that."), Reply(fenced(WRONG_RISK)),
              Reply(fenced(CORRECT_RISK))]  # fmt: skip
    with serve(*script) as standin:
        options = replace(_options(tmp_path, standin), samples=2)
        result = synthesize_with_llm(risk_spec, tmp_path / "out", options, lambda _line: None)
    assert result.report.passed
    repair = standin.requests[2]["messages"]
    assert repair[2] == {"role": "assistant", "content": fenced(WRONG_RISK)}
    assert "Gate contract_tests failed" in repair[3]["content"]
    attempts = _report(result.report_path)["attempts"]
    assert [(a["round"], a["sample"]) for a in attempts] == [(1, 1), (1, 2), (2, 1)]


def test_a_failing_call_names_the_line_in_the_plugins_code(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    """An exception's finding says where in the module it was raised."""
    raising = CORRECT_RISK.replace(
        '        score = risk["likelihood"] * risk["impact"]\n',
        '        score = risk["likelihood"] * risk["impact"]\n'
        "        if score > 0:\n"
        '            raise ValueError("no scores today")\n',
    )
    with serve(Reply(fenced(raising)), Reply(fenced(CORRECT_RISK))) as standin:
        synthesize_with_llm(risk_spec, tmp_path / "out", _options(tmp_path, standin), print)
    feedback = standin.user_messages(1)[-1]
    line = raising.splitlines().index('            raise ValueError("no scores today")') + 1
    assert f"ValueError: no scores today (logic.py line {line})" in feedback


def test_samples_that_agree_are_not_a_repeat(risk_spec: PluginSpec, tmp_path: Path) -> None:
    """Two first-round samples with the same code: the next round is an ordinary repair of it,
    not a fresh start at a higher temperature."""
    wrong = Reply(fenced(WRONG_RISK))
    with serve(wrong, wrong, Reply(fenced(CORRECT_RISK))) as standin:
        options = replace(_options(tmp_path, standin), samples=2)
        result = synthesize_with_llm(risk_spec, tmp_path / "out", options, lambda _line: None)
    assert result.report.passed
    repair = standin.requests[2]
    assert len(repair["messages"]) == 4 and "temperature" not in repair


def test_a_provider_failing_mid_way_keeps_the_paid_rounds_on_record(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    script = (Reply("I cannot help with that."), Reply(status=500))
    with serve(*script) as standin, pytest.raises(LLMError):
        synthesize_with_llm(
            risk_spec, tmp_path / "out", _options(tmp_path, standin), lambda _line: None
        )
    (path,) = (tmp_path / "out").rglob("*.report.json")
    (attempt,) = _report(path)["attempts"]
    assert "no usable code" in attempt["problem"] and attempt["completion_tokens"] == 80
