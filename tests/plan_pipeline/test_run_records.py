"""``plugin-hub report RUN_DIR``: what one run resolved, synthesized and reused, and how long
each stage took, from the records its stages leave in the run directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CliRunner

FAST = {"PLANEXE_PROPERTY_EXAMPLES": "10", "COLUMNS": "160"}


def test_a_run_that_missed_then_synthesized_is_reported_stage_by_stage(
    tmp_path: Path, run_cli: CliRunner, example_plan: Path
) -> None:
    run_dir = tmp_path / "run"
    assert run_cli("run", example_plan, "--run-dir", run_dir, env=FAST).code == 3
    stopped = {r["stage"]: r for r in json.loads(run_cli("report", run_dir, "--json").stdout)}
    assert stopped["solar_yield"]["resolution"] == "missed"
    assert stopped["solar_yield"]["ok"] is False
    assert "wrote the plugin spec" in stopped["solar_yield"]["error"]
    assert stopped["brief"]["resolution"] == "installed" and stopped["brief"]["ok"] is True

    done = run_cli("run", example_plan, "--run-dir", run_dir, "--synthesis", "dry-run", env=FAST)
    assert done.code == 0, done.stderr
    records = {r["stage"]: r for r in json.loads(run_cli("report", run_dir, "--json").stdout)}
    assert len(records) == 7
    for stage in ("solar_yield", "risks"):
        assert records[stage]["resolution"] == "synthesized" and records[stage]["ok"] is True
        assert records[stage]["provider"].startswith("planexe-gen-")
        assert 0 < records[stage]["time_to_capability_s"] <= records[stage]["seconds"]
    assert records["brief"]["resolution"] == "installed"  # from the first run, kept

    table = run_cli("report", run_dir, env=FAST)
    assert table.code == 0
    assert "7 stage(s): 5 installed, 2 synthesized; 0 failed" in table.stdout
    assert "planexe-gen-risk-score-matrix 1.0.0" in table.stdout


def test_a_missing_run_directory_is_one_line(tmp_path: Path, run_cli: CliRunner) -> None:
    result = run_cli("report", tmp_path / "nowhere")
    assert result.code == 2
    assert result.stderr.strip() == (
        f"error: run directory {tmp_path / 'nowhere'} does not exist. Check the path"
    )


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[" * 200_000,
        json.dumps({"stage": "s", "capability": "a.b", "resolution": "[/bogus]", "provider": None,
                    "seconds": 1, "time_to_capability_s": None, "ok": True,
                    "finished_at": "2026-01-01T00:00:00+00:00"}),
        json.dumps({"stage": "s", "capability": "a.b", "resolution": None, "provider": None,
                    "seconds": 1, "time_to_capability_s": None, "ok": True,
                    "finished_at": "2026-01-01T00:00:00"}),
    ],
    ids=["not json", "nested too deep", "markup for a resolution", "a time without a zone"],
)  # fmt: skip
def test_a_damaged_stage_record_is_one_line(tmp_path: Path, run_cli: CliRunner, text: str) -> None:
    folder = tmp_path / "run" / ".planexe" / "stages"
    folder.mkdir(parents=True)
    (folder / "s.json").write_text(text)
    result = run_cli("report", tmp_path / "run")
    assert result.code == 2, result.stderr
    assert result.stderr.strip() == (
        f"error: {folder / 's.json'} is not a stage record. Delete it; the stage's next run "
        "writes it again"
    )


def test_only_regular_files_are_read(tmp_path: Path, run_cli: CliRunner) -> None:
    import os

    folder = tmp_path / "run" / ".planexe" / "stages"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "fifo.json")  # reading it would wait for ever
    (folder / "link.json").symlink_to("/etc/hostname")
    result = run_cli("report", tmp_path / "run")
    assert result.code == 0 and "has ended yet" in result.stdout
