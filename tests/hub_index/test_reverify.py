"""The hub's rebuild of a published plugin runs in a process of its own, under a deadline:
the spec is a stranger's, and what the synthesizer does with it must not hold up the hub."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

from hub_client.errors import HubError
from hub_index.reverify import GatesFailedOnHubError, GeneratedPublish, reverify
from synthesizer.build import build_project
from synthesizer.render import render_project
from synthesizer.rules_codegen import RulesCodeGenerator
from tests.hub_index.conftest import area_spec


def _publish(tmp_path: Path, source: str | None = None) -> GeneratedPublish:
    spec = area_spec()
    logic = RulesCodeGenerator().generate(spec)
    if source is not None:
        logic = logic.model_copy(update={"source": source})
    project = render_project(spec, logic, tmp_path / "worker" / "src")
    wheel = build_project(project, tmp_path / "worker" / "dist").wheel
    return GeneratedPublish(
        spec=spec,
        generator=logic.generator,
        logic_source=logic.source,
        wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
        owner="test",
    )


def _processes_under(folder: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "hub_index.reverify_main" in command and str(folder) in command:
                found.append(int(entry.name))
    return found


def test_a_rebuild_gives_the_same_wheel_in_its_own_process(tmp_path: Path) -> None:
    publish = _publish(tmp_path)
    rebuilt = reverify(publish, tmp_path / "hub")
    assert hashlib.sha256(rebuilt.wheel).hexdigest() == publish.wheel_sha256
    assert rebuilt.pass_rate == 1.0
    assert not list((tmp_path / "hub").iterdir())  # its folder is gone


def test_a_rebuild_that_takes_too_long_is_stopped_with_all_it_started(tmp_path: Path) -> None:
    publish = _publish(tmp_path)
    with pytest.raises(HubError, match=r"took longer than 0\.5 s and was stopped"):
        reverify(publish, tmp_path / "hub", timeout_s=0.5)
    assert _processes_under(tmp_path / "hub") == []
    assert os.path.isdir(tmp_path / "hub") and not list((tmp_path / "hub").iterdir())


def test_gates_that_fail_on_the_hub_are_told(tmp_path: Path) -> None:
    publish = _publish(tmp_path, "import socket\n\ndef compute(input):\n    return {}\n")
    with pytest.raises(GatesFailedOnHubError, match=r"failed gate\(s\) static_analysis"):
        reverify(publish, tmp_path / "hub")


def test_a_failed_rebuild_tells_the_publisher_nothing_of_the_hubs_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub's advisory service is unreachable (its address is the hub's own
    configuration): the refusal says which gate failed and why, with no path of the hub's
    machine and no address in it."""
    publish = _publish(tmp_path)
    monkeypatch.setenv("PLANEXE_OSV_URL", "http://127.0.0.1:1/internal-advisories")
    with pytest.raises(GatesFailedOnHubError) as refused:
        reverify(publish, tmp_path / "hub")
    problem = refused.value.problem
    assert "failed gate(s) dependency_audit (1 finding(s): " in problem
    for fact in (str(tmp_path), "127.0.0.1", "internal-advisories", sys.prefix, "/tmp"):
        assert fact not in problem, fact


def test_what_a_plugin_prints_on_the_hub_never_reaches_the_publisher(tmp_path: Path) -> None:
    """A plugin whose answer carries what it read on the hub (its interpreter's path here, in
    any spelling a scrubber could miss) fails the gates: the refusal names the gate and the
    rule, never the plugin's text."""
    leak = (
        "def compute(input):\n"
        "    raise ValueError('LEAK ' + 'x' + str(len(input)) + ' base64:L3Nydi9odWI=')\n"
    )
    with pytest.raises(GatesFailedOnHubError) as refused:
        reverify(_publish(tmp_path, leak), tmp_path / "hub")
    problem = refused.value.problem
    assert "failed gate(s) contract_tests (" in problem
    assert "LEAK" not in problem and "L3Nydi9odWI" not in problem
