"""The success metrics: from usage rows by definition, and from a known sequence of real
pipeline runs against a real hub (a synthesis, a reuse after a miss, a reuse of an installed
plugin, a failed synthesis)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub_client.client import PluginHubClient
from hub_client.records import UsageRecord
from hub_index.metrics import success_metrics
from hub_index.server import RunningHub
from tests.hub_index.conftest import hub_env, known_runs
from tests.hub_index.test_publish_mode import AREA_PLAN, RULELESS_PLAN


def _row(resolution: str, success: bool = True, **fields: object) -> UsageRecord:
    values: dict[str, object] = {
        "plugin_id": "p1", "capability": "a.b", "run_id": "r", "success": success,
        "latency_ms": 100.0, "resolution": resolution, **fields,
    }  # fmt: skip
    return UsageRecord.model_validate(values)


def test_the_figures_follow_their_definitions() -> None:
    rows = [
        _row("synthesized", time_to_capability_ms=300.0),
        _row("synthesized", time_to_capability_ms=500.0),
        _row("reused"),
        _row("installed"),
        _row("installed", plugin_id="core-plugin"),  # not a synthesized plugin
        _row("missed", success=False, plugin_id=None),
        # made (and published), then the stage failed: a synthesis, but not recovered
        _row("synthesized", success=False, time_to_capability_ms=900.0),
    ]
    figures = success_metrics(rows, generated={"p1"}).overall
    assert (figures.misses, figures.recovered) == (5, 3)
    assert figures.recovery_share == 3 / 5
    assert (figures.synthesized_uses, figures.reuses) == (4, 2)
    assert figures.reuse_rate == 2 / 4
    assert (figures.syntheses, figures.median_time_to_capability_ms) == (3, 500.0)
    empty = success_metrics([], generated=set()).overall
    assert (empty.recovery_share, empty.reuse_rate, empty.median_time_to_capability_ms) == (
        None,
        None,
        None,
    )


def test_a_window_counts_only_its_rows() -> None:
    now = datetime.now(UTC)
    old = _row("synthesized", created_at=now - timedelta(days=10))
    new = _row("missed", success=False, created_at=now)
    figures = success_metrics([old, new], {"p1"}, since=now - timedelta(days=1)).overall
    assert (figures.stage_runs, figures.misses, figures.recovered) == (1, 1, 0)


def test_metrics_from_a_known_sequence_of_real_runs(hub: RunningHub, tmp_path: Path) -> None:
    known_runs(hub, tmp_path, AREA_PLAN, RULELESS_PLAN)

    client = PluginHubClient.from_home(hub.home)
    metrics = client.metrics()
    overall = metrics.overall
    assert (overall.stage_runs, overall.misses, overall.recovered) == (5, 4, 3)
    assert overall.recovery_share == 3 / 4
    assert (overall.synthesized_uses, overall.reuses, overall.reuse_rate) == (4, 3, 3 / 4)
    assert overall.near_matches == 1 and overall.median_near_match_ms is not None
    engine = sa.create_engine(hub.home.settings().database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT run_id, resolution, time_to_capability_ms FROM plugin_hub_usage ORDER BY id"
        )).all()  # fmt: skip
    engine.dispose()
    assert [(r.run_id, r.resolution) for r in rows] == [
        ("run-1", "synthesized"), ("run-2", "reused"), ("run-3", "installed"),
        ("run-4", "near-match"), ("run-5", "missed"),
    ]  # fmt: skip
    assert overall.syntheses == 1
    assert overall.median_time_to_capability_ms == rows[0].time_to_capability_ms > 0
    assert metrics.capabilities["geometry.area"].recovery_share == 1.0
    assert metrics.capabilities["geometry.rect_area"].recovery_share == 1.0
    assert metrics.capabilities["geometry.rect_area"].near_matches == 1
    assert metrics.capabilities["geometry.rect_label"].recovery_share == 0.0
    assert metrics.capabilities["geometry.rect_label"].reuse_rate is None

    shown = subprocess.run(
        [sys.executable, "-m", "plan_pipeline.cli", "metrics", "--json"],
        capture_output=True, text=True, env=hub_env(hub.home), check=False, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["overall"] == overall.model_dump(mode="json")
    table = subprocess.run(
        [sys.executable, "-m", "plan_pipeline.cli", "metrics", "--days", "1"],
        capture_output=True, text=True, env=hub_env(hub.home) | {"COLUMNS": "160"},
        check=False, timeout=60,
    )  # fmt: skip
    assert "75% (3/4)" in table.stdout and "geometry.rect_label" in table.stdout
    assert "near matches" in table.stdout
    assert "success metrics" in table.stdout and "seed" not in table.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "plan_pipeline.cli", "metrics", "--since", "yesterday"],
        capture_output=True, text=True, env=hub_env(hub.home), check=False, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2
    assert (
        bad.stderr.strip()
        .splitlines()[-1]
        .startswith("error: --since 'yesterday' is not a date or time")
    )


def test_one_token_cannot_bury_the_figures_and_they_say_whose_they_are(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    """The attack: one publish token forges failed uses as fast as it can, to move the
    recovery share and a plugin's success rate. Its rows are refused past the per-minute
    limit, a use naming a plugin the hub lacks (or of another capability) is refused, and
    the figures of the honest token alone can still be read, with how many tokens sent them."""
    from hub_client.errors import HubBusyError, HubError
    from hub_index.home import add_publish_token
    from hub_index.service import MAX_USAGE_PER_MINUTE
    from tests.hub_index.conftest import publish_generated

    _, record = publish_generated(client, tmp_path)
    honest = PluginHubClient.from_home(hub.home, role="publish")
    area = {"capability": "geometry.area"}
    honest.record_usage(_row("synthesized", plugin_id=record.plugin_id, run_id="honest", **area))
    forger = PluginHubClient.from_home(hub.home, role="publish")
    forger.token = add_publish_token(hub.home, "forger")
    with pytest.raises(HubError, match=r"which the hub does not have for 'geometry\.area'"):
        forger.record_usage(_row("missed", success=False, plugin_id="no-such-plugin", **area))
    with pytest.raises(HubError, match=r"which the hub does not have for 'budget\.rollup'"):
        forger.record_usage(
            _row("missed", success=False, plugin_id=record.plugin_id, capability="budget.rollup")
        )
    sent = 0
    with pytest.raises(HubBusyError, match=f"sent {MAX_USAGE_PER_MINUTE} usage rows in the last"):
        for n in range(300):
            forged = _row("missed", success=False, plugin_id=None, run_id=f"forged-{n}", **area)
            forger.record_usage(forged)
            sent += 1
    assert sent == MAX_USAGE_PER_MINUTE
    every = client.metrics()
    assert every.tokens == 2 and every.token is None
    mine = client.metrics(token="hub-publish")
    assert (mine.token, mine.tokens) == ("hub-publish", 1)
    assert mine.overall.recovery_share == 1.0 and mine.overall.stage_runs == 1
