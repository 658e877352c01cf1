"""The cached entry-point listing says what importlib says, and follows installs, upgrades and
removals at once."""

from __future__ import annotations

import importlib.metadata as metadata
import shutil
from pathlib import Path

import pytest

from plan_pipeline.installed_entry_points import entry_points
from tests.plugin_factory import PluginSource, install_plugin


def _listed(group: str) -> list[tuple[str, str, str]]:
    return [(ep.name, ep.value, (ep.dist.name if ep.dist else "")) for ep in entry_points(group)]


def _importlib(group: str) -> list[tuple[str, str, str]]:
    eps = metadata.entry_points(group=group)
    return [(ep.name, ep.value, (ep.dist.name if ep.dist else "")) for ep in eps]


@pytest.mark.parametrize("group", ["planexe.plugins", "planexe.synthesizers", "console_scripts"])
def test_the_same_entry_points_as_importlib(group: str) -> None:
    assert sorted(_listed(group)) == sorted(_importlib(group))
    assert _listed(group)


def test_installs_upgrades_and_removals_show_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    monkeypatch.syspath_prepend(str(site))
    plugin = PluginSource(dist="demo-cache", module="demo_cache", capabilities={"demo.one": "1"})
    assert not [e for e in _listed("planexe.plugins") if e[2] == "demo-cache"]
    install_plugin(site, plugin)
    assert ("demo.one", "demo_cache", "demo-cache") in _listed("planexe.plugins")

    # an upgrade: the old metadata folder goes, a new one with other entry points comes
    shutil.rmtree(site / "demo_cache-1.0.0.dist-info")
    upgraded = PluginSource(dist="demo-cache", module="demo_cache", version="2.0.0",
                            capabilities={"demo.two": "2"})  # fmt: skip
    install_plugin(site, upgraded)
    ours = [e for e in _listed("planexe.plugins") if e[2] == "demo-cache"]
    assert ours == [("demo.two", "demo_cache", "demo-cache")]
    assert sorted(_listed("planexe.plugins")) == sorted(_importlib("planexe.plugins"))

    # entry_points.txt rewritten in place
    info = site / "demo_cache-2.0.0.dist-info"
    (info / "entry_points.txt").write_text("[planexe.plugins]\ndemo.three = demo_cache\n")
    ours = [e for e in _listed("planexe.plugins") if e[2] == "demo-cache"]
    assert ours == [("demo.three", "demo_cache", "demo-cache")]

    shutil.rmtree(info)
    assert not [e for e in _listed("planexe.plugins") if e[2] == "demo-cache"]


def test_the_first_distribution_of_a_name_on_the_path_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in importlib: a shadowed distribution's entry points do not count, even when the
    one that shadows it has none."""
    front, back = tmp_path / "front", tmp_path / "back"
    install_plugin(back, PluginSource(dist="demo-shadow", module="demo_shadow",
                                      capabilities={"demo.shadow": "1"}))  # fmt: skip
    (front / "demo_shadow-9.0.dist-info").mkdir(parents=True)
    (front / "demo_shadow-9.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: demo-shadow\nVersion: 9.0\n"
    )
    monkeypatch.syspath_prepend(str(back))
    monkeypatch.syspath_prepend(str(front))
    assert not [e for e in _listed("planexe.plugins") if e[2] == "demo-shadow"]
    assert sorted(_listed("planexe.plugins")) == sorted(_importlib("planexe.plugins"))


def test_precedence_within_one_folder_is_importlibs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two metadata folders of one name in one folder (an egg-info beside a dist-info, a
    suffix in capitals): the same one counts as for importlib."""
    site = tmp_path / "site"
    for folder, module in (("demo_twice-1.1.egg-info", "mod_1_1"),
                           ("demo_twice-1.0.dist-info", "mod_1_0"),
                           ("Demo_Caps-1.0.DIST-INFO", "mod_caps")):  # fmt: skip
        info = site / folder
        info.mkdir(parents=True)
        name = folder.partition("-")[0]
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1\n")
        (info / "entry_points.txt").write_text(f"[planexe.plugins]\ndemo.{module} = {module}\n")
    monkeypatch.syspath_prepend(str(site))
    ours = sorted(e for e in _listed("planexe.plugins") if e[1].startswith("mod_"))
    theirs = sorted(e for e in _importlib("planexe.plugins") if e[1].startswith("mod_"))
    assert ours == theirs
    assert len(ours) == 2
