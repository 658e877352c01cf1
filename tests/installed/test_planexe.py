"""PlanExe's capability-backed stages, as installed: the stand-in checkout with the example
stages copied in as the README says, run with ``python -m worker_plan_internal.plan.
run_plan_pipeline`` from virtualenvs that hold PlanExe's pins and the project's wheel
(``-c constraints/planexe-fd5cd20.txt``): ``suggest`` stops before any stage with every spec,
``dry-run`` (``[synth]``) completes, ``publish`` (``[synth]``) publishes to a hub process
reached through its exported client files, and a fresh worker-only install reuses."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.installed.conftest import HubProcess, Installs, clean_env
from tests.planexe_standin.harness import MODULE, planexe_checkout

OUTPUTS = (
    ("003-3-risk_scores_raw.json", "003-4-risk_scores.md"),
    ("022-3-pert_estimates_raw.json", "022-4-pert_estimates.md"),
    ("023-5-wbs_cost_rollup_raw.json", "023-6-wbs_cost_rollup.md"),
)


def _planexe(
    root: Path, run_dir: Path, bin_dir: Path, **extra: str
) -> subprocess.CompletedProcess[str]:
    """PlanExe's runner in ``bin_dir``'s environment, its checkout on the path as PlanExe's
    own ``worker_plan`` is."""
    run_dir.mkdir(parents=True, exist_ok=True)
    env = clean_env(**extra) | {
        "PYTHONPATH": str(root),
        "RUN_ID_DIR": str(run_dir),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONWARNINGS": "ignore",
    }
    return subprocess.run(
        [bin_dir / "python", "-m", MODULE],
        env=env, capture_output=True, text=True, timeout=600, check=False, cwd=run_dir.parent,
    )  # fmt: skip


def test_the_four_paths_in_planexe_under_its_pins(
    installs: Installs, hub_process: HubProcess, tmp_path: Path
) -> None:
    root = planexe_checkout(tmp_path)
    worker = installs.venv("planexe-worker", "worker", constraints=True)
    synth = installs.venv("planexe-synth", "synth", constraints=True)

    stopped = _planexe(root, tmp_path / "run-1", worker)  # PLANEXE_SYNTHESIS unset: suggest
    assert "3 missing capabilities found before any stage ran" in stopped.stdout, stopped.stdout
    assert len(list((tmp_path / "run-1").glob("*.plugin-spec.json"))) == 3
    assert not (tmp_path / "run-1" / OUTPUTS[0][0]).exists()

    dry = _planexe(root, tmp_path / "run-1", synth, PLANEXE_SYNTHESIS="dry-run")
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    for raw, markdown in OUTPUTS:
        assert (tmp_path / "run-1" / markdown).read_text() == json.loads(
            (tmp_path / "run-1" / raw).read_text()
        )["markdown"]

    hub = hub_process.client_env
    first = _planexe(root, tmp_path / "run-2", synth, PLANEXE_SYNTHESIS="publish", **hub)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert first.stdout.count(": published planexe-gen-") == 3

    fresh = installs.venv("planexe-reuse", "worker", constraints=True)
    second = _planexe(root, tmp_path / "run-3", fresh, PLANEXE_SYNTHESIS="publish", **hub)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert second.stdout.count("reused '") == 3
    assert "synthesizing" not in second.stdout
    for raw, markdown in OUTPUTS:
        for run in ("run-1", "run-3"):
            assert (tmp_path / run / raw).read_text() == (tmp_path / "run-2" / raw).read_text()
            assert (tmp_path / run / markdown).is_file()
