"""The example plan end to end in dry-run mode: every missing capability is synthesized
offline, verified, installed for the run only, used, and the final report is produced."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import CliRunner

FAST = {"PLANEXE_PROPERTY_EXAMPLES": "10"}


def test_suggest_then_dry_run_completes_the_plan(
    tmp_path: Path, run_cli: CliRunner, example_plan: Path
) -> None:
    run_dir = tmp_path / "run"
    assert run_cli("run", example_plan, "--run-dir", run_dir, env=FAST).code == 3
    budget_before = (run_dir / "004-budget.json").stat().st_mtime_ns

    result = run_cli("run", example_plan, "--run-dir", run_dir, "--synthesis", "dry-run", env=FAST)
    assert result.code == 0, result.stderr
    assert "plan complete: 7/7 stages" in result.stdout
    for capability in ("energy.solar_yield", "risk.score_matrix"):
        assert f"synthesizing '{capability}' (dry-run)" in result.stdout
        assert f"{capability}: report: every gate passed" in result.stdout
    assert (run_dir / "004-budget.json").stat().st_mtime_ns == budget_before

    brief = json.loads((run_dir / "001-brief.json").read_text())
    solar = json.loads((run_dir / "005-solar_yield.json").read_text())
    psh = brief["site"]["peak_sun_hours"]
    for array, src in zip(solar["arrays"], brief["system"]["arrays"], strict=True):
        expected = round(src["capacity_kw"] * psh * 365 * src["performance_ratio"], 1)
        assert array["annual_kwh"] == expected
    risks = json.loads((run_dir / "006-risks.json").read_text())
    top = max(risks["risks"], key=lambda r: r["score"])
    assert (top["id"], top["score"], top["level"]) == ("RK2", 16, "high")

    report = (run_dir / "007-report.md").read_text()
    assert "## Energy yield" in report and "## Risks" in report
    assert f"Total yield {solar['total_annual_kwh']:,.0f} kWh/yr" in report

    reports = sorted(p.name for p in run_dir.glob(".synth/*/dist/*.report.json"))
    assert reports == [
        "planexe-gen-energy-solar-yield-1.0.0.report.json",
        "planexe-gen-risk-score-matrix-1.0.0.report.json",
    ]
    installed = sorted(p.name for p in (run_dir / ".plugins").glob("*.dist-info"))
    assert installed == [
        "planexe_gen_energy_solar_yield-1.0.0.dist-info",
        "planexe_gen_risk_score_matrix-1.0.0.dist-info",
    ]
    # nothing changed in the user's environment: the capabilities are still missing there
    listed = run_cli("capabilities").stdout
    assert "energy.solar_yield" not in listed and "risk.score_matrix" not in listed
    # and a rerun of the finished plan resumes without synthesizing again
    again = run_cli("run", example_plan, "--run-dir", run_dir, "--synthesis", "dry-run")
    assert again.code == 0
    assert "synthesizing" not in again.stdout


TWO_AREAS = """\
name: areas
stages:
  - name: small
    capability: geometry.area
    version: ">=2,<3"
    inputs: {w: {value: 2}, h: {value: 3}}
    contract: &contract
      input_schema:
        type: object
        required: [w, h]
        properties: {w: {type: number, minimum: 0, maximum: 100},
                     h: {type: number, minimum: 0, maximum: 100}}
      output_schema: {type: object, required: [area], properties: {area: {type: number}}}
      rules: [{set: area, expr: "input.w * input.h"}]
  - name: large
    capability: geometry.area
    version: ">=2,<3"
    inputs: {w: {value: 20}, h: {value: 30}}
    contract: *contract
"""


def test_version_range_and_parallel_workers_give_one_synthesis(
    tmp_path: Path, run_cli: CliRunner
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(TWO_AREAS)
    run_dir = tmp_path / "run"
    result = run_cli(
        "run", plan, "--run-dir", run_dir, "--synthesis", "dry-run", "--workers", "2", env=FAST
    )
    assert result.code == 0, result.stderr
    assert result.stdout.count("report: every gate passed") == 1
    assert json.loads((run_dir / "001-small.json").read_text()) == {"area": 6}
    assert json.loads((run_dir / "002-large.json").read_text()) == {"area": 600}
    installed = [p.name for p in (run_dir / ".plugins").glob("*.dist-info")]
    assert installed == ["planexe_gen_geometry_area-2.0.0.dist-info"]
