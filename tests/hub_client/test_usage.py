"""Usage rows kept while the hub is out of reach: never a stage's failure, never written
through a planted link, sent to the hub they were kept for only, and each sent once even when
the sending is interrupted."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from hub_client.client import PluginHubClient
from hub_client.errors import HubUnavailableError
from hub_client.records import UsageRecord
from hub_client.usage import LOCK_WAIT_S, HubUsageReporter, pending_file
from hub_index.home import export_client, init_home
from plan_pipeline.contract import CapabilityNeed
from plan_pipeline.interrupts import Interrupted

NEED = CapabilityNeed(name="area", capability="geometry.area")


class _Hub(PluginHubClient):
    """A client whose hub is reached or not as the test says, recording what it was sent."""

    up: bool = True
    interrupt_after: int | None = None
    sent: list[UsageRecord]

    def record_usage(self, usage: UsageRecord) -> None:
        if not self.up:
            raise HubUnavailableError(f"cannot reach the hub at {self.api_url}")
        if self.interrupt_after is not None and len(self.sent) == self.interrupt_after:
            raise Interrupted
        self.sent.append(usage)


def _client(tmp_path: Path, url: str, up: bool) -> _Hub:
    home = init_home(tmp_path / f"hub-{url[-4:]}")
    environ = export_client(home, tmp_path / f"client-{url[-4:]}", url, with_token=False)
    client = _Hub.from_env(environ)
    assert isinstance(client, _Hub)
    client.up, client.sent = up, []
    return client


def _report(reporter: HubUsageReporter, run_dir: Path, n: int) -> None:
    for i in range(n):
        reporter.report(NEED, run_dir.name, None, 0.1 * i, None, None, "installed", run_dir)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_rows_are_kept_for_their_hub_and_sent_to_it_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub_a = _client(tmp_path, "http://127.0.0.1:1111", up=False)
    _report(HubUsageReporter(hub_a), tmp_path / "run-1", 3)
    assert len(pending_file(tmp_path / "run-1", hub_a.api_url).read_text().splitlines()) == 3
    assert capsys.readouterr().err.count("usage rows are kept in") == 1  # said once

    hub_b = _client(tmp_path, "http://127.0.0.1:2222", up=True)
    _report(HubUsageReporter(hub_b), tmp_path / "run-2", 1)
    assert len(hub_b.sent) == 1  # its own row, none of A's

    hub_a.up = True
    _report(HubUsageReporter(hub_a), tmp_path / "run-3", 1)
    assert [u.run_id for u in hub_a.sent] == ["run-1"] * 3 + ["run-3"]
    assert pending_file(tmp_path / "run-1", hub_a.api_url).read_text() == ""


def test_rows_of_two_hubs_in_one_run_go_each_to_its_own(tmp_path: Path) -> None:
    hub_a = _client(tmp_path, "http://127.0.0.1:1111", up=False)
    hub_b = _client(tmp_path, "http://127.0.0.1:2222", up=False)
    _report(HubUsageReporter(hub_a), tmp_path / "run-1", 2)
    _report(HubUsageReporter(hub_b), tmp_path / "run-1", 1)
    hub_a.up = hub_b.up = True
    assert HubUsageReporter(hub_a).send_pending() == 2
    assert len(hub_a.sent) == 2 and hub_b.sent == []
    assert HubUsageReporter(hub_b).send_pending() == 1


def test_a_pending_file_held_by_another_process_delays_a_stage_at_most_briefly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = _client(tmp_path, "http://127.0.0.1:1111", up=False)
    _report(HubUsageReporter(hub), tmp_path / "run-1", 1)
    held = subprocess.Popen(  # a send suspended with Ctrl-Z holds the lock as long
        ["flock", "-x", str(pending_file(tmp_path / "run-1", hub.api_url)), "sleep", "30"]
    )
    try:
        time.sleep(0.3)
        started = time.monotonic()
        _report(HubUsageReporter(hub), tmp_path / "run-1", 1)  # never raises, never hangs
        assert time.monotonic() - started < 2 * LOCK_WAIT_S + 2  # the send, then the keep
    finally:
        held.kill()
        held.wait()
    assert "cannot be kept either" in capsys.readouterr().err


def test_an_interrupted_send_sends_no_row_twice(tmp_path: Path) -> None:
    hub = _client(tmp_path, "http://127.0.0.1:1111", up=False)
    _report(HubUsageReporter(hub), tmp_path / "run-1", 4)
    hub.up, hub.interrupt_after = True, 2
    with pytest.raises(Interrupted):
        HubUsageReporter(hub).send_pending()
    hub.interrupt_after = None
    HubUsageReporter(hub).send_pending()
    assert [round(u.latency_ms) for u in hub.sent] == [0, 100, 200, 300]


def test_a_link_planted_as_the_pending_file_is_not_written_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = _client(tmp_path, "http://127.0.0.1:1111", up=False)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    pending = pending_file(tmp_path / "run-1", hub.api_url)
    pending.parent.mkdir(parents=True)
    pending.symlink_to(victim)
    _report(HubUsageReporter(hub), tmp_path / "run-1", 2)  # never raises
    assert victim.read_text() == "precious\n"
    assert "cannot be kept either" in capsys.readouterr().err


def test_an_unwritable_cache_with_the_hub_down_fails_no_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = _client(tmp_path, "http://127.0.0.1:1111", up=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/no-such-cache")
    _report(HubUsageReporter(hub), tmp_path / "run-1", 2)  # never raises
    assert "cannot be kept either" in capsys.readouterr().err
