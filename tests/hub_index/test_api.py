"""The hub's API as an ASGI app under uvicorn: one JSON error shape, the limits, an OpenAPI
description that schemathesis fuzzes, and several worker processes on one PostgreSQL
database (``test_hub.py`` runs its whole flow against this app too)."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
import sqlalchemy as sa

from hub_client.client import PluginHubClient
from hub_index.api import MAX_BODY_BYTES
from hub_index.home import init_home
from hub_index.server import RunningHub, embedded_hub
from tests.hub_index.conftest import hub_env
from tests.hub_index.test_publish_mode import AREA_PLAN
from tests.venvs import overlay_venv


def _raw(hub: RunningHub, request: bytes) -> tuple[int, Any]:
    host, port = hub.api_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body or b"null")


def _post(path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: hub", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n".encode()


CLAIM = json.dumps({"capability": "a.b", "holder": "h", "ttl_s": 5}).encode()


@pytest.mark.parametrize(
    ("request_bytes", "status", "error"),
    [
        (b"GET /nowhere HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n", 404, "unknown path"),
        (_post("/api/claims", {"Content-Length": str(len(CLAIM))}, CLAIM), 401,
         "this call needs an API token (Authorization: Bearer ...)"),
        (_post("/api/claims", {"Content-Length": str(len(CLAIM)), "Authorization": "Bearer x"},
               CLAIM), 403, "the API token is not valid"),
        (_post("/api/claims", {}), 411, "a POST needs a Content-Length header and a JSON body"),
        (_post("/api/claims", {"Content-Length": "400000000"}), 413,
         f"the request body is 400000000 bytes; the hub accepts at most {MAX_BODY_BYTES}"),
        (b"GET /api/plugins HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n", 400,
         "missing query parameter 'capability'"),
        (b"DELETE /api/info HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n", 405,
         "Method Not Allowed"),
    ],
)  # fmt: skip
def test_every_refusal_is_one_json_line(
    hub: RunningHub, request_bytes: bytes, status: int, error: str
) -> None:
    assert _raw(hub, request_bytes) == (status, {"error": error})


@pytest.mark.parametrize(
    ("request_bytes", "reason"),
    [
        (b"GARBAGE\r\n\r\n", "Invalid method encountered"),
        (_post("/api/claims", {"Content-Length": "-1"}), "Invalid character in Content-Length"),
        (_post("/api/claims", {"Content-Length": "abc"}), "Invalid character in Content-Length"),
        (b"GET /api/info HTTP/1.1\r\nHost: hub\r\nBad Header\r\n\r\n", "Invalid header token"),
    ],
    ids=["no request line", "negative length", "length not a number", "header without colon"],
)
def test_requests_the_server_cannot_parse_are_refused_in_json_too(
    hub: RunningHub, request_bytes: bytes, reason: str
) -> None:
    """The parser's own reason, in the hub's JSON, and the connection closed."""
    assert _raw(hub, request_bytes) == (
        400,
        {"error": f"the request is not valid HTTP/1.1: {reason}"},
    )


def test_a_body_that_is_not_json_or_breaks_a_rule_is_named(hub: RunningHub) -> None:
    token = hub.home.credentials().publish_token
    auth = {"Authorization": f"Bearer {token}"}
    bad = b"{not json"
    status, answer = _raw(hub, _post("/api/claims", {**auth, "Content-Length": "9"}, bad))
    assert status == 400 and answer["error"].startswith("the request body is not valid JSON")
    rule = json.dumps({"capability": "a.b", "holder": "h", "ttl_s": 600}).encode()
    status, answer = _raw(
        hub, _post("/api/claims", {**auth, "Content-Length": str(len(rule))}, rule)
    )
    assert status == 400
    assert answer["error"].startswith("invalid ttl_s: Input should be less than or equal to 60")


def test_the_openapi_description_names_every_route(hub: RunningHub) -> None:
    status, described = _raw(
        hub, b"GET /openapi.json HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n"
    )
    assert status == 200
    assert set(described["paths"]) == {
        "/api/info", "/api/plugins", "/api/plugins/{plugin_id}",
        "/api/plugins/{plugin_id}/report", "/api/plugins/{plugin_id}/violations",
        "/api/plugins/{plugin_id}/adapters",
        "/api/next-version", "/api/metrics", "/api/ranking", "/api/promotion-candidates",
        "/api/duplicates",
        "/api/publish", "/api/uploads/{filename}", "/api/metadata/targets", "/api/usage",
        "/api/claims", "/api/claims/heartbeat", "/api/claims/release",
        "/metadata/{filename}", "/files/{sha256}/{filename}",
    }  # fmt: skip
    assert "SuccessMetrics" in described["components"]["schemas"]
    assert not [name for name in described["components"]["schemas"] if "seed" in name.lower()]
    errors = described["paths"]["/api/claims"]["post"]["responses"]
    assert {"400", "401", "403", "411", "413", "503"} <= set(errors)


def test_the_api_fuzzed_from_its_schema_answers_documented_json(hub: RunningHub) -> None:
    """schemathesis generates requests for every operation of the OpenAPI description (with
    the admin token): every response is a documented status with a JSON body (or the file or
    metadata the route documents), and no request gets a 500."""
    schema = schemathesis.openapi.from_url(hub.api_url + "/openapi.json")
    token = hub.home.credentials().api_token
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    seen: set[tuple[str, int]] = set()
    for operation in operations:
        _fuzz(operation, token, seen)
    statuses = {status for _, status in seen}
    assert 200 in statuses and 400 in statuses  # the fuzzing reached both sides
    posted = {status for method, status in seen if method == "POST"}
    assert posted & {200, 201}, posted  # bodies made from the schemas, some of them accepted


def _fuzz(operation: Any, token: str, seen: set[tuple[str, int]]) -> None:
    documented = set(operation.definition.raw["responses"])

    @hypothesis.given(case=operation.as_strategy())
    @hypothesis.settings(
        max_examples=12,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def answers_documented_json(case: schemathesis.Case) -> None:
        response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        where = (case.method, case.formatted_path, response.status_code)
        seen.add((case.method.upper(), response.status_code))
        assert response.status_code != 500, (where, response.text[:300])
        assert str(response.status_code) in documented, where
        raw = case.formatted_path.startswith(("/files", "/metadata"))
        if case.method.upper() != "HEAD" and (response.status_code >= 400 or not raw):
            body = response.json()
            assert isinstance(body, dict | list), where
            if response.status_code >= 400:
                assert set(body) == {"error"} and "\n" not in body["error"], where

    answers_documented_json()


@pytest.fixture
def pg_home(tmp_path: Path, pg_admin: tuple[sa.Engine, sa.URL]) -> Iterator[Path]:
    admin, url = pg_admin
    schema = f"hub_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    scoped = url.update_query_dict({"options": f"-csearch_path={schema}"})
    init_home(tmp_path / "hub", scoped.render_as_string(hide_password=False))
    yield tmp_path / "hub"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


def test_four_pipelines_against_two_api_processes_synthesize_once(
    pg_home: Path, tmp_path: Path
) -> None:
    from hub_client.local_home import HubHome

    plan = tmp_path / "plan.yaml"
    plan.write_text(AREA_PLAN)
    home = HubHome(pg_home)
    with embedded_hub(home, workers=2) as hub:
        env = hub_env(hub.home) | {"PLANEXE_PROPERTY_EXAMPLES": "10"}
        procs = [
            subprocess.Popen(
                [
                    overlay_venv(tmp_path / f"w{i}"),
                    "-m",
                    "plan_pipeline.cli",
                    "run",
                    str(plan),
                    "--run-dir",
                    str(tmp_path / f"run-{i}"),
                    "--synthesis",
                    "publish",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for i in range(4)
        ]
        outputs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0], [o[1] for o in outputs]
        stdout = "".join(o[0] for o in outputs)
        assert stdout.count("synthesized 'geometry.area'") == 1
        assert stdout.count(": published planexe-gen-geometry-area") == 1
        assert len(PluginHubClient.from_home(hub.home).records("geometry.area", fresh=True)) == 1
    for i in range(4):
        assert json.loads((tmp_path / f"run-{i}" / "001-area.json").read_text()) == {"area": 12}


def test_a_find_may_be_a_second_old_unless_the_client_asks_for_fresh_records(
    hub: RunningHub, tmp_path: Path
) -> None:
    """Another API process's publish shows within ``FIND_CACHE_S``; a client deciding on a
    claim asks with ``Cache-Control: no-cache`` and sees it at once."""
    from tests.hub_index.conftest import publish_generated

    client = PluginHubClient.from_home(hub.home)
    assert client.records("geometry.area") == []  # remembered by this API process
    assert hub.service is not None
    other = hub.service.db  # a write as another process makes it: the database only
    _, record = publish_generated(client, tmp_path)
    assert [r.plugin_id for r in client.records("geometry.area")] == [record.plugin_id]
    other.revoke(record.plugin_id, "by another process", "test")
    assert client.records("geometry.area") != []  # still what this process read
    assert client.records("geometry.area", fresh=True) == []


def test_a_stalled_body_is_answered_408_and_others_are_served(tmp_path: Path) -> None:
    home = init_home(tmp_path / "hub")
    with embedded_hub(home, read_timeout_s=0.5) as hub:
        host, port = hub.api_url.removeprefix("http://").split(":")
        token = hub.home.credentials().publish_token
        with socket.create_connection((host, int(port)), timeout=10) as stalled:
            head = _post(
                "/api/claims", {"Content-Length": "100", "Authorization": f"Bearer {token}"}
            )
            stalled.sendall(head + b'{"capa')  # and no more
            assert (
                _raw(hub, b"GET /api/info HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")[0]
                == 200
            )
            data = b""
            while chunk := stalled.recv(65536):
                data += chunk
        status = int(data.split()[1])
        assert status == 408
        assert json.loads(data.partition(b"\r\n\r\n")[2]) == {
            "error": "the request body stalled for 0.5 s"
        }


def test_silent_or_slow_connections_are_closed_and_cannot_take_every_slot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn waits for a request head for ever: 66 half-sent heads would hold its 64
    slots. The hub's protocol closes a head not complete within its timeout."""
    import time

    from hub_index import api

    monkeypatch.setattr(api, "HEADERS_TIMEOUT_S", 0.5)
    home = init_home(tmp_path / "hub")
    with embedded_hub(home) as hub:
        host, port = hub.api_url.removeprefix("http://").split(":")
        holders = []
        for _ in range(66):
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.sendall(b"GET /api/info HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            holders.append(sock)
        silent = socket.create_connection((host, int(port)), timeout=10)  # sends nothing
        time.sleep(1.5)
        assert (
            _raw(hub, b"GET /api/info HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")[0] == 200
        )
        assert all(sock.recv(100) == b"" for sock in [*holders, silent])  # closed by the hub
        for sock in [*holders, silent]:
            sock.close()


def test_values_the_database_cannot_take_are_400_not_500(hub: RunningHub) -> None:
    status, answer = _raw(hub, _get("/metadata/99999999999999999999999.targets.json"))
    assert status in (400, 404) and set(answer) == {"error"}


def test_a_use_is_stamped_with_the_hubs_clock(hub: RunningHub) -> None:
    from hub_client.records import UsageRecord

    client = PluginHubClient.from_home(hub.home)
    backdated = UsageRecord.model_validate({
        "plugin_id": None, "capability": "a.b", "run_id": "r", "success": True,
        "latency_ms": 1.0, "resolution": "reused", "created_at": "2020-01-01T00:00:00Z",
    })  # fmt: skip
    client.record_usage(backdated)
    assert client.metrics(until=datetime(2021, 1, 1, tzinfo=UTC)).overall.stage_runs == 0
    assert client.metrics().overall.stage_runs == 1
    status, answer = _raw(hub, _get("/api/metrics?since=2026-01-01&until=2025-01-01"))
    assert (status, answer) == (400, {"error": "the window's start (since) is not before its end"})
    assert _raw(hub, _get("/api/metrics?since=2026-01-01T00:00"))[0] == 200


def _half_sent(hub: RunningHub, source: str) -> socket.socket:
    """A connection from loopback address ``source`` that sends part of a request head."""
    host, port = hub.api_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10, source_address=(source, 0))
    sock.sendall(b"GET /api/plugins?capability=geometry.area HTTP/1.1\r\nHost: x\r\n")
    return sock


def test_a_thousand_half_sent_requests_leave_finds_answered(hub: RunningHub) -> None:
    """1,000 connections from four client addresses, each holding part of a request head (and
    opened again whenever the hub closes one): every slot the old limit had is taken many
    times over, yet finds are answered, each well within its client's timeout."""
    stop = threading.Event()
    held: list[socket.socket] = []
    sources = [f"127.0.0.{n}" for n in range(2, 6)]

    def half_sent(n: int = 0) -> socket.socket:
        return _half_sent(hub, sources[n % len(sources)])

    def attack() -> None:
        while not stop.is_set():
            for i, sock in enumerate(held):
                sock.setblocking(False)
                try:
                    closed = sock.recv(1) == b""
                except BlockingIOError:
                    closed = False
                except OSError:
                    closed = True
                if closed:
                    sock.close()
                    held[i] = half_sent(i)
            stop.wait(0.2)

    held.extend(half_sent(n) for n in range(1000))
    attacker = threading.Thread(target=attack, daemon=True)
    attacker.start()
    try:
        client = PluginHubClient.from_home(hub.home)
        for _ in range(30):
            started = time.monotonic()
            assert client.records("geometry.area", fresh=True) == []
            assert time.monotonic() - started < 5
        status, _ = _raw(hub, b"GET /api/info HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
        assert status == 200
    finally:
        stop.set()
        attacker.join(timeout=10)
        for sock in held:
            sock.close()


def test_one_client_address_holds_only_its_share_of_the_connections(hub: RunningHub) -> None:
    """One address opening 300 half-sent requests keeps 256 of them; the others are closed at
    once, and a find from another address is answered meanwhile."""
    from hub_index.api import PER_ADDRESS_CONNECTIONS

    held = [_half_sent(hub, "127.0.0.9") for _ in range(300)]
    try:
        time.sleep(0.5)
        closed = 0
        for sock in held:
            sock.setblocking(False)
            try:
                closed += sock.recv(1) == b""
            except BlockingIOError:
                continue  # still held
            except OSError:  # reset: closed with the request head unread
                closed += 1
        assert closed == 300 - PER_ADDRESS_CONNECTIONS
        assert PluginHubClient.from_home(hub.home).records("geometry.area", fresh=True) == []
    finally:
        for sock in held:
            sock.close()
