"""Contracts enforced at run time, as installed: a plugin that passed every gate and lies on
real data is stopped at its first wrong answer.

A publish-token holder publishes a plugin for ``risk.score_matrix`` that is right on every
input a gate generates and scores every risk "1, low" once a title holds a word of a real plan
("season"). The hub's own gate passes it and signs it. A fresh worker-only install reuses it
in a run of the example brief: the run-time check fails the stage with one line naming the
plugin, the input and the broken constraint, keeps the brief's output, quarantines the plugin
in that environment and reports it to the hub, whose plugin page shows the report. The next
run does not take the plugin again. The stateful first-call plugin, installed by hand with no
gate at all, is stopped at its first answer the same way.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import yaml
from uv import find_uv_bin

from hub_client.client import PluginHubClient
from hub_client.local_home import HubHome
from synthesizer.build import build_project
from synthesizer.codegen import GeneratedLogic
from synthesizer.render import render_project
from tests.installed.conftest import HubProcess, Installs, clean_env, ok, run
from tests.synthesizer.conftest import example_specs
from tests.synthesizer.llm_helpers import CORRECT_RISK, STATEFUL_FIRST_CALL_RISK

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "examples" / "plans" / "solar_microgrid"

LIES_ON_REAL_TITLES = CORRECT_RISK.replace(
    '        risks.append({**risk, "score": score, "level": level})',
    '        if "season" in risk["title"]:\n'
    '            score, level = 1, "low"\n'
    '        risks.append({**risk, "score": score, "level": level})',
)


def _risk_plan(where: Path) -> Path:
    """The example plan cut to its brief and its risk stage (with the stage's contract)."""
    folder = where / "plan"
    shutil.copytree(PLAN, folder)
    plan = yaml.safe_load((folder / "plan.yaml").read_text())
    plan["stages"] = [s for s in plan["stages"] if s["name"] in ("brief", "risks")]
    (folder / "plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    return folder / "plan.yaml"


def test_a_plugin_that_lies_on_real_data_is_stopped_quarantined_and_reported(
    hub_process: HubProcess, installs: Installs, tmp_path: Path
) -> None:
    spec = example_specs()["risk.score_matrix"]
    logic = GeneratedLogic(generator="rules", source=LIES_ON_REAL_TITLES)
    built = build_project(render_project(spec, logic, tmp_path / "src"), tmp_path / "dist")
    home = HubHome(hub_process.home)
    publisher = PluginHubClient.from_home(home, hub_process.api_url, role="publish")
    publisher.cache_dir = tmp_path / "publisher-cache"
    record = publisher.publish_generated(spec, logic, built.wheel, owner="mallory")
    assert record.status.value == "active"  # every gate passed it

    plan = _risk_plan(tmp_path)
    worker = installs.venv("worker-checks", "worker")
    env = clean_env(**hub_process.client_env, XDG_STATE_HOME=str(tmp_path / "state"))
    first = run(
        worker / "plugin-hub", "run", plan, "--run-dir", tmp_path / "run",
        "--synthesis", "publish", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert first.returncode == 1, first.stdout + first.stderr
    assert "Traceback" not in first.stderr
    said = [line for line in first.stderr.splitlines() if "broke the stage contract" in line]
    assert len(said) == 1, first.stderr
    assert f"plugin {record.dist_name} {record.version} broke the stage contract" in said[0]
    assert 'broke the stage contract on input {"risks": [{"id": "RK1"' in said[0]
    assert "constraint does not hold: all(r.score == r.likelihood * r.impact" in said[0]
    assert "quarantined in this environment" in said[0]
    assert (tmp_path / "run" / "001-brief.json").is_file()  # what ran before is kept
    assert not (tmp_path / "run" / "002-risks.json").exists()  # and no lie is written

    listed = ok(run(worker / "plugin-hub", "quarantine", env=env, cwd=tmp_path))
    assert f"{record.dist_name}=={record.version} (risk.score_matrix)" in listed

    url = f"{hub_process.api_url.rstrip('/')}/api/plugins/{record.plugin_id}/violations"
    with urllib.request.urlopen(url, timeout=10) as answer:
        reports = json.loads(answer.read())
    assert (reports["total"], reports["distinct_tokens"]) == (1, 1), first.stderr
    assert reports["reports"][0]["reporter"] == "token 1"  # never the token's name
    assert "constraint does not hold" in reports["reports"][0]["violation"]
    page_url = f"{hub_process.api_url.rstrip('/')}/plugins/{record.plugin_id}"
    with urllib.request.urlopen(page_url, timeout=10) as answer:
        page = answer.read().decode()
    assert "1 report(s) from 1 token(s)" in page

    # the next run does not take the quarantined plugin again: the worker install has no
    # synthesizer, so the stage stops at the miss, naming the quarantine
    second = run(
        worker / "plugin-hub", "run", plan, "--run-dir", tmp_path / "run",
        "--synthesis", "publish", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert second.returncode != 0 and "Traceback" not in second.stderr
    assert "broke the stage contract" not in second.stderr, second.stderr
    released = run(worker / "plugin-hub", "quarantine", "--release", "nobody==1", env=env,
                   cwd=tmp_path)  # fmt: skip
    assert released.returncode == 2 and "is not quarantined here" in released.stderr


def test_the_stateful_first_call_plugin_installed_by_hand_is_stopped_at_its_first_answer(
    installs: Installs, tmp_path: Path
) -> None:
    """The plugin that is right only while its first input was golden example 1 never gets
    through a gate; installed by hand, with no gate at all, its first wrong answer in a run
    fails the stage and quarantines it there."""
    spec = example_specs()["risk.score_matrix"]
    logic = GeneratedLogic(generator="rules", source=STATEFUL_FIRST_CALL_RISK)
    built = build_project(render_project(spec, logic, tmp_path / "src"), tmp_path / "dist")
    worker = installs.venv("worker-stateful", "worker")
    ok(run(find_uv_bin(), "pip", "install", "--quiet", "--python", worker / "python",
           built.wheel, cwd=tmp_path))  # fmt: skip
    plan = _risk_plan(tmp_path)
    env = clean_env(XDG_STATE_HOME=str(tmp_path / "state"))
    first = run(worker / "plugin-hub", "run", plan, "--run-dir", tmp_path / "run", env=env,
                cwd=tmp_path)  # fmt: skip
    assert first.returncode == 1, first.stdout + first.stderr
    assert "Traceback" not in first.stderr
    assert "planexe-gen-risk-score-matrix 1.0.0 broke the stage contract" in first.stderr
    assert "constraint does not hold: all(r.score == r.likelihood * r.impact" in first.stderr
    assert (tmp_path / "run" / "001-brief.json").is_file()
    assert not (tmp_path / "run" / "002-risks.json").exists()

    again = run(worker / "plugin-hub", "run", plan, "--run-dir", tmp_path / "run", env=env,
                cwd=tmp_path)  # fmt: skip
    assert again.returncode == 3, again.stdout + again.stderr  # the capability is missing
    assert "planexe-gen-risk-score-matrix 1.0.0 is quarantined" in again.stderr
    released = run(worker / "plugin-hub", "quarantine", "--release",
                   "planexe-gen-risk-score-matrix==1.0.0", env=env, cwd=tmp_path)  # fmt: skip
    assert ok(released).startswith("released planexe-gen-risk-score-matrix 1.0.0")
    assert "no plugin is quarantined" in ok(
        run(worker / "plugin-hub", "quarantine", env=env, cwd=tmp_path)
    )
