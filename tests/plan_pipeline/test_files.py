"""Writing a run's files (``plan_pipeline/files.py``) against links planted in the run folder."""

from __future__ import annotations

import os
from pathlib import Path

from plan_pipeline.files import write_atomic
from plan_pipeline.spec import PluginSpec, write_spec


def test_a_link_planted_at_a_temporary_name_is_never_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run = tmp_path / "run"
    run.mkdir()
    target = run / "003-3-risk_scores.plugin-spec.json"
    # the names earlier versions used, for this process and its neighbours
    for pid in range(os.getpid() - 50, os.getpid() + 50):
        (run / f".{target.name}.{pid}.tmp").symlink_to(victim)
    (run / f".{target.name}.tmp").symlink_to(victim)
    (run / f"{target.name}.tmp").symlink_to(victim)

    spec = PluginSpec(capability="risk.scores", stage_name="s", input_schema={}, output_schema={})
    write_spec(spec, target)
    write_atomic(run / "001-brief.json", "{}")
    assert victim.read_text() == "precious"
    assert PluginSpec.read(target).capability == "risk.scores"
    assert (run / "001-brief.json").read_text() == "{}"
    assert sorted(p.name for p in run.iterdir() if not p.is_symlink()) == [
        "001-brief.json", target.name,
    ]  # fmt: skip
