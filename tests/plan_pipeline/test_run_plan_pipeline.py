"""The example plan end to end in a fresh process: suggest mode, resume, workers, schedulers."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plan_pipeline.spec import PluginSpec
from tests.conftest import CliRunner

BUILTIN_OUTPUTS = ["001-brief.json", "002-wbs.json", "003-schedule.json", "004-budget.json"]
SPECS = ["005-solar_yield.plugin-spec.json", "006-risks.plugin-spec.json"]


def test_suggest_mode_completes_builtins_and_writes_specs(
    tmp_path: Path, run_cli: CliRunner, example_plan: Path
) -> None:
    run_dir = tmp_path / "run"
    result = run_cli("run", example_plan, "--run-dir", run_dir)
    assert result.code == 3, result.stderr
    names = sorted(p.name for p in run_dir.iterdir() if not p.name.startswith("."))
    assert names == sorted([*BUILTIN_OUTPUTS, *SPECS, "log.txt"])
    assert "Traceback" not in result.stderr + result.stdout
    # the stop message names the stage, the capability, the spec file and how to continue
    solar = next(line for line in result.stderr.splitlines() if "solar_yield" in line)
    assert "stage 'solar_yield' needs capability 'energy.solar_yield>=1.0'" in solar
    assert str(run_dir / SPECS[0]) in solar
    assert f"plugin-hub run {example_plan} --run-dir {run_dir} --synthesis dry-run" in solar

    spec = PluginSpec.read(run_dir / SPECS[0])
    assert spec.capability == "energy.solar_yield"
    assert spec.stage_name == "solar_yield"
    assert [r.set for r in spec.rules][:2] == ["arrays", "arrays[*].annual_kwh"]
    assert spec.permissions == []
    # golden example from the contract, plus the stage's real inputs from upstream outputs
    assert spec.examples[0].output is not None
    brief = json.loads((run_dir / "001-brief.json").read_text())
    assert spec.examples[-1].input == {
        "arrays": brief["system"]["arrays"],
        "peak_sun_hours": brief["site"]["peak_sun_hours"],
        "annual_demand_kwh": brief["demand"]["annual_kwh"],
    }
    assert spec.examples[-1].output is None

    schedule = json.loads((run_dir / "003-schedule.json").read_text())
    assert schedule["critical_path"][0] == "D1"
    assert schedule["finish_date"] > schedule["start_date"]
    budget = json.loads((run_dir / "004-budget.json").read_text())
    assert budget["subtotal"] == sum(
        t["cost"] for t in json.loads((run_dir / "002-wbs.json").read_text())["tasks"]
    )


def test_rerun_resumes_without_touching_completed_outputs(
    tmp_path: Path, run_cli: CliRunner, example_plan: Path
) -> None:
    run_dir = tmp_path / "run"
    assert run_cli("run", example_plan, "--run-dir", run_dir).code == 3
    before = {n: (run_dir / n).stat().st_mtime_ns for n in BUILTIN_OUTPUTS}
    again = run_cli("run", example_plan, "--run-dir", run_dir)
    assert again.code == 3
    for index, name in enumerate(["brief", "wbs", "schedule", "budget"], start=1):
        assert f"[{index}/7] {name}: done earlier" in again.stdout
    assert {n: (run_dir / n).stat().st_mtime_ns for n in BUILTIN_OUTPUTS} == before


def test_run_id_dir_environment_variable(
    tmp_path: Path, run_cli: CliRunner, example_plan: Path
) -> None:
    run_dir = tmp_path / "from-env"
    result = run_cli("run", example_plan, env={"RUN_ID_DIR": str(run_dir)})
    assert result.code == 3
    assert (run_dir / "004-budget.json").is_file()


def test_default_run_dir_is_created_under_run(
    tmp_path: Path, run_cli: CliRunner, example_plan: Path
) -> None:
    assert run_cli("run", example_plan).code == 3
    (created,) = (tmp_path / "run").iterdir()
    assert created.name.startswith("solar-microgrid-")
    assert (created / "001-brief.json").is_file()


def test_off_mode_writes_no_spec(tmp_path: Path, run_cli: CliRunner, example_plan: Path) -> None:
    run_dir = tmp_path / "run"
    result = run_cli("run", example_plan, "--run-dir", run_dir, "--synthesis", "off")
    assert result.code == 3
    assert "needs capability 'risk.score_matrix'" in result.stderr
    assert not list(run_dir.glob("*.plugin-spec.json"))
    assert (run_dir / "004-budget.json").is_file()


def test_two_workers_give_the_same_outputs(
    tmp_path: Path, run_cli: CliRunner, example_plan: Path
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_cli("run", example_plan, "--run-dir", one).code == 3
    assert run_cli("run", example_plan, "--run-dir", two, "--workers", "2").code == 3
    for name in BUILTIN_OUTPUTS:
        assert (one / name).read_text() == (two / name).read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def luigid(tmp_path: Path):  # type: ignore[no-untyped-def]
    port = _free_port()
    luigid_bin = Path(sys.executable).parent / "luigid"
    proc = subprocess.Popen(
        [
            str(luigid_bin),
            "--address",
            "127.0.0.1",
            "--port",
            str(port),
            "--state-path",
            str(tmp_path / "luigi-state.pickle"),
            "--logdir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("luigid did not start")
    yield f"http://127.0.0.1:{port}/"
    proc.terminate()
    proc.wait(timeout=10)


def test_central_scheduler(
    tmp_path: Path, run_cli: CliRunner, example_plan: Path, luigid: str
) -> None:
    run_dir = tmp_path / "run"
    result = run_cli("run", example_plan, "--run-dir", run_dir, "--scheduler-url", luigid)
    assert result.code == 3, result.stderr
    assert (run_dir / "004-budget.json").is_file()
    assert (run_dir / SPECS[1]).is_file()
