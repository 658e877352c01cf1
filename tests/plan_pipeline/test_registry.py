"""The capability registry: metadata-only discovery, lazy import, deterministic conflicts."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from plan_pipeline.errors import CapabilityNotFoundError, HostDistributionsError, PluginLoadError
from plan_pipeline.registry import CapabilityRegistry
from plan_pipeline.resolver import activate_run_plugins, run_plugin_dir
from plan_pipeline.trust import LocalTierPolicy, Tier
from tests.conftest import CliRunner
from tests.plugin_factory import PluginSource, install_plugin


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


def _unique(tmp_path: Path, stem: str) -> str:
    return f"{stem}_{abs(hash(tmp_path)) % 10**8}"


_LAZY_PROBE = """
import json, sys
from plan_pipeline.registry import CapabilityRegistry
from plan_pipeline.trust import LocalTierPolicy, Tier

class Policy(LocalTierPolicy):
    in_process_tiers = frozenset({Tier.CORE, Tier.VERIFIED, Tier.GENERATED}) if IN_PROCESS else (
        LocalTierPolicy.in_process_tiers)

registry = CapabilityRegistry(Policy())
seen = registry.capabilities()
loaded = registry.load("lazy.cap_b")
out = loaded.run({}, {})
plugins = sorted(m for m in sys.modules
                 if m.startswith("lazy_") or m.startswith("plan_pipeline.builtins."))
print(json.dumps({"seen": seen, "out": out, "modules": plugins,
                  "isolated": loaded.worker is not None}))
registry.close()
"""


def _install_lazy_plugins(site: Path, side_effect: str) -> None:
    for letter in "abc":
        install_plugin(
            site,
            PluginSource(
                dist=f"lazy-{letter}",
                module=f"lazy_{letter}",
                capabilities={f"lazy.cap_{letter}": "{'ok': True}"},
                import_side_effect=side_effect,
            ),
        )
    # a plugin whose import would blow up: resolving anything else must not touch it
    install_plugin(
        site,
        PluginSource(
            dist="lazy-poison",
            module="lazy_poison",
            capabilities={"lazy.poison": "{}"},
            import_side_effect="raise RuntimeError('imported a plugin nobody asked for')",
        ),
    )


def _lazy_probe(site: Path, in_process: bool) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", f"IN_PROCESS = {in_process}\n{_LAZY_PROBE}"],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )
    result: dict[str, object] = json.loads(proc.stdout)
    assert {"lazy.cap_a", "lazy.cap_b", "lazy.cap_c", "lazy.poison", "wbs.build"} <= set(
        result["seen"]  # type: ignore[arg-type]
    )
    assert result["out"] == {"ok": True}
    return result


def test_resolving_one_capability_imports_no_other_plugin(tmp_path: Path) -> None:
    site = tmp_path / "site"
    marker = tmp_path / "imported.txt"
    _install_lazy_plugins(site, f"open({str(marker)!r}, 'a').write(__name__ + '\\n')")
    result = _lazy_probe(site, in_process=True)
    assert result["modules"] == ["lazy_b"]
    assert result["isolated"] is False
    assert marker.read_text() == "lazy_b\n"


def test_an_isolated_plugin_is_never_imported_by_the_pipeline(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install_lazy_plugins(site, "")
    result = _lazy_probe(site, in_process=False)
    assert result["modules"] == []
    assert result["isolated"] is True


def test_conflict_is_resolved_by_version_and_reported(site: Path, tmp_path: Path) -> None:
    mod = _unique(tmp_path, "dup")
    install_plugin(
        site, PluginSource("acme-old", f"{mod}_old", {"dup.thing": "{'v': 1}"}, version="1.0.0")
    )
    install_plugin(
        site, PluginSource("zeta-new", f"{mod}_new", {"dup.thing": "{'v': 2}"}, version="2.1.0")
    )
    registry = CapabilityRegistry()
    selection = registry.select("dup.thing")
    assert selection.chosen.dist_name == "zeta-new"
    report = selection.conflict_report()
    assert report == (
        "capability 'dup.thing' is provided by 2 plugins: using zeta-new 2.1.0 (generated); "
        "ignoring acme-old 1.0.0 (generated)"
    )
    assert registry.load("dup.thing").run({}, {}) == {"v": 2}
    # a version range can select the older one
    assert registry.select("dup.thing", "<2").chosen.dist_name == "acme-old"


def test_conflict_prefers_the_better_tier_over_the_newer_version(
    site: Path, tmp_path: Path
) -> None:
    mod = _unique(tmp_path, "tier")
    install_plugin(site, PluginSource("reviewed", f"{mod}_a", {"tier.thing": "{}"}, "1.0.0"))
    install_plugin(site, PluginSource("fresh", f"{mod}_b", {"tier.thing": "{}"}, "9.0.0"))

    class Policy:
        def tier_of(self, dist_name: str, version: str, installed: object = None) -> Tier:
            return Tier.VERIFIED if dist_name == "reviewed" else Tier.GENERATED

    selection = CapabilityRegistry(Policy()).select("tier.thing")
    assert selection.chosen.dist_name == "reviewed"
    assert [p.dist_name for p, _ in selection.losers] == ["fresh"]


def test_equal_tier_and_version_tie_breaks_by_name(site: Path, tmp_path: Path) -> None:
    mod = _unique(tmp_path, "tie")
    for dist in ("mango", "apple", "kiwi"):
        install_plugin(site, PluginSource(dist, f"{mod}_{dist}", {"tie.thing": "{}"}))
    picks = {CapabilityRegistry().select("tie.thing").chosen.dist_name for _ in range(3)}
    assert picks == {"apple"}


def test_quarantined_and_out_of_range_providers_are_excluded(site: Path, tmp_path: Path) -> None:
    mod = _unique(tmp_path, "q")
    install_plugin(site, PluginSource("bad", f"{mod}_bad", {"q.thing": "{}"}, "3.0.0"))
    install_plugin(site, PluginSource("old", f"{mod}_old", {"q.thing": "{}"}, "0.5.0"))

    class Policy:
        def tier_of(self, dist_name: str, version: str, installed: object = None) -> Tier:
            return Tier.QUARANTINED if dist_name == "bad" else Tier.GENERATED

    with pytest.raises(CapabilityNotFoundError) as err:
        CapabilityRegistry(Policy()).select("q.thing", ">=1.0")
    assert "bad 3.0.0 is quarantined" in str(err.value)
    assert "old 0.5.0 is outside >=1.0" in str(err.value)


def test_invalid_entry_point_names_are_ignored_and_reported(site: Path, tmp_path: Path) -> None:
    mod = _unique(tmp_path, "inv")
    install_plugin(site, PluginSource("weird", mod, {"Bad-Name": "{}", "ok.name": "{}"}))
    registry = CapabilityRegistry()
    assert "ok.name" in registry.capabilities()
    assert "Bad-Name" not in registry.capabilities()
    assert any("'Bad-Name'" in line for line in registry.ignored)


def test_plugin_that_fails_to_import_is_a_clear_error(site: Path, tmp_path: Path) -> None:
    mod = _unique(tmp_path, "boom")
    install_plugin(
        site,
        PluginSource(
            "boom",
            mod,
            {"boom.thing": "{}"},
            import_side_effect="raise ImportError('no numpy here')",
        ),
    )
    with pytest.raises(PluginLoadError, match=r"cannot load plugin boom 1.0.0 .*no numpy here"):
        CapabilityRegistry().load("boom.thing")


def test_plugin_with_a_wrong_hook_signature_is_rejected(site: Path, tmp_path: Path) -> None:
    mod = _unique(tmp_path, "sig")
    install_plugin(site, PluginSource("sig", mod, {"sig.thing": "{}"}))
    code = (site / f"{mod}.py").read_text()
    (site / f"{mod}.py").write_text(
        code.replace(
            "def planexe_run(capability, inputs, context)",
            "def planexe_run(capability, inputs, context, secret_extra)",
        )
    )
    with pytest.raises(PluginLoadError, match="breaks the plugin contract"):
        CapabilityRegistry().load("sig.thing")


def test_capabilities_command_reports_conflicts(tmp_path: Path, run_cli: CliRunner) -> None:
    site = tmp_path / "site"
    install_plugin(site, PluginSource("other-wbs", "other_wbs", {"wbs.build": "{}"}, "7.0.0"))
    result = run_cli("capabilities", extra_path=[site])
    assert result.code == 0
    assert "wbs.build: planexe-plugin-hub 0.1.0 (core)" in result.stdout
    assert "ignoring other-wbs 7.0.0 (generated)" in result.stdout


def test_the_hosts_distributions_rank_core_where_their_code_is_the_hosts(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host (PlanExe) names its distributions with the folder its code is imported from:
    their plugins rank ``core``, also when named through the environment. A distribution whose
    METADATA borrows the host's name beside another folder name is not listed at all."""
    mod = _unique(tmp_path, "host")
    install_plugin(site, PluginSource("hostapp", f"{mod}_host", {"host.thing": "{}"}, "1.0.0"))
    install_plugin(site, PluginSource("other", f"{mod}_other", {"host.thing": "{}"}, "9.0.0"))
    install_plugin(site, PluginSource("borrower", f"{mod}_b", {"host.borrowed": "{}"}, "1.0.0"))
    meta = site / "borrower-1.0.0.dist-info" / "METADATA"
    meta.write_text(meta.read_text().replace("Name: borrower", "Name: hostapp"))

    plain = CapabilityRegistry(host_distributions={}).select("host.thing")
    assert (plain.chosen.dist_name, plain.tier) == ("other", Tier.GENERATED)  # newer wins
    for registry in (
        CapabilityRegistry(host_distributions={"HostApp": site}),
        _with_env(monkeypatch, f"planexe={tmp_path / 'elsewhere'}, hostapp={site}"),
    ):
        chosen = registry.select("host.thing")
        assert (chosen.chosen.dist_name, chosen.tier) == ("hostapp", Tier.CORE)
        with pytest.raises(CapabilityNotFoundError):
            registry.select("host.borrowed")
        assert any("borrower-1.0.0.dist-info: its METADATA names 'hostapp'" in line
                   for line in registry.ignored)  # fmt: skip


def test_a_package_named_like_the_host_from_an_index_is_not_core(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wheel named ``PlanExe`` installed from any index lands in site-packages, not in the
    host's folder: it keeps the policy's tier (``generated``: a sandboxed worker). A name
    alone in the environment is refused in one line that says how to write it."""
    checkout = tmp_path / "PlanExe"
    checkout.mkdir()
    install_plugin(site, PluginSource("PlanExe", _unique(tmp_path, "stranger"),
                                      {"host.stranger": "{}"}))  # fmt: skip
    registry = CapabilityRegistry(host_distributions={"planexe": checkout})
    assert registry.select("host.stranger").tier is Tier.GENERATED
    monkeypatch.setenv("PLANEXE_HOST_DISTRIBUTIONS", "PlanExe")
    with pytest.raises(HostDistributionsError, match=r"names 'PlanExe' without the folder"):
        CapabilityRegistry()


def test_a_package_named_like_the_host_in_the_checkouts_own_virtualenv_is_not_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host's checkout holds its own virtualenv (``.venv``, as uv makes it): a package
    named ``planexe`` installed there from an index is inside the host's folder, but in
    site-packages, where only installers write: not the host's code, not ``core``."""
    checkout = tmp_path / "PlanExe"
    (checkout / "planexe_host").mkdir(parents=True)
    (checkout / "planexe_host" / "__init__.py").write_text("")
    venv_site = checkout / ".venv" / "lib" / "python3.13" / "site-packages"
    monkeypatch.syspath_prepend(str(venv_site))
    mod = _unique(tmp_path, "from_index")
    install_plugin(venv_site, PluginSource("planexe", mod, {"host.confused": "{}"}, "99.0"))
    registry = CapabilityRegistry(host_distributions={"planexe": checkout})
    assert registry.select("host.confused").tier is Tier.GENERATED


def test_a_revoked_release_is_never_core_under_the_hosts_name(site: Path, tmp_path: Path) -> None:
    """The policy's revocation comes before any name rule: a revoked release under the host's
    name, with its code in the host's folder, is ``quarantined`` and never loaded."""
    install_plugin(site, PluginSource("planexe", _unique(tmp_path, "revoked"), {"host.gone": "{}"}))

    class Revoking(LocalTierPolicy):
        def tier_of(self, dist_name: str, version: str, installed: object = None) -> Tier:
            return Tier.QUARANTINED if dist_name == "planexe" else Tier.GENERATED

    registry = CapabilityRegistry(Revoking(), host_distributions={"planexe": site})
    with pytest.raises(CapabilityNotFoundError, match="quarantined"):
        registry.select("host.gone")


def _with_env(monkeypatch: pytest.MonkeyPatch, names: str) -> CapabilityRegistry:
    monkeypatch.setenv("PLANEXE_HOST_DISTRIBUTIONS", names)
    return CapabilityRegistry()


def test_a_run_folder_plugin_claiming_the_hosts_name_ranks_generated_and_shadows_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files planted in a run's plugin folder: a distribution named like the host (or like
    this project) is never ``core`` there, so it runs sandboxed, and a module named like one
    of the environment's never shadows it in the pipeline's process."""
    run_dir = tmp_path / "run"
    folder = run_plugin_dir(run_dir)
    mod = _unique(tmp_path, "planted")
    install_plugin(folder, PluginSource("hostapp", mod, {"host.planted": "{}"}, "1.0.0"))
    install_plugin(folder, PluginSource("planexe-plugin-hub", f"{mod}_b", {"host.builtin": "{}"}))
    (folder / "synthesizer").mkdir()
    (folder / "synthesizer" / "__init__.py").write_text("raise SystemExit('shadowed')\n")
    monkeypatch.setattr(sys, "path", list(sys.path))
    activate_run_plugins(run_dir)

    registry = CapabilityRegistry(host_distributions={"hostapp": folder})
    assert registry.select("host.planted").tier is Tier.GENERATED
    with pytest.raises(CapabilityNotFoundError):  # this project's real dist comes first
        registry.select("host.builtin")
    spec = importlib.util.find_spec("synthesizer")
    assert spec is not None and spec.origin is not None
    assert not Path(spec.origin).is_relative_to(folder)
