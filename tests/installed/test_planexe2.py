"""PlanExe2's capability skills, as installed: the stand-in checkout with the example skills
copied into ``skills/`` as the README says, run with ``python -m planexe_skill`` from
virtualenvs that hold the project's wheel: the pre-flight (worker part) stops before any stage
with every spec, ``dry-run`` (``[synth]``) completes, ``publish`` (``[synth]``) publishes to a
hub process reached through its exported client files, and a fresh worker-only install
reuses."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.installed.conftest import HubProcess, Installs, clean_env
from tests.planexe2_standin.harness import planexe2_checkout

OUTPUTS = (
    ("risk_scores_raw.json", "risk_scores.md"),
    ("pert_estimates_raw.json", "pert_estimates.md"),
    ("wbs_cost_rollup_raw.json", "wbs_cost_rollup.md"),
)


def _in(root: Path, bin_dir: Path, *command: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """A command of ``bin_dir``'s environment, run from the PlanExe2 checkout."""
    env = clean_env(**extra) | {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONWARNINGS": "ignore",
    }
    return subprocess.run(
        list(command), env=env, capture_output=True, text=True, timeout=900, check=False,
        cwd=root,
    )  # fmt: skip


def test_the_four_paths_in_planexe2(
    installs: Installs, hub_process: HubProcess, tmp_path: Path
) -> None:
    root = planexe2_checkout(tmp_path)
    worker = installs.venv("planexe2-worker", "worker")
    synth = installs.venv("planexe2-synth", "synth")
    runs = {n: tmp_path / f"run-{n}" for n in (1, 2, 3)}
    for run_dir in runs.values():
        made = _in(root, worker, "python", "-m", "planexe_skill", "create", str(run_dir),
                   "--prompt", "A community solar microgrid")  # fmt: skip
        assert made.returncode == 0, made.stderr

    stopped = _in(root, worker, "plugin-hub", "planexe2", "preflight", "skills", "--run-dir",
                  str(runs[1]))  # fmt: skip
    assert stopped.returncode == 3, stopped.stdout + stopped.stderr
    assert "3 missing capabilities found before any stage ran:" in stopped.stderr
    assert len(list(runs[1].glob("*.plugin-spec.json"))) == 3
    assert not (runs[1] / "usage_metrics.jsonl").exists()  # no LLM call

    dry = _in(root, synth, "python", "-m", "planexe_skill", "run", str(runs[1]),
              PLANEXE_SYNTHESIS="dry-run")  # fmt: skip
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    for raw, markdown in OUTPUTS:
        answer = json.loads((runs[1] / raw).read_text())
        assert answer["metadata"]["plugin"]["tier"] == "generated"
        assert (runs[1] / markdown).read_text() == answer["markdown"]

    hub = hub_process.client_env
    first = _in(root, synth, "python", "-m", "planexe_skill", "run", str(runs[2]),
                PLANEXE_SYNTHESIS="publish", **hub)  # fmt: skip
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert (first.stdout + first.stderr).count(": published planexe-gen-") == 3

    fresh = installs.venv("planexe2-reuse", "worker")
    second = _in(root, fresh, "python", "-m", "planexe_skill", "run", str(runs[3]),
                 PLANEXE_SYNTHESIS="publish", **hub)  # fmt: skip
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    said = second.stdout + second.stderr
    assert said.count("reused '") == 3 and "synthesizing" not in said
    for raw, _markdown in OUTPUTS:
        assert json.loads((runs[3] / raw).read_text())["metadata"]["plugin"]["version"] == "1.0.0"
