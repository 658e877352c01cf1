"""Capability-backed PlanExe stages (``plan_pipeline/planexe.py``), run the way PlanExe runs its
pipeline: ``python -m worker_plan_internal.plan.run_plan_pipeline`` with ``RUN_ID_DIR``, a
``PlanTask`` that wraps every failure in "Failed to run X with any of the LLMs", two Luigi
worker processes, and upstream outputs in PlanExe's schemas (see ``tests/planexe_standin``)."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any, ClassVar

import luigi
import pytest

from plan_pipeline.contract import Contract
from plan_pipeline.errors import PlanPipelineError, StageInputError, StageOutputError
from plan_pipeline.planexe import (
    CapabilityTask,
    CapabilityTaskError,
    From,
    MissingCapabilitiesError,
    Value,
    capability_report,
    find_gaps,
    load_contract,
    preflight,
    synthesis_mode,
)
from plan_pipeline.spec import PluginSpec, draft_spec
from plan_pipeline.synthesis import SynthesisMode
from tests.planexe_standin.harness import (
    fixture,
    planexe_checkout,
    planexe_env,
    run_planexe,
    start_like_worker_api,
)

RISKS = "003-1-identify_risks_raw.json"
WBS = "019-wbs_project_level1_and_level2.json"
DURATIONS = "022-2-task_durations.json"
STAGES = {
    "RiskScoresTask": ("risk.planexe_scores", "003-3-risk_scores"),
    "PertEstimatesTask": ("schedule.pert_estimates", "022-3-pert_estimates"),
    "WBSCostRollupTask": ("budget.wbs_cost_rollup", "023-5-wbs_cost_rollup"),
}
OUTPUTS = {
    "RiskScoresTask": ("003-3-risk_scores_raw.json", "003-4-risk_scores.md"),
    "PertEstimatesTask": ("022-3-pert_estimates_raw.json", "022-4-pert_estimates.md"),
    "WBSCostRollupTask": ("023-5-wbs_cost_rollup_raw.json", "023-6-wbs_cost_rollup.md"),
}


# -- reference results, computed here from the fixtures, independently of the contracts ------


def _risk_scores(raw: dict[str, Any]) -> list[tuple[str, int, str]]:
    level = {"low": 1, "medium": 2, "high": 3}
    scored = []
    for risk in raw["risks"]:
        score = level[risk["likelihood"]] * level[risk["severity"]]
        name = "high" if score >= 6 else "medium" if score >= 3 else "low"
        scored.append((risk["risk_area"], score, name))
    return scored


def _leaves(wbs: dict[str, Any]) -> list[str]:
    return [
        leaf
        for phase in wbs["wbs_project"]["task_children"]
        for leaf in ([c["id"] for c in phase.get("task_children", [])] or [phase["id"]])
    ]


def _pert(wbs: dict[str, Any], durations: list[dict[str, Any]]) -> tuple[float, float, int]:
    """PlanExe estimates phases and their subtasks: only the leaves count, each once."""
    once = {d["task_id"]: d for d in durations if d["task_id"] in _leaves(wbs)}.values()
    usable = [d for d in once if min(d["days_min"], d["days_realistic"], d["days_max"]) >= 0]
    expected = sum((d["days_min"] + 4 * d["days_realistic"] + d["days_max"]) / 6 for d in usable)
    variance = sum(((d["days_max"] - d["days_min"]) / 6) ** 2 for d in usable)
    return round(expected, 2), round(variance**0.5, 2), len(once) - len(usable)


def _cost(wbs: dict[str, Any], durations: list[dict[str, Any]], rate: float) -> dict[str, int]:
    days = {d["task_id"]: max(d["days_realistic"], 0) for d in durations}
    phases = {}
    for phase in wbs["wbs_project"]["task_children"]:
        leaves = [c["id"] for c in phase.get("task_children", [])] or [phase["id"]]
        phases[phase["description"]] = sum(days.get(leaf, 0) for leaf in leaves)
    return phases


# -- the pipeline, end to end ----------------------------------------------------------------


def test_preflight_lists_every_missing_capability_before_any_llm_call(tmp_path: Path) -> None:
    root = planexe_checkout(tmp_path)
    run_dir = tmp_path / "run"
    result = run_planexe(root, run_dir)  # PLANEXE_SYNTHESIS unset: suggest
    assert result.returncode == 1
    assert "3 missing capabilities found before any stage ran" in result.stdout
    for stage, (capability, spec_stem) in STAGES.items():
        spec_file = run_dir / f"{spec_stem}.plugin-spec.json"
        assert f"stage '{stage}' needs capability '{capability}>=1.0,<2'" in result.stdout
        assert f"(spec: {spec_file})" in result.stdout
        assert PluginSpec.read(spec_file).capability == capability
    assert (
        f"continue with: PLANEXE_SYNTHESIS=dry-run RUN_ID_DIR={run_dir} "
        "python -m worker_plan_internal.plan.run_plan_pipeline"
    ) in result.stdout
    assert not (run_dir / "llm_calls.txt").exists()  # no stage ran, no LLM money spent
    assert not (run_dir / RISKS).exists()


def test_missing_capabilities_stop_with_this_projects_message_then_continue_and_reuse(
    tmp_path: Path,
) -> None:
    root = planexe_checkout(tmp_path)
    run_dir = tmp_path / "run"
    first = run_planexe(root, run_dir, STANDIN_SKIP_PREFLIGHT="1")
    assert first.returncode == 1
    log = (run_dir / "log.txt").read_text()
    assert "Failed to run" not in log  # not PlanExe's generic wrapper
    continue_command = (
        f"PLANEXE_SYNTHESIS=dry-run RUN_ID_DIR={run_dir} "
        "python -m worker_plan_internal.plan.run_plan_pipeline"
    )
    for stage, (capability, spec_stem) in STAGES.items():
        spec_file = run_dir / f"{spec_stem}.plugin-spec.json"
        message = (
            f"stage '{stage}' needs capability '{capability}>=1.0,<2', which no installed plugin "
            f"provides; wrote the plugin spec to {spec_file}. Continue with: {continue_command}"
        )
        assert f"plan_pipeline.errors.SynthesisStop: {message}" in log
    # the upstream stages ran once, in PlanExe's shapes; the spec holds the real inputs
    llm_calls = (run_dir / "llm_calls.txt").read_text().splitlines()
    assert sorted(llm_calls) == sorted([RISKS, WBS, DURATIONS])
    risk_spec = PluginSpec.read(run_dir / "003-3-risk_scores.plugin-spec.json")
    assert risk_spec.examples[-1].input == {"risks": fixture(RISKS)["risks"]}

    # the command the message names continues the run: synthesized, verified, written
    env = planexe_env(root, run_dir)
    second = subprocess.run(
        ["sh", "-c", continue_command], env=env, capture_output=True, text=True, timeout=600
    )
    assert second.returncode == 0, second.stdout[-3000:]
    assert second.stdout.count("synthesizing '") == 3
    assert (run_dir / "999-pipeline_complete.txt").exists()
    assert (run_dir / "llm_calls.txt").read_text().splitlines() == llm_calls  # not rerun
    outputs = {stage: _read_pair(run_dir, stage) for stage in STAGES}
    for raw, markdown in outputs.values():
        assert raw["markdown"] == markdown

    risks, _ = outputs["RiskScoresTask"]
    expected_risks = _risk_scores(fixture(RISKS))
    assert [(r["risk_area"], r["score"], r["level"]) for r in risks["risks"]] == expected_risks
    assert risks["highest_score"] == max(score for _, score, _ in expected_risks)
    assert "| Regulatory & Permitting | High | High | 9 | HIGH |" in risks["markdown"]

    pert, _ = outputs["PertEstimatesTask"]
    expected, stdev, skipped = _pert(fixture(WBS), fixture(DURATIONS))
    assert (pert["expected_total_days"], pert["stdev_total_days"]) == (expected, stdev)
    assert len(pert["skipped"]) == skipped == 1
    # the fixture lists the phases beside their subtasks, and one task twice: counted once
    once = {d["task_id"]: d for d in fixture(DURATIONS) if d["task_id"] in _leaves(fixture(WBS))}
    assert len(fixture(DURATIONS)) == len(once) + 4
    usable = [d for d in once.values() if d["days_realistic"] >= 0]
    assert pert["realistic_total_days"] == sum(d["days_realistic"] for d in usable) == 121
    assert f"Expected total: {expected:.1f} days" in pert["markdown"]

    cost, _ = outputs["WBSCostRollupTask"]
    phases = _cost(fixture(WBS), fixture(DURATIONS), 650)
    assert {p["description"]: p["days"] for p in cost["phases"]} == phases
    assert cost["total_cost"] == sum(phases.values()) * 650
    assert (
        f"| **Total** | {sum(phases.values())} | {sum(phases.values()) * 650:,.2f} |"
        in (cost["markdown"])
    )

    # a rerun of the stages reuses the run's plugins: nothing is synthesized again
    for raw_name, md_name in OUTPUTS.values():
        (run_dir / raw_name).unlink()
        (run_dir / md_name).unlink()
    (run_dir / "999-pipeline_complete.txt").unlink()
    third = subprocess.run(
        ["sh", "-c", continue_command], env=env, capture_output=True, text=True, timeout=600
    )
    assert third.returncode == 0, third.stdout[-3000:]
    assert "synthesiz" not in third.stdout
    assert "pre-flight" not in third.stdout  # the run's plugins are found
    assert {stage: _read_pair(run_dir, stage) for stage in STAGES} == outputs


def _read_pair(run_dir: Path, stage: str) -> tuple[dict[str, Any], str]:
    raw_name, md_name = OUTPUTS[stage]
    raw = json.loads((run_dir / raw_name).read_text())
    return raw, (run_dir / md_name).read_text()


# -- the adapter's parts, in process -----------------------------------------------------------


class PxPlanTask(luigi.Task):
    """The parts of PlanExe's PlanTask the adapter uses."""

    run_id_dir = luigi.Parameter()

    def local_target(self, name: str) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(Path(self.run_id_dir) / name))


class PxUpstream(PxPlanTask):
    def output(self) -> dict[str, luigi.LocalTarget]:
        return {
            "raw": self.local_target("001-1-up_raw.json"),
            "markdown": self.local_target("001-2-up.md"),
        }


_SHOUT = Contract(
    input_schema={"type": "object", "required": ["word"],
                  "properties": {"word": {"type": "string", "maxLength": 20}}},
    output_schema={"type": "object", "required": ["markdown"],
                   "properties": {"markdown": {"type": "string"}}},
    rules=[{"set": "markdown", "expr": "input.word.encode()"}],  # outside the rules subset
)  # fmt: skip


class PxShoutTask(CapabilityTask, PxPlanTask):
    capability = "test.planexe_shout"
    contract = _SHOUT
    plugin_inputs: ClassVar[dict[str, From | Value]] = {
        "word": From("up", select="word"),
    }

    def requires(self) -> dict[str, luigi.Task]:
        return {"up": PxUpstream(run_id_dir=self.run_id_dir)}

    def output(self) -> dict[str, luigi.LocalTarget]:
        return {
            "raw": self.local_target("002-1-shout_raw.json"),
            "markdown": self.local_target("002-2-shout.md"),
        }


def _upstream_done(run_dir: Path, raw: Any) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "001-1-up_raw.json").write_text(json.dumps(raw))
    (run_dir / "001-2-up.md").write_text("up")


def test_a_failed_synthesis_names_stage_capability_spec_and_continue_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANEXE_SYNTHESIS", "dry-run")
    _upstream_done(tmp_path, {"word": "hey"})
    task = PxShoutTask(run_id_dir=str(tmp_path))
    with pytest.raises(PlanPipelineError) as err:
        task.run()
    message = task.on_failure(err.value)
    spec_file = tmp_path / "002-1-shout.plugin-spec.json"
    assert message.startswith(
        f"stage 'PxShoutTask': no plugin for 'test.planexe_shout' from the spec {spec_file}: "
    )
    assert "method 'encode' is not allowed" in message
    assert message.endswith(
        f"then continue with: PLANEXE_SYNTHESIS=dry-run RUN_ID_DIR={tmp_path} "
        "python -m worker_plan_internal.plan.run_plan_pipeline (or, through the worker API, "
        f"write dry-run into {tmp_path / 'synthesis_mode.txt'} and retry the run)"
    )
    assert "\n" not in message
    assert (tmp_path / "002-1-shout.stage-failed.txt").read_text() == message + "\n"
    assert spec_file.is_file()
    assert (tmp_path / "001-1-up_raw.json").read_text() == '{"word": "hey"}'  # upstream kept


def test_an_input_that_is_not_there_is_named(tmp_path: Path) -> None:
    _upstream_done(tmp_path, {"other": 1})
    with pytest.raises(
        StageInputError, match=r"stage 'PxShoutTask' input 'word': 001-1-up_raw.json has no 'word'"
    ):
        PxShoutTask(run_id_dir=str(tmp_path)).read_plugin_inputs()


def test_pre_flight_needs_only_metadata_and_skips_completed_stages(tmp_path: Path) -> None:
    _upstream_done(tmp_path, {"word": "hey"})
    task = PxShoutTask(run_id_dir=str(tmp_path))
    (gap,) = find_gaps(task)
    assert gap.spec_path == tmp_path / "002-1-shout.plugin-spec.json"
    assert "stage 'PxShoutTask' needs capability 'test.planexe_shout'" in gap.problem
    (tmp_path / "002-1-shout_raw.json").write_text("{}")
    (tmp_path / "002-2-shout.md").write_text("")
    assert find_gaps(task) == []


def test_wrong_declarations_fail_when_the_class_is_defined(tmp_path: Path) -> None:
    with pytest.raises(CapabilityTaskError, match="declares no capability"):

        class PxNoCapability(CapabilityTask, PxPlanTask):
            pass

    with pytest.raises(CapabilityTaskError, match=r"PxBadVersion: version: .*invalid version"):

        class PxBadVersion(CapabilityTask, PxPlanTask):
            capability = "test.thing"
            version = "1.0 or later"

    with pytest.raises(CapabilityTaskError, match="PxBadName: capability"):

        class PxBadName(CapabilityTask, PxPlanTask):
            capability = "Not A Name"

    bad = tmp_path / "contract.yaml"
    bad.write_text("rules: [{set: x}]\n")
    with pytest.raises(
        CapabilityTaskError, match=r"contract file .*: rules.0.expr: Field required"
    ):
        load_contract(bad)


def test_a_subclass_is_its_own_stage_with_its_own_declarations() -> None:
    class PxShoutV2Task(PxShoutTask):
        version = ">=2,<3"

    need = PxShoutV2Task.need()
    assert (need.name, need.capability, need.version) == (
        "PxShoutV2Task",
        "test.planexe_shout",
        ">=2,<3",
    )
    assert PxShoutTask.need().name == "PxShoutTask"


def test_capability_task_must_come_before_plan_task_in_the_bases() -> None:
    with pytest.raises(CapabilityTaskError, match=r"Put CapabilityTask first in the bases"):

        class PxReversed(PxPlanTask, CapabilityTask):  # luigi.Task.run() would win
            capability = "test.thing"


def test_spec_files_of_different_outputs_never_collide(tmp_path: Path) -> None:
    class PxSingleOutput(PxShoutTask):
        def output(self) -> luigi.LocalTarget:
            return self.local_target("sub/002-1-shout-raw.json")

    a = PxShoutTask(run_id_dir=str(tmp_path)).miss_guide(tmp_path).spec_path
    b = PxSingleOutput(run_id_dir=str(tmp_path)).miss_guide(tmp_path).spec_path
    assert a == tmp_path / "002-1-shout.plugin-spec.json"
    assert b == tmp_path / "sub" / "002-1-shout-raw.raw.plugin-spec.json"


def test_pre_flight_names_the_run_directory_when_an_output_sits_in_a_subfolder(
    tmp_path: Path,
) -> None:
    class PxNestedOutput(PxShoutTask):
        def output(self) -> luigi.LocalTarget:
            return self.local_target("sub/002-1-shout_raw.json")

    _upstream_done(tmp_path, {"word": "hey"})
    with pytest.raises(MissingCapabilitiesError) as err:
        preflight(PxNestedOutput(run_id_dir=str(tmp_path)), SynthesisMode.SUGGEST)
    assert f"RUN_ID_DIR={tmp_path} python -m" in str(err.value)
    assert (tmp_path / "sub" / "002-1-shout.plugin-spec.json").is_file()


def test_an_output_that_cannot_be_written_is_one_line_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "002-1-shout_raw.json").mkdir(parents=True)  # a folder where the file goes
    task = PxShoutTask(run_id_dir=str(tmp_path))
    with pytest.raises(
        StageOutputError, match=r"stage 'PxShoutTask': cannot write 002-1-shout_raw.json"
    ):
        task._write({"markdown": "x"}, "x")
    assert (tmp_path / "002-2-shout.md").read_text() == "x"
    assert (tmp_path / "002-1-shout_raw.json").is_dir()


def test_synthesis_mode_comes_from_the_environment() -> None:
    assert synthesis_mode({}).value == "suggest"
    assert synthesis_mode({"PLANEXE_SYNTHESIS": "publish"}).value == "publish"
    with pytest.raises(
        CapabilityTaskError, match="PLANEXE_SYNTHESIS='yes' is not a synthesis mode"
    ):
        synthesis_mode({"PLANEXE_SYNTHESIS": "yes"})


def test_the_continue_hint_quotes_the_run_directory(tmp_path: Path) -> None:
    odd = tmp_path / "run dir; rm -rf x"
    hint = PxShoutTask(run_id_dir=str(odd)).miss_guide(odd).continue_with(synthesis_mode({}))
    assert shlex.split(hint)[1] == f"RUN_ID_DIR={odd}"


def test_a_tasks_docstring_is_the_contracts_description_when_it_has_none() -> None:
    class PxDescribedTask(CapabilityTask, PxPlanTask):
        """Shout the word: upper case, with an exclamation mark."""

        capability = "test.planexe_described"
        contract = _SHOUT

    assert not _SHOUT.description
    need = PxDescribedTask.need()
    assert need.contract is not None
    assert need.contract.description == "Shout the word: upper case, with an exclamation mark."
    spec = draft_spec(need, {}, provenance={})
    assert spec.description == need.contract.description


# -- what an operator sees: stops, failures, the report, the mode per run ---------------------


def test_a_stop_requested_mid_synthesis_is_honoured(tmp_path: Path) -> None:
    """PlanExe's progress callback is asked before a capability stage and at each line of its
    synthesis; when it raises PipelineStopRequested there, the synthesis stops, PlanExe's stop
    flag is set, and no capability stage's output or plugin is written."""
    root = planexe_checkout(tmp_path)
    run_dir = tmp_path / "run"
    stopped = run_planexe(
        root, run_dir, PLANEXE_SYNTHESIS="dry-run", STANDIN_WORKERS="1",
        STANDIN_STOP_AT_CALLBACK="6",  # three LLM stages, a capability stage's start, 2 lines
    )  # fmt: skip
    assert stopped.returncode == 1, stopped.stdout[-2000:]
    calls = [json.loads(line)["task"] for line in (run_dir / "progress_calls.jsonl").open()]
    assert calls[3] in STAGES and calls[5] == calls[3]  # asked mid-way through that stage
    assert (run_dir / "pipeline_stop_requested.txt").exists()
    assert "synthesizing '" in stopped.stdout and "synthesized '" not in stopped.stdout
    assert "stopped at the host's request" in stopped.stdout
    assert not any((run_dir / raw).exists() for raw, _ in OUTPUTS.values())
    assert not list((run_dir / ".plugins").glob("*.dist-info"))


def test_a_failed_capability_stage_shows_in_the_files_and_the_report_waits(
    tmp_path: Path,
) -> None:
    root = planexe_checkout(tmp_path)
    run_dir = tmp_path / "run"
    failed = run_planexe(root, run_dir, STANDIN_SKIP_PREFLIGHT="1")  # suggest: each stage stops
    assert failed.returncode == 1
    for _stage, (_capability, stem) in STAGES.items():
        why = (run_dir / f"{stem}.stage-failed.txt").read_text()
        assert "plugin spec" in why and "PLANEXE_SYNTHESIS=dry-run" in why
    assert not (run_dir / "030-report.html").exists()  # a report without them is not written
    asked = [json.loads(line)["task"] for line in (run_dir / "progress_calls.jsonl").open()]
    assert set(STAGES) <= set(asked)  # the host heard of each failed stage

    recovered = run_planexe(root, run_dir, PLANEXE_SYNTHESIS="dry-run")
    assert recovered.returncode == 0, recovered.stdout[-2000:]
    assert not list(run_dir.glob("*.stage-failed.txt"))
    report = (run_dir / "030-report.html").read_text()
    for stage, (capability, _stem) in STAGES.items():
        assert f"<h2>{stage} ({capability})</h2>" in report
    assert "| Risk" in report or "risk" in report.lower()


def test_the_mode_is_chosen_per_run_through_the_worker_apis_way_of_starting_runs(
    tmp_path: Path,
) -> None:
    """The worker API starts every run with the operator's environment (here suggest) and
    keeps no output: the stop's message is in the run directory's files, and a run chooses
    dry-run by its own synthesis_mode.txt before it is retried."""
    root = planexe_checkout(tmp_path)
    run_dir = tmp_path / "run"
    first = start_like_worker_api(root, run_dir, PLANEXE_SYNTHESIS="suggest")
    assert first.returncode == 1
    failures = sorted(run_dir.glob("*.stage-failed.txt"))
    assert len(failures) == 3
    mode_file = run_dir / "synthesis_mode.txt"
    assert f"write dry-run into {mode_file} and retry the run" in failures[0].read_text()
    mode_file.write_text("dry-run\n")
    retried = start_like_worker_api(root, run_dir, PLANEXE_SYNTHESIS="suggest")
    assert retried.returncode == 0
    assert all((run_dir / raw).exists() for raw, _ in OUTPUTS.values())
    assert not list(run_dir.glob("*.stage-failed.txt"))
    mode_file.write_text("sometimes\n")
    bad = run_planexe(root, tmp_path / "run", PLANEXE_SYNTHESIS="suggest")
    assert f"{mode_file}='sometimes' is not a synthesis mode" in bad.stdout


def test_the_report_shows_a_failure_when_it_does_not_wait_for_the_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator who keeps the capability stages out of ReportTask's requirements still
    sees the ones that failed before the report, as sections of their own."""

    class Sections:
        def __init__(self) -> None:
            self.added: list[tuple[str, str]] = []

        def append_markdown(self, document_title: str, file_path: Path) -> None:
            self.added.append((document_title, Path(file_path).read_text()))

    monkeypatch.setenv("PLANEXE_SYNTHESIS", "suggest")
    _upstream_done(tmp_path, {"word": "hey"})
    with pytest.raises(PlanPipelineError):
        PxShoutTask(run_id_dir=str(tmp_path)).run()
    sections = Sections()
    assert capability_report(sections, tmp_path) == ["PxShoutTask (test.planexe_shout): failed"]
    ((_title, text),) = sections.added
    assert text.startswith("**This stage failed.**") and "plugin spec" in text


def test_the_report_reads_only_the_run_directorys_own_files_and_escapes_their_html(
    tmp_path: Path,
) -> None:
    """Forged stage records (another local user can write the run directory): a stage name
    that climbs out, a markdown file outside, a link to a secret; and a plugin's markdown
    holding a script. Nothing outside the run directory is read or written, and the script
    reaches the report as text."""
    run_dir, secret = tmp_path / "run", tmp_path / "secret.txt"
    stages = run_dir / ".planexe" / "stages"
    stages.mkdir(parents=True)
    secret.write_text("TOP SECRET")
    (run_dir / "linked.md").symlink_to(secret)
    (run_dir / "003-4-risk_scores.md").write_text("| a |\n<script>alert(1)</script> & more")

    def record(stage: str, markdown: str | None, ok: bool = True) -> None:
        (stages / f"{len(list(stages.iterdir()))}.json").write_text(json.dumps({
            "stage": stage, "capability": "x.y", "resolution": "installed", "provider": "p 1",
            "seconds": 1.0, "time_to_capability_s": None, "ok": ok, "error": None if ok else
            "boom", "finished_at": "2026-01-01T00:00:00Z", "markdown": markdown,
        }))  # fmt: skip

    record("../../escaped", None, ok=False)
    record("Outside", "../secret.txt")
    record("Linked", "linked.md")
    record("RiskScoresTask", "003-4-risk_scores.md")

    class Sections:
        def __init__(self) -> None:
            self.added: dict[str, str] = {}

        def append_markdown(self, document_title: str, file_path: Path) -> None:
            self.added[document_title] = Path(file_path).read_text()

    sections = Sections()
    assert capability_report(sections, run_dir) == ["RiskScoresTask (x.y)"]
    shown = sections.added["RiskScoresTask (x.y)"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in shown and "<script>" not in shown
    assert not list(tmp_path.glob("escaped*")) and not (tmp_path / "escaped.md").exists()
    assert all("TOP SECRET" not in text for text in sections.added.values())
