"""Near matches, as installed: a miss served by a plugin the hub has for another capability.

A ``[synth]`` install publishes ``risk.score_matrix`` (the rules generator writes it). Then
plans whose stage needs another capability run in publish mode against the same hub process:
one with the same contract under another name, one whose contract calls ``likelihood``
``probability`` (in the inputs and in the outputs' items). Neither contract has rules, so no
generator could write them: the hub's plugin serves them through a gated adapter, with no
synthesis of the logic, and the run report says ``near-match``. A contract that looks alike and
doubles the score is refused by the gates of every candidate, and the rules generator
synthesizes it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from tests.installed.conftest import HubProcess, Installs, clean_env, ok, run

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "examples" / "plans" / "solar_microgrid" / "plan.yaml"
RISKS = [
    {"id": "R1", "title": "Late panels", "likelihood": 4, "impact": 5},
    {"id": "R2", "title": "Permit delay", "likelihood": 2, "impact": 3},
]


def _risk_stage() -> dict[str, Any]:
    stages = yaml.safe_load(PLAN.read_text())["stages"]
    return copy.deepcopy(next(s for s in stages if s["name"] == "risks"))


def _plan(where: Path, name: str, stage: dict[str, Any]) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    plan = {"name": name, "title": name, "stages": [stage]}
    path = where / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


def _renamed(value: Any, old: str, new: str) -> Any:
    """``value`` (a contract or data) with the key and the word ``old`` called ``new``."""
    return json.loads(json.dumps(value).replace(f'"{old}"', f'"{new}"').replace(old, new))


def _stage(capability: str, contract: dict[str, Any], risks: list[Any]) -> dict[str, Any]:
    return {
        "name": "levels",
        "capability": capability,
        "inputs": {"risks": {"value": risks}},
        "contract": contract,
    }


def test_a_miss_is_served_by_a_near_match_and_a_look_alike_is_not(
    hub_process: HubProcess, installs: Installs, tmp_path: Path
) -> None:
    synth_bin = installs.venv("synth-near-match", "synth")
    env = clean_env(**hub_process.client_env)
    plugin_hub = synth_bin / "plugin-hub"

    def publish_run(plan: Path, run_dir: Path) -> tuple[str, dict[str, str]]:
        done = ok(run(plugin_hub, "run", plan, "--run-dir", run_dir, "--synthesis", "publish",
                      env=env, cwd=tmp_path))  # fmt: skip
        report = json.loads(ok(run(plugin_hub, "report", run_dir, "--json", env=env,
                                   cwd=tmp_path)))  # fmt: skip
        return done, {r["stage"]: r["resolution"] for r in report}

    risk = _risk_stage()
    risk["inputs"] = {"risks": {"value": RISKS}}
    _, how = publish_run(_plan(tmp_path / "p0", "risks", risk), tmp_path / "run-0")
    assert how == {"risks": "synthesized"}

    no_rules = {k: v for k, v in risk["contract"].items() if k != "rules"}
    same = _stage("risk.level_matrix", no_rules, RISKS)
    out, how = publish_run(_plan(tmp_path / "p1", "same", same), tmp_path / "run-1")
    assert how == {"levels": "near-match"}
    assert "near match: trying planexe-gen-risk-score-matrix 1.0.0 (directly;" in out
    assert "is served by planexe-gen-risk-score-matrix 1.0.0" in out and "no synthesis" in out
    assert "rules generator wrote" not in out
    table = ok(run(plugin_hub, "report", tmp_path / "run-1", env=env | {"COLUMNS": "160"},
                   cwd=tmp_path))  # fmt: skip
    assert "near match" in table and "1 near match;" in table
    levels = json.loads((tmp_path / "run-1" / "001-levels.json").read_text())
    assert [(r["score"], r["level"]) for r in levels["risks"]] == [(20, "high"), (6, "low")]

    renamed = _stage(
        "risk.exposure_levels",
        _renamed(no_rules, "likelihood", "probability"),
        _renamed(RISKS, "likelihood", "probability"),
    )
    out, how = publish_run(_plan(tmp_path / "p2", "renamed", renamed), tmp_path / "run-2")
    assert how == {"levels": "near-match"}
    assert "risks.probability -> likelihood" in out
    levels = json.loads((tmp_path / "run-2" / "001-levels.json").read_text())
    assert levels["risks"][0] == {
        "id": "R1", "title": "Late panels", "probability": 4, "impact": 5, "score": 20,
        "level": "high",
    }  # fmt: skip

    # alike in every field and word, but the score is doubled: no candidate passes the gates
    doubled = copy.deepcopy(risk["contract"])
    doubled["rules"][1]["expr"] = "2 * item.likelihood * item.impact"
    doubled["output_schema"]["properties"]["risks"]["items"]["properties"]["score"]["maximum"] = 50
    doubled["constraints"][0] = "all(r.score == 2 * r.likelihood * r.impact for r in output.risks)"
    doubled["examples"][0]["output"]["risks"][0]["score"] = 40
    doubled["examples"][0]["output"]["risks"][1]["score"] = 4
    look_alike = _stage("risk.double_scores", doubled, RISKS)
    out, how = publish_run(_plan(tmp_path / "p3", "alike", look_alike), tmp_path / "run-3")
    assert how == {"levels": "synthesized"}
    assert "does not serve it" in out and "rules generator wrote" in out

    every = json.loads(ok(run(plugin_hub, "search", "--json", env=env, cwd=tmp_path)))
    assert {r["capability"] for r in every} == {
        "risk.score_matrix", "risk.level_matrix", "risk.exposure_levels", "risk.double_scores"
    }  # fmt: skip
