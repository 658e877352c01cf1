"""The ``ClaudeCLI`` provider (``synthesizer/claude_cli.py``) against a stand-in ``claude``
executable on ``PATH`` that prints the CLI's JSON envelope: a plugin written and repaired
through it, and each way the CLI fails as one line."""

from __future__ import annotations

import os
import stat
import tempfile
import time
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
    monkeypatch.setenv("PLANEXE_HUB_TOKEN", "hub-secret")
    result = synthesize_with_llm(risk_spec, tmp_path / "out", _options(tmp_path), print)
    assert result.report.passed
    first, second = calls(log)
    assert first["argv"][:3] == ["-p", "--output-format", "json"]
    assert first["argv"][first["argv"].index("--tools") + 1] == ""  # no tools at all
    assert "--no-session-persistence" in first["argv"] and "claude-sonnet" in first["argv"]
    assert "You write the logic module of a PlanExe plugin" in first["system"]
    assert "Capability: risk.score_matrix" in first["stdin"]
    assert first["cwd_files"] == []  # an empty working folder
    cwd = Path(first["cwd"])  # CLAUDE.md is read from every folder above it: none shared
    assert not cwd.is_relative_to(tempfile.gettempdir())
    above = [p for p in cwd.parents if p.exists()]  # its own folders are gone by now
    assert above and all(not p.stat().st_mode & stat.S_IWOTH for p in above)
    assert "CLAUDECODE" not in first["env"] and "CLAUDE_CODE_ENTRYPOINT" not in first["env"]
    assert "PLANEXE_HUB_TOKEN" not in first["env"]
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


def test_a_cli_that_never_answers_is_killed_with_what_it_started(
    risk_spec: PluginSpec, tmp_path: Path, on_path: object
) -> None:
    pid_file = tmp_path / "child.pid"
    bin_dir, _log = claude_on_path(tmp_path, [{"hang": str(pid_file)}])
    on_path(bin_dir)  # type: ignore[operator]
    with pytest.raises(LLMError) as raised:
        synthesize_with_llm(risk_spec, tmp_path / "out", _options(tmp_path, timeout=3), print)
    assert "did not answer within 3 s" in str(raised.value)
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        state = (
            Path(f"/proc/{child}/stat").read_text().split()[2]
            if Path(f"/proc/{child}/stat").exists()
            else "Z"
        )
        if state == "Z":
            break
        time.sleep(0.1)
    assert not Path(f"/proc/{child}").exists() or state == "Z"
