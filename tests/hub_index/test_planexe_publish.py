"""PlanExe's capability-backed stages in the publish mode: the first PlanExe run synthesizes,
signs and publishes each plugin; a later run, in another environment and run directory,
installs them from the hub, verified, without synthesizing."""

from __future__ import annotations

import json
from pathlib import Path

from hub_index.client import PluginHubClient
from hub_index.server import RunningHub
from tests.hub_index.conftest import hub_env
from tests.planexe_standin.harness import planexe_checkout, run_planexe
from tests.venvs import overlay_venv

CAPABILITIES = ("risk.planexe_scores", "schedule.pert_estimates", "budget.wbs_cost_rollup")
OUTPUTS = (
    ("003-3-risk_scores_raw.json", "003-4-risk_scores.md"),
    ("022-3-pert_estimates_raw.json", "022-4-pert_estimates.md"),
    ("023-5-wbs_cost_rollup_raw.json", "023-6-wbs_cost_rollup.md"),
)


def test_planexe_stages_publish_once_and_later_runs_reuse(hub: RunningHub, tmp_path: Path) -> None:
    root = planexe_checkout(tmp_path)
    hub_vars = {k: v for k, v in hub_env(hub.home).items() if k.startswith("PLANEXE_HUB")}
    first_python = overlay_venv(tmp_path / "venv-a")
    first = run_planexe(
        root, tmp_path / "run-a", first_python, PLANEXE_SYNTHESIS="publish", **hub_vars
    )
    assert first.returncode == 0, first.stdout[-3000:]
    assert first.stdout.count(": published planexe-gen-") == 3

    client = PluginHubClient.from_home(hub.home)
    for capability in CAPABILITIES:
        (record,) = client.records(capability)
        assert record.trust_tier.value == "generated"

    second_python = overlay_venv(tmp_path / "venv-b")
    second = run_planexe(
        root, tmp_path / "run-b", second_python, PLANEXE_SYNTHESIS="publish", **hub_vars
    )
    assert second.returncode == 0, second.stdout[-3000:]
    assert "synthesizing" not in second.stdout
    assert second.stdout.count("reused '") == 3
    assert not (tmp_path / "run-b" / ".synth").exists()
    for raw_name, markdown_name in OUTPUTS:
        a = json.loads((tmp_path / "run-a" / raw_name).read_text())
        assert json.loads((tmp_path / "run-b" / raw_name).read_text()) == a
        for run in ("run-a", "run-b"):  # PlanExe's pair: the raw JSON and its markdown
            assert (tmp_path / run / markdown_name).read_text() == a["markdown"]
