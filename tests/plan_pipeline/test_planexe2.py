"""Capability-backed PlanExe2 skills (``plan_pipeline/planexe2.py``), run the way PlanExe2 runs
them: ``python -m planexe_skill run RUN_DIR`` from a checkout whose ``skills/`` holds the
example capability skills, upstream stages answered by a fake LLM (``tests/planexe2_standin``)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from plan_pipeline.errors import PlanPipelineError
from plan_pipeline.planexe2 import LOCK_FILE, CapabilitySkill, parse_frontmatter
from plan_pipeline.resolver import run_plugin_dir
from plan_pipeline.spec import PluginSpec, draft_spec
from synthesizer.codegen import find_code_generator
from synthesizer.synthesize import SynthesisOptions, install_for_run, synthesize_plugin
from tests.plan_pipeline.test_planexe import _cost, _pert, _risk_scores
from tests.planexe2_standin.harness import (
    CAPABILITY_SKILLS,
    EXAMPLE,
    STANDIN,
    planexe2_checkout,
    plugin_hub,
    run_planexe2,
)
from tests.planexe_standin.harness import fixture
from tests.synthesizer.claude_standin import calls, claude_on_path, envelope
from tests.synthesizer.llm_helpers import fenced, write_config

SPECS = {
    "risk_scores": "risk.planexe_scores",
    "pert_estimates": "schedule.pert_estimates",
    "wbs_cost_rollup": "budget.wbs_cost_rollup",
}


def _created(root: Path, tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    done = run_planexe2(root, "create", str(run_dir), "--prompt", "A solar microgrid")
    assert done.returncode == 0, done.stderr
    return run_dir


def _llm_calls(run_dir: Path) -> int:
    path = run_dir / "usage_metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_preflight_lists_every_missing_capability_before_any_llm_call(tmp_path: Path) -> None:
    root = planexe2_checkout(tmp_path)
    run_dir = _created(root, tmp_path)
    done = plugin_hub(root, "planexe2", "preflight", "skills", "--run-dir", str(run_dir))
    assert done.returncode == 3, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert "3 missing capabilities found before any stage ran:" in lines[0]
    for skill, capability in SPECS.items():
        spec_file = run_dir / f"{skill}.plugin-spec.json"
        assert any(
            line.startswith(f"  - stage '{skill}' needs capability '{capability}>=1.0,<2'")
            and line.endswith(f"(spec: {spec_file})")
            for line in lines
        ), lines
        spec = PluginSpec.read(spec_file)
        assert spec.capability == capability and spec.description  # the skill's own words
    assert f"PLANEXE_SYNTHESIS=dry-run python -m planexe_skill run {run_dir}" in lines[-1]
    assert _llm_calls(run_dir) == 0  # nothing ran, no LLM money spent


def test_suggest_stops_in_planexe2s_failure_report_then_dry_run_recovers_and_a_rerun_reuses(
    tmp_path: Path,
) -> None:
    root = planexe2_checkout(tmp_path)
    run_dir = _created(root, tmp_path)
    stopped = run_planexe2(root, "run", str(run_dir))  # PLANEXE_SYNTHESIS unset: suggest
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    report = stopped.stdout
    spec_file = run_dir / "risk_scores.plugin-spec.json"
    assert "STAGE FAILED: risk_scores" in report
    assert (
        "error: PlanExe2Error: stage 'risk_scores' needs capability 'risk.planexe_scores>=1.0,<2'"
        in report
    )
    assert str(spec_file) in report and PluginSpec.read(spec_file).examples
    assert (
        f"PLANEXE_SYNTHESIS=dry-run python -m planexe_skill run {run_dir} --only risk_scores"
        in report
    )
    assert not (run_dir / "risk_scores_raw.json").exists()
    assert _llm_calls(run_dir) == 3  # the upstream stages ran, with their fake LLM

    recovered = run_planexe2(root, "run", str(run_dir), PLANEXE_SYNTHESIS="dry-run")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    risks = json.loads((run_dir / "risk_scores_raw.json").read_text())
    expected = _risk_scores(fixture("003-1-identify_risks_raw.json"))
    assert [(r["risk_area"], r["score"], r["level"]) for r in risks["risks"]] == expected
    plugin = risks["metadata"]["plugin"]
    assert plugin["dist_name"] == "planexe-gen-risk-planexe-scores"
    assert plugin["version"] == "1.0.0" and len(plugin["files_sha256"]) == 64
    assert "| " in (run_dir / "risk_scores.md").read_text()
    wbs, durations = (
        fixture("019-wbs_project_level1_and_level2.json"),
        fixture("022-2-task_durations.json"),
    )
    pert = json.loads((run_dir / "pert_estimates_raw.json").read_text())
    assert (pert["expected_total_days"], pert["stdev_total_days"]) == _pert(wbs, durations)[:2]
    assert "Expected total" in (run_dir / "pert_estimates.md").read_text()
    rollup = json.loads((run_dir / "wbs_cost_rollup_raw.json").read_text())
    phases = _cost(wbs, durations, 650)
    assert {p["description"]: p["days"] for p in rollup["phases"]} == phases
    assert rollup["total_cost"] == sum(phases.values()) * 650
    for skill in SPECS:
        lock = json.loads((root / "skills" / skill / LOCK_FILE).read_text())
        assert (
            lock["dist_name"] == f"planexe-gen-{SPECS[skill].replace('.', '-').replace('_', '-')}"
        )

    again = run_planexe2(root, "run", str(run_dir), PLANEXE_SYNTHESIS="dry-run")
    assert again.returncode == 0, again.stdout
    assert "0 ran" in again.stdout and "synthesiz" not in again.stdout
    assert _llm_calls(run_dir) == 3


def test_a_new_plugin_version_makes_the_stage_dirty(tmp_path: Path) -> None:
    """After a run, another version of the plugin replaces the run's; the pre-flight
    locks it, PlanExe2 sees the skill changed and runs that stage (and only it) again."""
    root = planexe2_checkout(tmp_path)
    run_dir = _created(root, tmp_path)
    first = run_planexe2(root, "run", str(run_dir), PLANEXE_SYNTHESIS="dry-run")
    assert first.returncode == 0, first.stdout + first.stderr
    spec = PluginSpec.read(run_dir / "risk_scores.plugin-spec.json").model_copy(
        update={"version": "1.1.0"}
    )
    built = synthesize_plugin(spec, tmp_path / "v11", SynthesisOptions(property_examples=10))
    plugins = run_plugin_dir(run_dir)  # the run's plugins: the old version makes way
    shutil.rmtree(plugins / "planexe_gen_risk_planexe_scores")
    shutil.rmtree(plugins / "planexe_gen_risk_planexe_scores-1.0.0.dist-info")
    install_for_run(built.artifacts.wheel, plugins)
    checked = plugin_hub(root, "planexe2", "preflight", "skills", "--run-dir", str(run_dir))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "risk_scores: risk.planexe_scores from planexe-gen-risk-planexe-scores 1.1.0" in (
        checked.stdout
    )
    assert "lock changed" in checked.stdout
    status = run_planexe2(root, "status", str(run_dir))
    assert "skill definition changed" in status.stdout
    rerun = run_planexe2(root, "run", str(run_dir), PLANEXE_SYNTHESIS="dry-run")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "1 ran" in rerun.stdout
    risks = json.loads((run_dir / "risk_scores_raw.json").read_text())
    assert risks["metadata"]["plugin"]["version"] == "1.1.0"


def test_scaffold_writes_a_skill_that_reads_back_and_the_examples_are_its_output(
    tmp_path: Path,
) -> None:
    done = plugin_hub(
        STANDIN, "planexe2", "scaffold", str(EXAMPLE / "risk_scores" / "contract.yaml"),
        "--skills", str(tmp_path), "--name", "risk_scores", "--capability",
        "risk.planexe_scores", "--input", "risks=identify_risks_raw.json#risks", "--output",
        "risk_scores_raw.json", "--output", "risk_scores.md", "--description",
        "Numeric scores from identify_risks' low/medium/high likelihood and severity, and a "
        "markdown table.",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for name in ("SKILL.md", "contract.yaml", "run.py"):
        assert (tmp_path / "risk_scores" / name).read_text() == (
            EXAMPLE / "risk_scores" / name
        ).read_text()
    again = plugin_hub(
        STANDIN, "planexe2", "scaffold", str(EXAMPLE / "risk_scores" / "contract.yaml"),
        "--skills", str(tmp_path), "--name", "risk_scores", "--capability", "risk.x",
        "--input", "r=a.json", "--output", "o.json",
    )  # fmt: skip
    assert again.returncode == 2 and "exists already" in again.stderr
    assert "Traceback" not in again.stderr


@pytest.mark.parametrize(
    ("frontmatter", "problem"),
    [
        ("name: x\n", "not closed with '---'"),
        ("name: x\nthis is not a key\n---\n", "line 3 is not understood"),
        ("name: x\noutputs: [o.json]\ncapability: Bad Name\n---\n", "capability"),
        ("name: x\noutputs: [o.json]\ncapability: a.b\ncontract: ../c.yaml\n---\n", "contract"),
    ],
)
def test_a_broken_skill_md_is_one_line_naming_the_file(
    tmp_path: Path, frontmatter: str, problem: str
) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "SKILL.md").write_text("---\n" + frontmatter)
    (folder / "contract.yaml").write_text("summary: s\n")
    with pytest.raises(PlanPipelineError) as raised:
        CapabilitySkill.read(folder).need()  # type: ignore[union-attr]
    assert problem in str(raised.value) and "\n" not in str(raised.value)


def test_the_frontmatter_reads_as_planexe2_reads_it() -> None:
    data, body = parse_frontmatter(
        '---\nname: a\ninputs: [x.json, y.md]\nn: 3\nok: true\nv: ">=1,<2"\nl:\n  - p=q#r\n'
        "# a comment\n---\nbody text\n",
        "SKILL.md",
    )
    assert data == {"name": "a", "inputs": ["x.json", "y.md"], "n": 3, "ok": True,
                    "v": ">=1,<2", "l": ["p=q#r"]}  # fmt: skip
    assert body == "body text"


def test_a_plugin_input_from_an_undeclared_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    """PlanExe2 orders stages by their declared files: an input read from a file the skill
    does not declare could run before its writer, so the adapter refuses it in one line."""
    root = planexe2_checkout(tmp_path)
    skill_md = root / "skills" / "risk_scores" / "SKILL.md"
    skill_md.write_text(
        skill_md.read_text().replace("inputs: [identify_risks_raw.json]", "inputs: []")
    )
    run_dir = _created(root, tmp_path)
    done = run_planexe2(root, "run", str(run_dir), "--only", "setup", "identify_risks",
                        "risk_scores", PLANEXE_SYNTHESIS="dry-run")  # fmt: skip
    assert done.returncode == 1
    assert "plugin input 'risks' reads identify_risks_raw.json, which SKILL.md does not list" in (
        done.stdout
    )


def test_every_example_skill_is_a_capability_skill() -> None:
    for name in CAPABILITY_SKILLS:
        skill = CapabilitySkill.read(EXAMPLE / name)
        assert skill is not None and skill.need().contract is not None
        assert (EXAMPLE / name / "run.py").read_text().count("import") == 1


def test_the_claude_provider_writes_the_plugin_of_a_planexe2_stage(tmp_path: Path) -> None:
    """PLANEXE_CODEGEN=llm with a ClaudeCLI entry: the stage's plugin is written through the
    host's claude command (a stand-in on PATH), from a prompt that opens with the skill's own
    words, and the stage's outputs are written."""
    root = planexe2_checkout(tmp_path)
    run_dir = _created(root, tmp_path)
    skill = CapabilitySkill.read(root / "skills" / "risk_scores")
    assert skill is not None
    module = find_code_generator("rules").generate(draft_spec(skill.need(), {}, provenance={}))
    bin_dir, log = claude_on_path(tmp_path / "claude", [envelope(fenced(module.source))])
    config = write_config(
        tmp_path / "llm_config.json",
        {"subscription": {"class": "ClaudeCLI", "arguments": {"model": "claude-sonnet"}}},
    )
    done = run_planexe2(
        root, "run", str(run_dir), "--only", "setup", "identify_risks", "risk_scores",
        PLANEXE_SYNTHESIS="dry-run", PLANEXE_CODEGEN="llm", PLANEXE_LLM_CONFIG=str(config),
        PATH=f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (call,) = calls(log)
    assert call["stdin"].startswith("What the stage is for, in its author's words:\nNumeric")
    risks = json.loads((run_dir / "risk_scores_raw.json").read_text())
    expected = _risk_scores(fixture("003-1-identify_risks_raw.json"))
    assert [(r["risk_area"], r["score"], r["level"]) for r in risks["risks"]] == expected


@pytest.mark.parametrize(
    ("changed", "problem"),
    [
        ({"--name": "../../escaped\nname: ok"}, "is not a skill name"),
        ({"--output": "o.json\nplugin_inputs: [x=/etc/passwd]"}, "cannot be written into"),
        ({"--skills": "a-file"}, "cannot write the skill into"),
    ],
)
def test_scaffold_refuses_what_would_escape_or_break_the_frontmatter(
    tmp_path: Path, changed: dict[str, str], problem: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    options = {"--skills": str(tmp_path / "skills"), "--name": "risk_scores",
               "--capability": "risk.x", "--input": "r=a.json", "--output": "o.json"}  # fmt: skip
    options |= {k: str(tmp_path / v) if k == "--skills" else v for k, v in changed.items()}
    done = plugin_hub(STANDIN, "planexe2", "scaffold",
                      str(EXAMPLE / "risk_scores" / "contract.yaml"),
                      *[part for pair in options.items() for part in pair])  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert problem in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.rglob("SKILL.md")) and not list(tmp_path.glob("escaped*"))
