"""Bad input: one line naming the problem, exit code 2, no traceback, nothing lost."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.conftest import CliRunner

GOOD_STAGES = """\
  - name: brief
    capability: brief.load
    inputs:
      brief: {value: {project: P, start_date: "2027-01-01", budget_cap: 10,
                      workstreams: [{id: w, name: W, tasks: [{id: T, name: t, days: 1, cost: 1}]}]}}
  - name: wbs
    capability: wbs.build
    inputs:
      brief: {stage: brief}
"""


def _plan(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(body)
    return path


def _assert_one_line_error(result: object, *needles: str) -> None:
    code, stderr = result.code, result.stderr  # type: ignore[attr-defined]
    assert code == 2, (code, stderr)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr + result.stdout  # type: ignore[attr-defined]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


CASES = {
    "malformed_yaml": (
        "name: p\nstages:\n  - name: a\n    capability: [brief.load\n",
        ["not valid YAML", "line"],
    ),
    "unknown_stage_reference": (
        "name: p\nstages:\n" + GOOD_STAGES + "  - name: c\n    capability: wbs.build\n"
        "    inputs:\n      brief: {stage: nowhere}\n",
        ["unknown stage 'nowhere'", "stage 'c'"],
    ),
    "dependency_cycle": (
        "name: p\nstages:\n"
        "  - name: a\n    capability: wbs.build\n    inputs: {x: {stage: c}}\n"
        "  - name: b\n    capability: wbs.build\n    inputs: {x: {stage: a}}\n"
        "  - name: c\n    capability: wbs.build\n    inputs: {x: {stage: b}}\n",
        ["dependency cycle", "a -> c -> b -> a"],
    ),
    "invalid_capability_name": (
        "name: p\nstages:\n  - name: a\n    capability: ../../etc/passwd\n",
        ["invalid capability name", "stages['a'].capability"],
    ),
    "invalid_json_schema": (
        "name: p\nstages:\n  - name: a\n    capability: risk.score_matrix\n    contract:\n"
        "      input_schema: {type: object, properties: {x: {type: integer, minimum: low}}}\n",
        ["invalid JSON schema", "properties/x/minimum"],
    ),
    "invalid_version_range": (
        "name: p\nstages:\n  - name: a\n    capability: risk.score_matrix\n    version: '>>1'\n",
        ["invalid version range"],
    ),
    "not_a_mapping": ("- just\n- a list\n", ["must be a YAML mapping"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_file_errors_are_one_line(case: str, tmp_path: Path, run_cli: CliRunner) -> None:
    body, needles = CASES[case]
    plan = _plan(tmp_path, body)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    keep = run_dir / "001-brief.json"
    keep.write_text('{"kept": true}\n')
    result = run_cli("run", plan, "--run-dir", run_dir)
    _assert_one_line_error(result, *needles)
    assert keep.read_text() == '{"kept": true}\n'
    assert sorted(p.name for p in run_dir.iterdir()) == ["001-brief.json"]


def test_missing_plan_file(tmp_path: Path, run_cli: CliRunner) -> None:
    _assert_one_line_error(run_cli("run", tmp_path / "nope.yaml"), "does not exist")


def test_run_dir_not_writable(tmp_path: Path, run_cli: CliRunner) -> None:
    plan = _plan(tmp_path, "name: p\nstages:\n" + GOOD_STAGES)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli("run", plan, "--run-dir", blocker / "run")
    _assert_one_line_error(result, "is not writable", "--run-dir")
    assert blocker.read_text() == "not a folder"


def test_output_violating_schema_keeps_earlier_outputs(tmp_path: Path, run_cli: CliRunner) -> None:
    strict = textwrap.dedent(
        """\
            contract:
              output_schema:
                type: object
                required: [task_count]
                properties: {task_count: {type: integer, maximum: 0}}
        """
    )
    plan = _plan(tmp_path, "name: p\nstages:\n" + GOOD_STAGES + textwrap.indent(strict, "    "))
    run_dir = tmp_path / "run"
    result = run_cli("run", plan, "--run-dir", run_dir)
    _assert_one_line_error(
        result, "stage 'wbs'", "violates the stage contract's output schema", "$.task_count"
    )
    brief = run_dir / "001-brief.json"
    assert brief.is_file()
    assert not (run_dir / "002-wbs.json").exists()
    before = brief.read_bytes()
    # a second attempt resumes: the completed stage is neither rerun nor lost
    again = run_cli("run", plan, "--run-dir", run_dir)
    assert again.code == 2
    assert "brief: done earlier" in again.stdout
    assert brief.read_bytes() == before


def test_select_path_missing_names_the_input(tmp_path: Path, run_cli: CliRunner) -> None:
    body = (
        "name: p\nstages:\n" + GOOD_STAGES + "  - name: sched\n    capability: "
        "schedule.critical_path\n    inputs:\n      wbs: {stage: wbs}\n"
        "      start_date: {stage: brief, select: dates.start}\n"
    )
    result = run_cli("run", _plan(tmp_path, body), "--run-dir", tmp_path / "run")
    _assert_one_line_error(result, "stage 'sched' input 'start_date'", "no 'dates.start'")
    assert (tmp_path / "run" / "002-wbs.json").is_file()


def test_missing_input_file(tmp_path: Path, run_cli: CliRunner) -> None:
    body = (
        "name: p\nstages:\n  - name: a\n    capability: brief.load\n    inputs:\n"
        "      brief: {file: missing.yaml}\n"
    )
    _assert_one_line_error(
        run_cli("run", _plan(tmp_path, body)), "'missing.yaml'", "does not exist"
    )


def test_what_a_plugin_puts_in_an_error_cannot_fake_log_lines() -> None:
    """A plugin's output key (or a distribution's version) reaches error messages through
    jsonschema's paths and messages; every error stays one line, escapes shown, not sent."""
    from plan_pipeline.errors import StageOutputError
    from plan_pipeline.stage_runner import validate

    key = "x\n2026-01-01 - plan_pipeline.planexe - INFO - RiskScoresTask ran\x1b[2K"
    problem = validate({key: "not a number"}, {"additionalProperties": {"type": "integer"}})
    assert problem is not None
    error = StageOutputError(f"stage 's': output violates {problem}", "Fix\nthe plugin")
    error.in_context("stage 's'", "then\rcontinue")
    for text in (str(error), error.problem, error.fix or ""):
        assert text.isprintable(), text
    assert "\\n2026-01-01" in str(error) and "\\x1b[2K" in str(error)


def test_a_contract_expression_too_long_is_refused_in_one_line() -> None:
    from pydantic import ValidationError

    from plan_pipeline.contract import Rule

    with pytest.raises(ValidationError, match="is longer than 2,000 characters"):
        Rule(set="x", expr="1" + " + 1" * 600)
