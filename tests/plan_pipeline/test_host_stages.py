"""What both PlanExe hosts share (``plan_pipeline/host_stages.py``): a run's own mode file
comes before the environment, and only a plain file of the run's owner is read."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from plan_pipeline.host_stages import CapabilityTaskError, load_contract, synthesis_mode
from plan_pipeline.synthesis import SynthesisMode


def test_the_run_directorys_mode_comes_before_the_environments(tmp_path: Path) -> None:
    env = {"PLANEXE_SYNTHESIS": "off"}
    assert synthesis_mode(env, tmp_path) is SynthesisMode.OFF
    (tmp_path / "synthesis_mode.txt").write_text("dry-run\n")
    assert synthesis_mode(env, tmp_path) is SynthesisMode.DRY_RUN


@pytest.mark.parametrize("attack", ["link", "fifo", "other user", "long"])
def test_a_mode_file_that_is_not_the_owners_plain_file_is_refused_in_one_line(
    tmp_path: Path, attack: str
) -> None:
    """Another local user who can write the run directory must not switch a run to publish
    (spending the owner's model money under the owner's hub token), nor hang it on a pipe."""
    mode_file = tmp_path / "synthesis_mode.txt"
    if attack == "link":
        (tmp_path / "elsewhere").write_text("publish")
        mode_file.symlink_to(tmp_path / "elsewhere")
    elif attack == "fifo":
        os.mkfifo(mode_file)
    elif attack == "other user":
        mode_file.write_text("publish")
        os.chown(mode_file, 65534, 65534)
    else:
        mode_file.write_text("publish" + " " * 100)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            synthesis_mode({"PLANEXE_SYNTHESIS": "off"}, tmp_path)
        except BaseException as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), "the mode file hung the run"
    (error,) = outcome
    assert isinstance(error, CapabilityTaskError) and "\n" not in str(error)
    assert "synthesis_mode.txt" in str(error)


def test_a_contract_nested_too_deeply_is_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("summary: s\nexamples:\n  - input: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(CapabilityTaskError) as raised:
        load_contract(deep)
    assert "deep.yaml" in str(raised.value)
