"""The library benchmark: a fixed set of plan stages run through one hub, in publish mode.

Each stage is a one-stage plan run by ``plugin-hub run --synthesis publish`` in a fresh
virtualenv against an embedded hub, in a fixed order: the risk matrix of the example plan, the
same contract under another name without rules, the same with ``likelihood`` called
``probability``, a look-alike that doubles the score, the solar yield, the solar yield with
``capacity_kw`` called ``peak_kw``, then the first two capabilities again. Printed: how each
miss was served (exact reuse, near match, synthesized, missed), the syntheses avoided, the
median time from the miss to the plugin loaded per route, and the library's redundancy
(pairs that pass each other's contract, found by the hub's duplicate check, per active
capability). The baseline is the same stages against a fresh hub with near matches off
(``PLANEXE_NEAR_MATCH=off``), in the same run.
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub_index.db import HubDatabase  # noqa: E402
from hub_index.home import init_home  # noqa: E402
from hub_index.index_files import IndexFiles  # noqa: E402
from hub_index.library import HubLibrary  # noqa: E402
from hub_index.server import embedded_hub  # noqa: E402
from tests.venvs import overlay_venv  # noqa: E402

PLAN = ROOT / "examples" / "plans" / "solar_microgrid" / "plan.yaml"
ROUTES = ("reused", "near-match", "synthesized", "missed")
RISKS = [
    {"id": "R1", "title": "Late panels", "likelihood": 4, "impact": 5},
    {"id": "R2", "title": "Permit delay", "likelihood": 2, "impact": 3},
]
ARRAYS = [{"name": "roof", "capacity_kw": 120, "performance_ratio": 0.8}]


def _renamed(value: Any, old: str, new: str) -> Any:
    return json.loads(json.dumps(value).replace(old, new))


def stages() -> list[dict[str, Any]]:
    """The fixed set of stages, in the order they run."""
    example = {s["name"]: s for s in yaml.safe_load(PLAN.read_text())["stages"]}
    risk = copy.deepcopy(example["risks"]["contract"])
    solar = copy.deepcopy(example["solar_yield"]["contract"])
    no_rules = {k: v for k, v in risk.items() if k != "rules"}
    doubled = copy.deepcopy(risk)
    doubled["rules"][1]["expr"] = "2 * item.likelihood * item.impact"
    doubled["output_schema"]["properties"]["risks"]["items"]["properties"]["score"]["maximum"] = 50
    doubled["constraints"][0] = "all(r.score == 2 * r.likelihood * r.impact for r in output.risks)"
    doubled["examples"][0]["output"]["risks"][0]["score"] = 40
    doubled["examples"][0]["output"]["risks"][1]["score"] = 4
    solar_inputs = {
        "arrays": {"value": ARRAYS},
        "peak_sun_hours": {"value": 4.5},
        "annual_demand_kwh": {"value": 300000},
    }

    def stage(capability: str, contract: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        return {"name": "stage", "capability": capability, "inputs": inputs, "contract": contract}

    risks_in = {"risks": {"value": RISKS}}
    return [
        stage("risk.score_matrix", risk, risks_in),
        stage("risk.level_matrix", no_rules, risks_in),
        stage(
            "risk.exposure_levels",
            _renamed(no_rules, "likelihood", "probability"),
            {"risks": {"value": _renamed(RISKS, "likelihood", "probability")}},
        ),
        stage("risk.double_scores", doubled, risks_in),
        stage("energy.solar_yield", solar, solar_inputs),
        stage(
            "energy.array_yield",
            _renamed(solar, "capacity_kw", "peak_kw"),
            _renamed(solar_inputs, "capacity_kw", "peak_kw"),
        ),
        stage("risk.score_matrix", risk, risks_in),
        stage("energy.solar_yield", solar, solar_inputs),
    ]


def run_library(work: Path, near_match: bool) -> dict[str, Any]:
    """Every stage against one fresh hub; how each was served and what the library holds."""
    home = init_home(work / "hub")
    served: list[tuple[str, str, float | None]] = []
    with embedded_hub(home):
        for index, stage in enumerate(stages()):
            folder = work / f"plan-{index}"
            folder.mkdir()
            plan = folder / "plan.yaml"
            plan.write_text(yaml.safe_dump({"name": f"p{index}", "stages": [stage]}))
            python = overlay_venv(work / f"venv-{index}")
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("PLANEXE_")},
                "PLANEXE_HUB_HOME": str(home.root),
                "PLANEXE_PROPERTY_EXAMPLES": os.environ.get("PLANEXE_PROPERTY_EXAMPLES", "25"),
                "PLANEXE_NEAR_MATCH": "on" if near_match else "off",
                "XDG_CACHE_HOME": str(work / f"cache-{index}"),
            }
            run_dir = folder / "run"
            subprocess.run(
                [python, "-m", "plan_pipeline.cli", "run", str(plan), "--run-dir", str(run_dir),
                 "--synthesis", "publish"],
                capture_output=True, text=True, env=env, check=False, timeout=900,
            )  # fmt: skip
            report = subprocess.run(
                [python, "-m", "plan_pipeline.cli", "report", str(run_dir), "--json"],
                capture_output=True, text=True, env=env, check=True,
            ).stdout  # fmt: skip
            (record,) = json.loads(report) or [
                {"resolution": "missed", "time_to_capability_s": None}
            ]
            how = record["resolution"] if record.get("ok", True) else "missed"
            served.append((stage["capability"], how or "missed", record["time_to_capability_s"]))
        with HubDatabase(home.settings().database_url) as db:
            files = IndexFiles(home.packages, home.staging, home.revoked, home.served_manifest)
            pairs = HubLibrary(db, files).find_duplicates(progress=lambda _line: None)
            active = {r.capability for r in db.list_plugins(include_revoked=False)}
    return {"served": served, "pairs": len(pairs), "capabilities": len(active)}


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    counts = {how: sum(1 for _, h, _ in result["served"] if h == how) for how in ROUTES}
    times = {
        how: [t for _, h, t in result["served"] if h == how and t is not None] for how in ROUTES
    }
    medians = {how: statistics.median(t) if t else None for how, t in times.items()}
    return {"counts": counts, "medians": medians}


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-library-") as tmp:
        started = time.perf_counter()
        ours = run_library(Path(tmp) / "near-match", near_match=True)
        baseline = run_library(Path(tmp) / "baseline", near_match=False)
        took = time.perf_counter() - started
    print(f"library: {len(stages())} plan stages through one hub in publish mode ({took:.0f} s)")
    print(f"  {'stage':24} {'near matches on':>16} {'off (baseline)':>16}")
    for (capability, how, _), (_, base, _) in zip(ours["served"], baseline["served"], strict=True):
        print(f"  {capability:24} {how:>16} {base:>16}")
    a, b = _summary(ours), _summary(baseline)
    print(f"  {'route':24} {'on':>16} {'off':>16}")
    for how in ROUTES:
        print(f"  {how:24} {a['counts'][how]:>16} {b['counts'][how]:>16}")
    for how in ("near-match", "synthesized"):
        on, off = (_seconds(x["medians"][how]) for x in (a, b))
        print(f"  median miss-to-loaded, {how:11} {on:>16} {off:>16}")
    avoided = b["counts"]["synthesized"] - a["counts"]["synthesized"]
    recovered_on = len(ours["served"]) - a["counts"]["missed"]
    recovered_off = len(baseline["served"]) - b["counts"]["missed"]
    print(
        f"syntheses avoided: {avoided} of {b['counts']['synthesized']} "
        f"({a['counts']['near-match']} near matches); stages served {recovered_on}/"
        f"{len(ours['served'])} against {recovered_off}/{len(baseline['served'])} without "
        f"near matches"
    )
    for name, result in (("on", ours), ("off", baseline)):
        per = result["pairs"] / result["capabilities"] if result["capabilities"] else 0.0
        print(
            f"redundancy ({name}): {result['pairs']} duplicate pair(s) among "
            f"{result['capabilities']} active capabilities ({per:.2f} per capability)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
