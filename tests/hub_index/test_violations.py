"""Reports of contract violations on the hub: sent in usage rows, counted by distinct
tokens, shown without the tokens' names; they never revoke or hide a plugin."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from hub_client.client import PluginHubClient
from hub_client.records import UsageRecord
from hub_index.home import add_publish_token
from hub_index.server import RunningHub
from hub_index.service import MAX_SHOWN_REPORTS
from tests.hub_index.conftest import publish_generated


def _client(hub: RunningHub, token: str, tmp_path: Path) -> PluginHubClient:
    client = PluginHubClient.from_home(hub.home, role="publish")
    client.token = token
    client.cache_dir = tmp_path / "cache"
    return client


def _report(client: PluginHubClient, plugin_id: str, n: int) -> None:
    client.record_usage(
        UsageRecord(
            plugin_id=plugin_id,
            capability="geometry.area",
            run_id=f"run-{n}",
            success=False,
            latency_ms=1.0,
            error_type="ContractViolationError",
            violation=f"constraint does not hold: output.area >= 0 <b>{n}</b>",
        )
    )


def _get(hub: RunningHub, path: str) -> str:
    with urllib.request.urlopen(hub.api_url.rstrip("/") + path, timeout=10) as answer:
        return str(answer.read().decode())


def test_reports_from_two_installations_put_a_plugin_up_for_review_and_nothing_more(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    _, record = publish_generated(client, tmp_path)
    alice = _client(hub, add_publish_token(hub.home, "alice-laptop"), tmp_path / "a")
    bob = _client(hub, add_publish_token(hub.home, "bob-ci"), tmp_path / "b")
    for n in range(3):
        _report(alice, record.plugin_id, n)
    one = json.loads(_get(hub, f"/api/plugins/{record.plugin_id}/violations"))
    assert (one["total"], one["distinct_tokens"], one["for_review"]) == (3, 1, False)
    _report(bob, record.plugin_id, 3)
    both = json.loads(_get(hub, f"/api/plugins/{record.plugin_id}/violations"))
    assert (both["total"], both["distinct_tokens"], both["for_review"]) == (4, 2, True)
    assert [r["reporter"] for r in both["reports"]] == ["token 1"] * 3 + ["token 2"]
    shown = json.dumps(both)
    assert "alice" not in shown and "bob" not in shown
    # forged or not, reports change nothing a client acts on: the plugin stays installable
    assert client.best("geometry.area") is not None
    assert client.records("geometry.area")[0].status.value == "active"


def test_a_flood_of_reports_shows_the_latest_and_counts_them_all(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    _, record = publish_generated(client, tmp_path)
    for n in range(MAX_SHOWN_REPORTS + 5):
        _report(client, record.plugin_id, n)
    found = json.loads(_get(hub, f"/api/plugins/{record.plugin_id}/violations"))
    assert found["total"] == MAX_SHOWN_REPORTS + 5 and found["distinct_tokens"] == 1
    assert len(found["reports"]) == MAX_SHOWN_REPORTS
    assert found["reports"][-1]["violation"].endswith(f"<b>{MAX_SHOWN_REPORTS + 4}</b>")
