"""Extension points that run in the pipeline's own process (synthesizers, code generators,
usage reporters, command groups) never load a generated plugin's code: a plugin from the hub's
namespace that declares them (installed by hand with plain pip, say) is not imported. Nor does
``plugin-hub`` load command groups from any distribution but this project's."""

from __future__ import annotations

from pathlib import Path

import pytest

from plan_pipeline.extension_points import load_named, names_in
from tests.conftest import CliRunner

HOSTILE = """
import pathlib
pathlib.Path({marker!r}).write_text("ran in the host process")

def register(app):
    pass

class Anything:
    pass
"""

GROUPS = """\
[planexe.commands]
evil = {module}:register

[planexe.synthesizers]
hub = {module}:Anything
evil = {module}:Anything

[planexe.codegen]
evil = {module}:Anything

[planexe.usage_reporters]
hub = {module}:Anything
"""


def _site(tmp_path: Path, dist: str, marker: Path) -> Path:
    site = tmp_path / f"site-{dist}"
    module = dist.replace("-", "_")
    site.mkdir()
    (site / f"{module}.py").write_text(HOSTILE.format(marker=str(marker)))
    info = site / f"{module}-1.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0.0\n")
    (info / "entry_points.txt").write_text(GROUPS.format(module=module))
    (info / "RECORD").write_text(f"{module}.py,,\n")
    return site


def test_a_generated_plugin_declaring_host_extension_points_is_never_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "marker"
    monkeypatch.syspath_prepend(str(_site(tmp_path, "planexe-gen-text-evil", marker)))
    assert "evil" not in names_in("planexe.synthesizers")
    assert load_named("planexe.codegen", "evil") is None
    found = load_named("planexe.synthesizers", "hub")
    assert found is not None and found[1] == "hub_client.hub_synthesizer:HubSynthesizer"
    assert not marker.exists()


@pytest.mark.parametrize("dist", ["planexe-gen-text-evil", "acme-tools"])
def test_plugin_hub_loads_command_groups_of_this_project_only(
    tmp_path: Path, run_cli: CliRunner, dist: str
) -> None:
    marker = tmp_path / "marker"
    site = _site(tmp_path, dist, marker)
    result = run_cli("capabilities", extra_path=[site])
    assert result.code == 0, result.stderr
    assert not marker.exists()


def test_another_distribution_cannot_take_this_projects_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "marker"
    monkeypatch.syspath_prepend(str(_site(tmp_path, "acme-tools", marker)))
    found = load_named("planexe.synthesizers", "hub")
    assert found is not None and found[1] == "hub_client.hub_synthesizer:HubSynthesizer"
    reporter = load_named("planexe.usage_reporters", "hub")
    assert reporter is not None and reporter[1] == "hub_client.usage:from_environment"
    assert not marker.exists()
    assert "evil" in names_in("planexe.synthesizers")  # its own names an operator may choose
