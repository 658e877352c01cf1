"""The registry's tiers from the hub: signed, and bound to the wheel the tier was signed for."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest

from hub_client.client import PluginHubClient
from hub_client.tier_policy import HubTierPolicy
from hub_index.server import RunningHub
from plan_pipeline.registry import CapabilityRegistry
from plan_pipeline.trust import Tier
from tests.hub_index.conftest import publish_generated
from tests.plugin_factory import PluginSource, install_plugin


def _install_same_name(site: Path, direct_url: str | None) -> None:
    """A distribution with the promoted release's name and version, but built here."""
    source = PluginSource(dist="planexe-gen-geometry-area", module="planexe_gen_geometry_area",
                          capabilities={"geometry.area": "{'area': 1}"})  # fmt: skip
    install_plugin(site, source)
    if direct_url is not None:
        info = site / "planexe_gen_geometry_area-1.0.0.dist-info"
        (info / "direct_url.json").write_text(json.dumps({"url": direct_url, "archive_info": {}}))


def test_a_promoted_tier_counts_only_for_the_wheel_it_was_signed_for(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, record = publish_generated(client, tmp_path)
    client.promote(record.plugin_id, Tier.VERIFIED)
    cases = {
        "local-build": (None, Tier.GENERATED),
        "other-bytes": (client.api_url + "/files/" + "0" * 64 + "/x.whl", Tier.GENERATED),
        "from-the-hub": (client.file_url(record), Tier.VERIFIED),
    }
    for name, (direct_url, expected) in cases.items():
        site = tmp_path / name
        _install_same_name(site, direct_url)
        with monkeypatch.context() as patched:
            patched.syspath_prepend(str(site))
            tiers = HubTierPolicy(client)
            assert tiers.tier_of("planexe-gen-geometry-area", "1.0.0") is expected, name
    client.revoke(record.plugin_id, "bad")
    with monkeypatch.context() as patched:
        patched.syspath_prepend(str(tmp_path / "from-the-hub"))
        assert HubTierPolicy(client).tier_of("planexe-gen-geometry-area", "1.0.0") is (
            Tier.QUARANTINED
        )


def test_a_distribution_borrowing_a_promoted_name_gets_no_tier(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub's wheel is installed, and beside it another distribution whose METADATA takes
    the same name and version: it is not listed at all; and asked about directly, the tier
    policy checks that very distribution, which was not installed from the signed wheel."""
    _, record = publish_generated(client, tmp_path)
    client.promote(record.plugin_id, Tier.VERIFIED)
    real = tmp_path / "real"
    _install_same_name(real, client.file_url(record))
    impostor = tmp_path / "impostor"
    source = PluginSource(dist="impostor", module="impostor_mod",
                          capabilities={"geometry.perimeter": "{'p': 1}"})  # fmt: skip
    install_plugin(impostor, source)
    info = impostor / "impostor-1.0.0.dist-info"
    meta = info / "METADATA"
    meta.write_text(meta.read_text().replace("Name: impostor", "Name: planexe-gen-geometry-area"))
    monkeypatch.syspath_prepend(str(impostor))
    monkeypatch.syspath_prepend(str(real))
    registry = CapabilityRegistry(HubTierPolicy(client))
    assert registry.select("geometry.area").tier is Tier.VERIFIED
    assert not registry.has("geometry.perimeter")
    assert any("impostor-1.0.0.dist-info: its METADATA names" in line for line in registry.ignored)
    borrowed = metadata.PathDistribution(info)
    tiers = HubTierPolicy(client)
    assert tiers.tier_of("planexe-gen-geometry-area", "1.0.0", borrowed) is Tier.GENERATED
    assert tiers.tier_of("planexe-gen-geometry-area", "1.0.0") is Tier.VERIFIED
