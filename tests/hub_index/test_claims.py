"""Claims on a real hub: bounded lifetimes, heartbeats, takeover of a dead holder's claim.

A claim lives at most ``MAX_CLAIM_TTL_S`` without a heartbeat, so a worker killed in the middle
of a synthesis blocks the capability for one claim lifetime only: the resumed run takes the
claim over and finishes (the issue's acceptance: under 30 s).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub_client import hub_synthesizer
from hub_client.client import PluginHubClient
from hub_client.errors import HubError
from hub_client.hub_synthesizer import HubSynthesizer
from hub_index.db import MAX_CLAIM_TTL_S
from hub_index.home import init_home
from hub_index.server import RunningHub, embedded_hub
from plan_pipeline.synthesis import SynthesisMode, SynthesisOutcome, SynthesisRequest
from tests.hub_index.conftest import area_spec, hub_env
from tests.hub_index.test_publish_mode import AREA_PLAN
from tests.venvs import overlay_venv

CAPABILITY = "geometry.area"


@pytest.fixture(scope="module")
def shared_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """One hub for the tests that only check refusals (they store nothing)."""
    with embedded_hub(init_home(tmp_path_factory.mktemp("shared") / "hub")) as running:
        yield running


def _publisher(hub: RunningHub) -> PluginHubClient:
    return PluginHubClient.from_home(hub.home, role="publish")


def _claims(hub: RunningHub) -> list[tuple[str, str]]:
    """The rows of the hub's claims table: (capability, holder)."""
    engine = sa.create_engine(hub.home.settings().database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT capability, holder FROM plugin_hub_claims"))
            # stored as "<token name>\x1f<holder>": a claim belongs to its token
            return [(str(capability), str(holder).split("\x1f")[-1]) for capability, holder in rows]
    finally:
        engine.dispose()


def _post_raw(hub: RunningHub, path: str, text: str) -> tuple[int, Any]:
    """POST ``text`` as it is (not necessarily valid JSON) with the publish token."""
    request = urllib.request.Request(hub.api_url + path, data=text.encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {hub.home.credentials().publish_token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# the API refuses what would stall the fleet or crash the hub

BOUND = f"at most {MAX_CLAIM_TTL_S:g}"


@pytest.mark.parametrize("path", ["/api/claims", "/api/claims/heartbeat"])
@pytest.mark.parametrize(
    ("ttl", "expected"),
    [
        ("1e8", BOUND),  # a pipeline waited 900 s and then failed
        ("61", BOUND),
        ("1e999", BOUND),  # Python's json reads this as infinity
        ("-1", BOUND),
        ("0", BOUND),
        ('"10"', BOUND),
        ("true", BOUND),
        ("null", BOUND),
        ("Infinity", "Infinity is not a JSON number"),  # was HTTP 500
        ("-Infinity", "Infinity is not a JSON number"),
        ("NaN", "NaN is not a JSON number"),
    ],
)
def test_a_claim_lifetime_out_of_bounds_is_refused(
    shared_hub: RunningHub, path: str, ttl: str, expected: str
) -> None:
    body = f'{{"capability":"a.b","holder":"h","ttl_s":{ttl}}}'
    status, answer = _post_raw(shared_hub, path, body)
    assert status == 400, answer
    assert expected in answer["error"]
    assert "\n" not in answer["error"]
    assert _claims(shared_hub) == []


@pytest.mark.parametrize("path", ["/api/claims", "/api/claims/heartbeat", "/api/claims/release"])
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"capability": "Geometry.Area"}, "invalid capability"),
        ({"capability": "area"}, "invalid capability"),
        ({"capability": "../etc.passwd"}, "invalid capability"),
        ({"capability": "a." + "b" * 64}, "invalid capability"),
        ({"capability": 7}, "invalid capability"),
        ({"holder": ""}, "invalid holder"),
        ({"holder": "h" * 201}, "invalid holder"),
        ({"holder": "worker\nInjected: line"}, "invalid holder"),
        ({"holder": "nul\x00byte"}, "invalid holder"),
        ({"holder": 5}, "invalid holder"),
    ],
)
def test_a_bad_capability_or_holder_is_refused(
    shared_hub: RunningHub, path: str, fields: dict[str, Any], expected: str
) -> None:
    body = {"capability": "a.b", "holder": "h", "ttl_s": 10} | fields
    status, answer = _post_raw(shared_hub, path, json.dumps(body))
    assert status == 400, answer
    assert answer["error"].startswith(expected)
    assert "\n" not in answer["error"]
    assert _claims(shared_hub) == []


def test_the_longest_allowed_lifetime_and_a_missing_one(hub: RunningHub) -> None:
    status, answer = _post_raw(hub, "/api/claims", '{"capability":"a.b","holder":"h"}')
    assert status == 400
    assert answer["error"].startswith("invalid ttl_s: Field required")
    body = json.dumps({"capability": "a.b", "holder": "h", "ttl_s": MAX_CLAIM_TTL_S})
    assert _post_raw(hub, "/api/claims", body) == (200, {"granted": True})


# heartbeats and takeover


def test_a_heartbeat_by_another_holder_is_not_held(hub: RunningHub) -> None:
    client = _publisher(hub)
    assert not client.heartbeat(CAPABILITY, "nobody", 10)  # no claim: none is created
    assert _claims(hub) == []
    assert client.claim(CAPABILITY, "worker-a", 10)
    assert not client.heartbeat(CAPABILITY, "worker-b", 10)
    assert _claims(hub) == [(CAPABILITY, "worker-a")]
    client.release(CAPABILITY, "worker-a")
    assert not client.heartbeat(CAPABILITY, "worker-a", 10)  # released


def test_heartbeats_keep_a_short_claim_alive_past_its_lifetime(hub: RunningHub) -> None:
    client = _publisher(hub)
    ttl = 0.8
    assert client.claim(CAPABILITY, "worker-a", ttl)
    kept_until = time.monotonic() + 3 * ttl
    while time.monotonic() < kept_until:
        assert client.heartbeat(CAPABILITY, "worker-a", ttl)
        assert not client.claim(CAPABILITY, "worker-b", 10)
        time.sleep(ttl / 4)
    stopped = time.monotonic()
    while not client.claim(CAPABILITY, "worker-b", 10):  # no more heartbeats: it lapses
        assert time.monotonic() - stopped < ttl + 5, "the claim never lapsed"
        time.sleep(0.05)
    assert not client.heartbeat(CAPABILITY, "worker-a", ttl)  # taken over
    assert _claims(hub) == [(CAPABILITY, "worker-b")]


def test_an_expired_claim_is_taken_over_by_another_holder(hub: RunningHub) -> None:
    client = _publisher(hub)
    ttl = 0.5
    assert client.claim(CAPABILITY, "crashed", ttl)
    claimed = time.monotonic()
    while not client.claim(CAPABILITY, "worker-b", 10):
        assert time.monotonic() - claimed < ttl + 5, "the expired claim was never taken over"
        time.sleep(0.05)
    assert time.monotonic() - claimed >= ttl * 0.8  # not before it expired
    assert not client.claim(CAPABILITY, "crashed", 10)
    assert _claims(hub) == [(CAPABILITY, "worker-b")]


# the synthesizer keeps its claim alive while it works, and releases it


def _request(tmp_path: Path) -> SynthesisRequest:
    return SynthesisRequest(
        spec=area_spec(), mode=SynthesisMode.PUBLISH, run_dir=tmp_path, plugin_dir=tmp_path / "p"
    )


def _heartbeat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"hub-claim-{CAPABILITY}"]


def test_the_synthesizer_keeps_its_claim_while_it_works_longer_than_the_lifetime(
    hub: RunningHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ttl = 0.6
    monkeypatch.setattr(hub_synthesizer, "CLAIM_TTL_S", ttl)
    other = _publisher(hub)
    checks: list[bool] = []

    def slow_synthesis(_self: Any, _client: Any, request: SynthesisRequest, holder: str) -> Any:
        assert _claims(hub) == [(CAPABILITY, holder)]
        until = time.monotonic() + 4 * ttl
        while time.monotonic() < until:
            checks.append(other.claim(CAPABILITY, "worker-b", 10))
            time.sleep(ttl / 6)
        return SynthesisOutcome(capability=CAPABILITY, notes=["synthesized"])

    monkeypatch.setattr(HubSynthesizer, "_synthesize_and_publish", slow_synthesis)
    outcome = HubSynthesizer(_publisher(hub)).synthesize(_request(tmp_path))
    assert outcome.notes == ["synthesized"]
    assert checks and not any(checks)  # nobody else got the claim during the whole work
    assert _claims(hub) == []  # released at the end
    for thread in _heartbeat_threads():
        thread.join(2)
    assert _heartbeat_threads() == []


def test_failing_heartbeats_warn_once_and_never_break_the_synthesis(
    hub: RunningHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    ttl = 0.3
    monkeypatch.setattr(hub_synthesizer, "CLAIM_TTL_S", ttl)
    client = _publisher(hub)
    beats: list[float] = []

    def failing_heartbeat(capability: str, holder: str, ttl_s: float) -> bool:
        beats.append(ttl_s)
        raise HubError("the hub refused POST /api/claims/heartbeat (HTTP 503): busy")

    monkeypatch.setattr(client, "heartbeat", failing_heartbeat)

    def synthesis(_self: Any, _client: Any, request: SynthesisRequest, holder: str) -> Any:
        time.sleep(4 * ttl)
        return SynthesisOutcome(capability=CAPABILITY, notes=["synthesized"])

    monkeypatch.setattr(HubSynthesizer, "_synthesize_and_publish", synthesis)
    outcome = HubSynthesizer(client).synthesize(_request(tmp_path))
    assert outcome.notes == ["synthesized"]
    assert len(beats) >= 3 and set(beats) == {ttl}
    warnings = [line for line in capsys.readouterr().out.splitlines() if "warning" in line]
    assert warnings == [
        f"  {CAPABILITY}: warning: could not keep the hub claim alive: the hub refused "
        "POST /api/claims/heartbeat (HTTP 503): busy"
    ]
    assert _claims(hub) == []


# a worker killed with -9 in the middle of a synthesis


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    """The process's output lines up to the first containing ``marker``; fails after
    ``timeout`` or at its end."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if marker in line:
            return seen
    pytest.fail(f"the worker never printed {marker!r}; its output: {''.join(seen)[-2000:]}")


def test_a_worker_killed_mid_synthesis_is_taken_over_by_the_resumed_run(
    hub: RunningHub, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(AREA_PLAN)
    run_dir = tmp_path / "run"
    command = [
        overlay_venv(tmp_path / "venv"), "-m", "plan_pipeline.cli", "run", str(plan),
        "--run-dir", str(run_dir), "--synthesis", "publish",
    ]  # fmt: skip
    env = hub_env(hub.home) | {"PLANEXE_PROPERTY_EXAMPLES": "10"}
    worker = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # its own process group: kill -9 takes every child too
    )
    try:
        _read_until(worker, f"{CAPABILITY}: codegen:", timeout=120)  # synthesis has begun
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(30)
    ((capability, dead_holder),) = _claims(hub)  # the dead worker's claim is left behind
    assert capability == CAPABILITY
    assert _publisher(hub).records(CAPABILITY) == []  # killed before it published
    assert not (run_dir / "001-area.json").exists()

    started = time.monotonic()
    resumed = subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, timeout=120
    )
    took = time.monotonic() - started

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "the other worker stopped without publishing; synthesizing here" in resumed.stdout
    assert resumed.stdout.count(f"synthesized '{CAPABILITY}'") == 1
    assert (run_dir / "001-area.json").read_text().strip() == '{\n  "area": 12\n}'
    (record,) = _publisher(hub).records(CAPABILITY)
    assert dead_holder not in record.owner
    assert _claims(hub) == []
    assert took < 30, f"the resumed run took {took:.1f} s (acceptance: under 30 s)"


def test_a_claim_belongs_to_its_token_and_one_token_holds_only_so_many(
    hub: RunningHub,
) -> None:
    """Another token, even naming the same holder, neither keeps a claim alive nor releases
    it; and one token that claims capability after capability is refused past its share,
    while another token still claims."""
    from hub_index.home import add_publish_token
    from hub_index.service import MAX_CLAIMS_PER_TOKEN

    mine = _publisher(hub)
    other = _publisher(hub)
    other.token = add_publish_token(hub.home, "installation-b")
    assert mine.claim(CAPABILITY, "worker-1", ttl_s=30)
    assert not other.heartbeat(CAPABILITY, "worker-1", ttl_s=30)
    other.release(CAPABILITY, "worker-1")
    assert not other.claim(CAPABILITY, "worker-1", ttl_s=30)  # still mine
    assert mine.heartbeat(CAPABILITY, "worker-1", ttl_s=30)

    greedy = _publisher(hub)
    greedy.token = add_publish_token(hub.home, "greedy")
    for n in range(MAX_CLAIMS_PER_TOKEN):
        assert greedy.claim(f"hoard.cap_{n}", "hoarder", ttl_s=60)
    assert greedy.claim("hoard.cap_0", "hoarder", ttl_s=60)  # renewing one it holds is fine
    with pytest.raises(HubError, match=f"holds {MAX_CLAIMS_PER_TOKEN} live claims already"):
        greedy.claim("hoard.one_more", "hoarder", ttl_s=60)
    assert other.claim("hoard.one_more", "worker-2", ttl_s=30)


def test_one_token_claiming_in_parallel_gets_no_more_than_its_share(hub: RunningHub) -> None:
    """40 claims of one token at once, to race the count: 16 are granted, the rest busy."""
    from hub_client.errors import HubBusyError
    from hub_index.service import MAX_CLAIMS_PER_TOKEN

    client = _publisher(hub)
    granted, busy = [], []
    barrier = threading.Barrier(40)

    def one(n: int) -> None:
        barrier.wait()
        try:
            if client.claim(f"race.cap_{n}", f"worker-{n}", 60):
                granted.append(n)
        except HubBusyError:
            busy.append(n)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(granted), len(busy)) == (MAX_CLAIMS_PER_TOKEN, 40 - MAX_CLAIMS_PER_TOKEN)


def test_a_token_name_with_control_characters_is_refused(hub: RunningHub) -> None:
    """A token name holding the separator of a claim's owner and holder could count against
    another token's share: names are printable only."""
    from hub_index.home import add_publish_token

    with pytest.raises(HubError, match="is not 1 to 200 printable characters"):
        add_publish_token(hub.home, "hub-publish\x1fx")
