"""The library's health on a test hub with known usage: ranking, promotion candidates and
duplicates, by the API, the CLI and the pages (the ASGI app, which serves the pages)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from hub_client.client import PluginHubClient
from hub_client.errors import HubError, PolicyError
from hub_client.ranking import Evidence, rank_score
from hub_client.records import PluginRecord, PluginStatus, UsageRecord
from hub_index.home import add_publish_token
from hub_index.server import RunningHub
from plan_pipeline.published_wheel import read_published
from plan_pipeline.spec import PluginSpec
from plan_pipeline.trust import Tier
from synthesizer.codegen import GeneratedLogic
from synthesizer.near_match import adapter
from synthesizer.synthesize import synthesize_plugin
from tests.hub_index.conftest import area_spec, hub_env, maintainer_wheel, publish_generated


def _token_client(hub: RunningHub, name: str, tmp_path: Path) -> PluginHubClient:
    client = PluginHubClient.from_home(hub.home, role="publish")
    client.token = add_publish_token(hub.home, name)
    client.cache_dir = tmp_path / name
    return client


def _uses(
    client: PluginHubClient,
    record: PluginRecord,
    n: int,
    success: bool = True,
    latency_ms: float = 5.0,
    violation: str | None = None,
) -> None:
    for index in range(n):
        client.record_usage(
            UsageRecord(
                plugin_id=record.plugin_id,
                capability=record.capability,
                run_id=f"run-{record.plugin_id[:6]}-{index}",
                success=success,
                latency_ms=latency_ms,
                violation=violation,
            )
        )


def _cli(hub: RunningHub, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plan_pipeline.cli", *args],
        capture_output=True, text=True, env=hub_env(hub.home) | {"COLUMNS": "200"},
        check=False, timeout=300,
    )  # fmt: skip


def _page(hub: RunningHub, path: str) -> str:
    with urllib.request.urlopen(hub.api_url.rstrip("/") + path, timeout=30) as answer:
        return str(answer.read().decode())


def test_the_score_follows_its_definition() -> None:
    unused = rank_score(None, Tier.GENERATED)
    assert (unused.reliability, unused.quality, unused.adoption) == (0.5, 0.25, 0.0)
    assert unused.score == round(0.35 * 0.5 + 0.30 * 0.25 + 0.15 * 0.5, 4)
    three = Evidence(dist_name="d", tokens=3, uses=9, successes=9, token_success=3.0,
                     median_latency_ms=50.0)  # fmt: skip
    used = rank_score(three, Tier.GENERATED)
    assert (used.reliability, used.quality) == (0.875, 0.875)
    assert used.adoption == round(2 / 4.0874628412503395, 4)  # log2(4) / log2(17)
    slow = rank_score(three.model_copy(update={"median_latency_ms": 400.0}), Tier.GENERATED)
    assert slow.quality == round(0.875 * 0.25, 4)
    lied = rank_score(three.model_copy(update={"violating_tokens": 2}), Tier.GENERATED)
    assert lied.quality == round(1.5 / 4, 4) and lied.score < used.score
    assert rank_score(three, Tier.VERIFIED).score > used.score


def test_the_resolver_picks_by_rank_within_a_tier_and_one_token_cannot_move_it(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    _, generated = publish_generated(client, tmp_path)
    first = client.publish(
        maintainer_wheel(tmp_path), "geometry.area", tier=Tier.VERIFIED, owner="maintainers"
    )
    second = client.publish(
        maintainer_wheel(tmp_path, "planexe-plugin-area-fast"), "geometry.area",
        tier=Tier.VERIFIED, owner="maintainers",
    )  # fmt: skip
    alice, bob, carol, mallory = (
        _token_client(hub, name, tmp_path) for name in ("alice", "bob", "carol", "mallory")
    )
    # evidence orders plugins of one tier: three tokens' successes beat one token's failure
    for user in (alice, bob, carol):
        _uses(user, second, 3)
    _uses(alice, first, 1, success=False)
    best = client.best("geometry.area")
    assert best is not None and best.plugin_id == second.plugin_id
    # one token's flood is one vote
    _uses(mallory, first, 100)
    best = client.best("geometry.area")
    assert best is not None and best.plugin_id == second.plugin_id
    # and never across tiers: a generated plugin every token praises stays below them
    for user in (alice, bob, carol, mallory):
        _uses(user, generated, 5)
    _uses(carol, second, 5, success=False, violation="constraint does not hold: x")
    best = client.best("geometry.area")
    assert best is not None and best.trust_tier is Tier.VERIFIED

    ranked = client.ranking("geometry.area")
    assert [r.dist_name for r in ranked] == [
        second.dist_name, first.dist_name, generated.dist_name
    ]  # fmt: skip
    top = ranked[0]
    assert (top.evidence.tokens, top.evidence.uses, top.evidence.successes) == (3, 14, 9)
    assert top.evidence.violating_tokens == 1
    assert top.rank == rank_score(top.evidence, Tier.VERIFIED)
    assert (ranked[1].evidence.tokens, ranked[1].evidence.uses) == (2, 101)
    assert ranked[2].rank.score > top.rank.score  # better used, yet below: another tier

    shown = _cli(hub, "ranking", "geometry.area", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == [r.model_dump(mode="json") for r in ranked]
    table = _cli(hub, "ranking", "geometry.area")
    assert f"{top.rank.score:.3f}" in table.stdout and "0.35 R" in table.stdout
    page = _page(hub, f"/plugins/{second.plugin_id}")
    assert 'id="ranking"' in page and f"{top.rank.score:.3f}" in page
    assert f"{top.rank.reliability:.3f}" in page and f"{top.rank.adoption:.3f}" in page


def test_promotion_candidates_need_runs_tokens_no_violation_and_pure_computation(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    _, earned = publish_generated(client, tmp_path, "geometry.area")
    _, one_token = publish_generated(client, tmp_path, "geometry.rect_area")
    _, reported = publish_generated(client, tmp_path, "geometry.box_area")
    alice, bob = (_token_client(hub, name, tmp_path) for name in ("alice", "bob"))
    _uses(alice, earned, 3)
    _uses(bob, earned, 2)
    _uses(alice, one_token, 9)
    _uses(alice, reported, 3)
    _uses(bob, reported, 3)
    _uses(bob, reported, 1, success=False, violation="constraint does not hold: x")

    found = client.promotion_candidates()
    assert [(c.plugin_id, c.successful_runs, c.tokens) for c in found] == [(earned.plugin_id, 5, 2)]
    assert client.promotion_candidates(min_runs=6) == []
    # more tokens first, then more runs
    assert [c.capability for c in client.promotion_candidates(min_tokens=1)] == [
        "geometry.area",
        "geometry.rect_area",
    ]
    listed = _cli(hub, "promotion-candidates")
    assert listed.returncode == 0, listed.stderr
    assert earned.plugin_id in listed.stdout and one_token.plugin_id not in listed.stdout
    page = _page(hub, "/library")
    assert 'id="candidates"' in page and earned.plugin_id in page
    assert reported.plugin_id not in page
    # nothing is promoted by evidence: the tier stays the admin's signed act
    assert client.show(earned.plugin_id).trust_tier is Tier.GENERATED


def test_duplicates_are_found_by_their_gates_and_one_is_retired_behind_the_other(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    _, area = publish_generated(client, tmp_path, "geometry.area")
    _, rect = publish_generated(client, tmp_path, "geometry.rect_area")
    volume = maintainer_wheel(
        tmp_path, "planexe-plugin-geometry-volume", capability="geometry.volume"
    )
    client.publish(volume, "geometry.volume", tier=Tier.VERIFIED, owner="maintainers")
    admin = PluginHubClient.from_home(hub.home)
    with pytest.raises(PolicyError, match="not recorded as duplicates"):
        admin.retire(rect.plugin_id, area.plugin_id)

    found = _cli(hub, "find-duplicates", str(hub.home.root))
    assert found.returncode == 0, found.stderr
    assert "1 pair(s) of duplicates" in found.stdout, found.stdout
    pairs = client.duplicates()
    assert len(pairs) == 1
    assert {pairs[0].first.plugin_id, pairs[0].second.plugin_id} == {area.plugin_id, rect.plugin_id}
    listed = _cli(hub, "duplicates", "--json")
    assert {p["first"]["capability"] for p in json.loads(listed.stdout)} <= {
        "geometry.area",
        "geometry.rect_area",
    }
    page = _page(hub, "/library")
    assert 'id="duplicates"' in page and "1 pair(s) among 3 active plugin(s)" in page

    retired = admin.retire(rect.plugin_id, area.plugin_id)
    assert retired.status.value == "revoked"
    assert retired.revoked_reason == f"retired behind {area.dist_name} 1.0.0: a duplicate"
    client.trusted.refresh(again=True)
    signed = client.trusted.release(rect.dist_name, rect.version)
    assert signed is not None and signed.release.alias_of == f"{area.dist_name}==1.0.0"
    # later misses and rankings see one
    assert client.best("geometry.rect_area") is None
    assert client.ranking("geometry.rect_area") == []
    assert client.duplicates() == []


def test_the_hub_refuses_an_alias_to_a_release_it_does_not_serve(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    """An admin statement retiring a plugin behind a release that is not active on the hub
    (forged or mistaken) changes nothing."""
    _, rect = publish_generated(client, tmp_path, "geometry.rect_area")
    admin = PluginHubClient.from_home(hub.home)
    signed = admin.signed(rect)
    forged = signed.release.model_copy(
        update={
            "status": PluginStatus.REVOKED,
            "revoked_reason": "retired",
            "alias_of": "planexe-gen-geometry-nothing==9.9.9",
        }
    )
    with pytest.raises(HubError, match="not an active release on the hub"):
        admin._state(forged, "test")
    assert admin.show(rect.plugin_id).status.value == "active"


def _adapter_of(
    client: PluginHubClient, record: PluginRecord, tmp_path: Path
) -> tuple[PluginSpec, GeneratedLogic, Path]:
    """A near match's adapter of ``record`` for 'geometry.rect_area' (the same contract under
    another name, no rules), made and gated here as a pipeline worker makes it."""
    published = read_published(client.download(record).read_bytes(), record.dist_name, "1.0.0")
    assert published is not None
    new = area_spec("geometry.rect_area").model_copy(update={"rules": []})
    made = adapter(new, published)
    spec = made.spec_for(new)
    result = synthesize_plugin(spec, tmp_path / "adapter", logic=made.logic())
    assert result.logic is not None
    return spec, result.logic, result.wheel


def test_an_adapter_s_lineage_is_checked_and_revoking_a_plugin_revokes_its_adapters(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    _, area = publish_generated(client, tmp_path)
    spec, logic, wheel = _adapter_of(client, area, tmp_path)

    # a lineage that does not hold (another logic's digest) is refused
    forged = spec.model_copy(
        update={"provenance": {**spec.provenance, "near_match_logic_sha256": "0" * 64}}
    )
    with pytest.raises(HubError, match="the near match's lineage does not hold"):
        client.publish_generated(forged, logic, wheel, owner="test")
    # the original named in another spelling (the admin's client compares the text)
    respelled = spec.model_copy(
        update={"provenance": {**spec.provenance, "near_match_of": f"{area.dist_name}==1.0"}}
    )
    with pytest.raises(HubError, match="the near match's lineage does not hold"):
        client.publish_generated(respelled, logic, wheel, owner="test")
    garbage = spec.model_copy(
        update={"provenance": {**spec.provenance, "near_match_of": f"{area.dist_name}==x!y"}}
    )
    with pytest.raises(HubError, match="the near match's lineage does not hold"):
        client.publish_generated(garbage, logic, wheel, owner="test")
    # the original's logic, then a module that does the work itself, or another mapping
    for source in (
        logic.source + "\n\ndef compute(input):\n    return {'area': 0}\n",
        logic.source.replace("return _near_match_", "return 0 or _near_match_", 1),
    ):
        changed = logic.model_copy(update={"source": source})
        with pytest.raises(HubError, match="the near match's lineage does not hold"):
            client.publish_generated(spec, changed, wheel, owner="test")
    remapped = spec.model_copy(
        update={"provenance": {**spec.provenance, "near_match_mapping": "[null, null]"}}
    )
    with pytest.raises(HubError, match="the near match's lineage does not hold"):
        client.publish_generated(remapped, logic, wheel, owner="test")

    adapted = client.publish_generated(spec, logic, wheel, owner="test")
    # an adapter of the adapter (a revoke of the original would not reach it)
    published = read_published(client.download(adapted).read_bytes(), adapted.dist_name, "1.0.0")
    assert published is not None
    deeper = area_spec("geometry.box_area").model_copy(update={"rules": []})
    made = adapter(deeper, published)
    second = synthesize_plugin(made.spec_for(deeper), tmp_path / "deeper", logic=made.logic())
    assert second.logic is not None
    with pytest.raises(HubError, match="not itself an adapter"):
        client.publish_generated(made.spec_for(deeper), second.logic, second.wheel, owner="test")
    listed = json.loads(_page(hub, f"/api/plugins/{area.plugin_id}/adapters"))
    assert [r["plugin_id"] for r in listed] == [adapted.plugin_id]

    admin = PluginHubClient.from_home(hub.home)
    admin.revoke(area.plugin_id, "computes the wrong area")
    assert admin.show(area.plugin_id).status is PluginStatus.REVOKED
    carried = admin.show(adapted.plugin_id)
    assert carried.status is PluginStatus.REVOKED
    assert carried.revoked_reason == (f"it carries the logic of {area.dist_name} 1.0.0, revoked")
    client.trusted.refresh(again=True)
    assert client.best("geometry.rect_area") is None
