"""The YAML pipeline's four paths, as installed: ``suggest`` from the worker install,
``dry-run`` from ``[synth]``, ``publish`` from ``[synth]`` against a hub process served from
``[hub]`` and reached through its exported client files, and reuse from a second, fresh
worker-only install that has never seen the hub before."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.installed.conftest import HubProcess, Installs, clean_env, ok, run

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "examples" / "plans" / "solar_microgrid"
MISSING = ("energy.solar_yield", "risk.score_matrix")


def _plan(where: Path) -> Path:
    folder = where / "plan"
    shutil.copytree(PLAN, folder)
    return folder / "plan.yaml"


def test_suggest_then_dry_run_complete_the_plan(
    worker_bin: Path, synth_bin: Path, tmp_path: Path
) -> None:
    plan, run_dir = _plan(tmp_path), tmp_path / "run"
    stopped = run(worker_bin / "plugin-hub", "run", plan, "--run-dir", run_dir, cwd=tmp_path)
    assert stopped.returncode == 3, stopped.stdout + stopped.stderr
    assert "Traceback" not in stopped.stderr
    specs = sorted(p.name for p in run_dir.glob("*.plugin-spec.json"))
    assert specs == ["005-solar_yield.plugin-spec.json", "006-risks.plugin-spec.json"]

    resumed = run(
        synth_bin / "plugin-hub", "run", plan, "--run-dir", run_dir, "--synthesis", "dry-run",
        cwd=tmp_path,
    )  # fmt: skip
    ok(resumed)
    assert (run_dir / "007-report.md").is_file()
    for capability in MISSING:
        assert f"synthesized '{capability}'" in resumed.stdout

    # what the run did, for people (a table that wraps, never cuts) and for scripts
    for columns in ("60", "160"):
        table = ok(run(synth_bin / "plugin-hub", "report", run_dir, cwd=tmp_path,
                       env=clean_env(COLUMNS=columns)))  # fmt: skip
        assert "…" not in table and "synthesized" in table
    assert "planexe-gen-energy-solar-yield 1.0.0" in table  # whole where there is room
    again = run(synth_bin / "plugin-hub", "run", plan, "--run-dir", run_dir, "--json",
                cwd=tmp_path)  # fmt: skip
    summary = json.loads(ok(again))  # standard output holds the JSON alone
    assert (summary["complete"], summary["exit_code"], summary["stages"]) == (True, 0, 7)
    assert {r["stage"]: r["resolution"] for r in summary["records"]}["risks"] == "synthesized"
    assert "done earlier" in again.stderr
    listed = json.loads(ok(run(synth_bin / "plugin-hub", "capabilities", "--json", cwd=tmp_path)))
    assert "brief.load" in {c["capability"] for c in listed["capabilities"]}


def test_publish_then_a_fresh_worker_install_reuses(
    hub_process: HubProcess, installs: Installs, tmp_path: Path
) -> None:
    plan = _plan(tmp_path)
    synth_bin = installs.venv("synth-publish", "synth")  # it installs what it publishes
    env = clean_env(**hub_process.client_env)
    assert set(hub_process.client_env) == {
        "PLANEXE_HUB_URL", "PLANEXE_HUB_POLICY", "PLANEXE_HUB_TOKEN"
    }  # fmt: skip
    first = run(
        synth_bin / "plugin-hub", "run", plan, "--run-dir", tmp_path / "run-1",
        "--synthesis", "publish", env=env, cwd=tmp_path,
    )  # fmt: skip
    ok(first)
    assert first.stdout.count(": published planexe-gen-") == len(MISSING)

    fresh = installs.venv("worker-reuse", "worker")
    second = run(
        fresh / "plugin-hub", "run", plan, "--run-dir", tmp_path / "run-2",
        "--synthesis", "publish", env=env, cwd=tmp_path,
    )  # fmt: skip
    ok(second)
    assert second.stdout.count("reused '") == len(MISSING)
    assert "synthesizing" not in second.stdout
    assert not (tmp_path / "run-2" / ".synth").exists()
    report = (tmp_path / "run-1" / "007-report.md").read_text()
    assert (tmp_path / "run-2" / "007-report.md").read_text() == report

    # the same hub, as the worker install's own commands see it: by part of a capability,
    # every plugin, and as JSON
    wide = env | {"COLUMNS": "160"}
    found = ok(run(fresh / "plugin-hub", "search", "score", env=wide, cwd=tmp_path))
    assert "risk.score_matrix" in found and "solar" not in found
    every = run(fresh / "plugin-hub", "search", "--json", env=env, cwd=tmp_path)
    assert {r["capability"] for r in json.loads(ok(every))} == set(MISSING)


def _as_in_a_terminal() -> None:
    """Ctrl-C handled as a terminal's foreground command has it (a test run started in the
    background would pass on SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_during_a_synthesis_exits_130_and_the_run_continues(
    synth_bin: Path, tmp_path: Path, workers: str
) -> None:
    """Ctrl-C reaches the whole foreground process group, as a terminal sends it; with two
    Luigi workers the stages run in processes that Luigi then ends with SIGTERM."""
    plan, run_dir = _plan(tmp_path), tmp_path / "run"
    command = [synth_bin / "plugin-hub", "run", plan, "--run-dir", run_dir, "--synthesis",
               "dry-run", "--workers", workers]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=clean_env(), start_new_session=True, preexec_fn=_as_in_a_terminal,
    )  # fmt: skip
    assert process.stdout is not None
    before = []
    for line in process.stdout:
        before.append(line)
        if "static analysis:" in line:
            os.killpg(process.pid, signal.SIGINT)
            break
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, out + err
    if workers == "1":  # nothing new started after the interrupt
        assert "".join([*before, out]).count("synthesizing '") == 1, out
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    said = lines[0]
    assert said.startswith("interrupted:") and "run the same command again" in said
    assert (run_dir / "001-brief.json").is_file()  # what completed is kept
    time.sleep(1)  # every process of the run (stages, sandboxed workers, harness) is gone
    left = subprocess.run(["pgrep", "-f", str(run_dir)], capture_output=True, text=True)
    assert left.stdout.strip() == "", left.stdout

    ok(run(*command, cwd=tmp_path))
    assert (run_dir / "007-report.md").is_file()


@pytest.mark.parametrize("mode", ["suggest", "dry-run"])
def test_inputs_of_another_shape_stop_before_any_spec_or_synthesis(
    synth_bin: Path, tmp_path: Path, mode: str
) -> None:
    plan = _plan(tmp_path)
    wired = "risks: {stage: brief, select: risks}"
    assert wired in plan.read_text()
    plan.write_text(plan.read_text().replace(wired, "risks: {stage: brief, select: workstreams}"))
    run_dir = tmp_path / "run"
    done = run(
        synth_bin / "plugin-hub", "run", plan, "--run-dir", run_dir, "--synthesis", mode,
        cwd=tmp_path,
    )  # fmt: skip
    # 2 for the bad input; in suggest mode the solar-yield stage stops at its miss too (3)
    assert done.returncode == (2 if mode == "dry-run" else 3), done.stdout + done.stderr
    (line,) = [x for x in done.stderr.splitlines() if "stage 'risks'" in x]
    assert "stage 'risks': input 'risks' (from stage 'brief' (001-brief.json), select " in line
    assert "breaks the contract's input schema at $.risks" in line
    assert "synthesizing would not help" in line
    assert not (run_dir / "006-risks.plugin-spec.json").exists()
    assert not (run_dir / ".synth" / "risk_score_matrix").exists()


def test_the_worker_install_names_the_synth_extra_at_a_miss_it_cannot_fill(
    hub_process: HubProcess, installs: Installs, tmp_path: Path
) -> None:
    """Publish mode reuses with the worker install alone; synthesizing needs [synth]."""
    plan = _plan(tmp_path)
    worker_bin = installs.venv("worker-no-synth", "worker")  # it installs what it reuses
    renamed = plan.read_text().replace("risk.score_matrix", "risk.other_matrix")
    plan.write_text(renamed)
    done = run(
        worker_bin / "plugin-hub", "run", plan, "--run-dir", tmp_path / "run",
        "--synthesis", "publish", env=clean_env(**hub_process.client_env), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert "needs the synth extra" in done.stderr
    assert "pip install 'planexe-plugin-hub[synth]'" in done.stderr


def test_version_help_and_completion(worker_bin: Path, tmp_path: Path) -> None:
    version = ok(run(worker_bin / "plugin-hub", "--version", cwd=tmp_path))
    assert version.strip() == "plugin-hub (planexe-plugin-hub) 0.1.0"
    shown = ok(run(worker_bin / "plugin-hub", "--help", cwd=tmp_path))
    assert "<bool>" not in shown and "--show-completion" in shown
    completion = ok(run(worker_bin / "plugin-hub", "--show-completion", "bash", cwd=tmp_path,
                        env=clean_env(SHELL="/bin/bash")))  # fmt: skip
    assert "complete" in completion and "plugin-hub" in completion.lower().replace("_", "-")


def test_dry_run_from_the_worker_install_names_the_synth_extra(
    worker_bin: Path, tmp_path: Path
) -> None:
    plan = _plan(tmp_path)
    done = run(worker_bin / "plugin-hub", "run", plan, "--run-dir", tmp_path / "run",
               "--synthesis", "dry-run", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert "needs the synth extra" in done.stderr
