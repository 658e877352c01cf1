"""The ``ClaudeCLI`` provider (``synthesizer/claude_cli.py``) against a stand-in ``claude``
executable on ``PATH`` that prints the CLI's JSON envelope: a plugin written and repaired
through it, and each way the CLI fails as one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plan_pipeline.spec import PluginSpec
from synthesizer.errors import LLMError
from synthesizer.llm_synthesis import synthesize_with_llm
from synthesizer.synthesize import SynthesisOptions
from tests.synthesizer.claude_standin import calls, claude_on_path, envelope
from tests.synthesizer.llm_helpers import CORRECT_RISK, WRONG_RISK, fenced, write_config


def _options(tmp_path: Path, **arguments: object) -> SynthesisOptions:
    entry = {"class": "ClaudeCLI", "arguments": {"model": "claude-sonnet", **arguments}}
    config = write_config(tmp_path / "llm_config.json", {"claude": entry})
    return SynthesisOptions(property_examples=10, llm_config=config, repair_rounds=3)


@pytest.fixture
def on_path(monkeypatch: pytest.MonkeyPatch) -> object:
    def put(bin_dir: Path) -> None:
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    return put


def test_a_plugin_written_and_repaired_through_the_claude_cli(
    risk_spec: PluginSpec, tmp_path: Path, on_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir, log = claude_on_path(
        tmp_path, [envelope(fenced(WRONG_RISK)), envelope(fenced(CORRECT_RISK))]
    )
    on_path(bin_dir)  # type: ignore[operator]
    monkeypatch.setenv("CLAUDECODE", "1")  # as inside a Claude Code session
    monkeypatch.setenv("CLAUDE_CODE_ENTRYPOINT", "cli")
    result = synthesize_with_llm(risk_spec, tmp_path / "out", _options(tmp_path), print)
    assert result.report.passed
    first, second = calls(log)
    assert first["argv"][:3] == ["-p", "--output-format", "json"]
    assert first["argv"][first["argv"].index("--tools") + 1] == ""  # no tools at all
    assert "--no-session-persistence" in first["argv"] and "claude-sonnet" in first["argv"]
    assert "You write the logic module of a PlanExe plugin" in first["system"]
    assert "Capability: risk.score_matrix" in first["stdin"]
    assert first["cwd_files"] == []  # an empty working folder
    assert "CLAUDECODE" not in first["env"] and "CLAUDE_CODE_ENTRYPOINT" not in first["env"]
    assert "Your earlier answer was:" in second["stdin"]
    assert "Gate contract_tests failed" in second["stdin"]
    attempts = result.report.attempts
    assert [a.cost_usd for a in attempts] == [0.0123, 0.0123]
    assert attempts[0].prompt_tokens == 1700 and attempts[0].completion_tokens == 300
    assert attempts[0].provider == "claude" and attempts[0].model == "claude-sonnet"


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (envelope("Credit balance is too low", is_error=True), "answered with an error: Credit"),
        ({"raw": "", "exit": 1}, "exited with 1 without a JSON answer"),
        ({"raw": "Invalid API key · Please run /login\n", "exit": 1}, "Invalid API key"),
        ({"raw": "[1, 2]"}, "without a JSON answer"),
    ],
)
def test_each_way_the_cli_fails_is_one_line(
    risk_spec: PluginSpec,
    tmp_path: Path,
    on_path: object,
    answer: dict,
    problem: str,  # type: ignore[type-arg]
) -> None:
    bin_dir, _log = claude_on_path(tmp_path, [answer])
    on_path(bin_dir)  # type: ignore[operator]
    with pytest.raises(LLMError) as raised:
        synthesize_with_llm(risk_spec, tmp_path / "out", _options(tmp_path), print)
    assert problem in str(raised.value) and "\n" not in str(raised.value)


def test_a_missing_cli_says_how_to_install_it(risk_spec: PluginSpec, tmp_path: Path) -> None:
    options = _options(tmp_path, executable=str(tmp_path / "no-such-claude"))
    with pytest.raises(LLMError) as raised:
        synthesize_with_llm(risk_spec, tmp_path / "out", options, print)
    assert "is not found on PATH" in str(raised.value)
    assert "claude auth login" in str(raised.value)
