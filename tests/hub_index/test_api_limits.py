"""The API's limits, attacked over raw sockets: body size and framing, read timeouts, bounded
connections; and the client's quoting of every value it puts in a URL."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from hub_client.client import PluginHubClient
from hub_client.errors import HubBusyError, HubError, VerificationError
from hub_client.records import PluginRecord
from hub_index.api import MAX_BODY_BYTES, MAX_HEAD_BYTES, MAX_PIPELINED
from hub_index.db import HubDatabase
from hub_index.home import init_home
from hub_index.server import RunningHub, embedded_hub
from plan_pipeline.trust import Tier
from tests.hub_index.conftest import publish_generated

READ_TIMEOUT_S = 2.0
MAX_CONNECTIONS = 8
INFO = b"GET /api/info HTTP/1.1\r\nHost: hub\r\n\r\n"
MANY_HEADERS = b"".join(b"X-%d: %s\r\n" % (n, b"a" * 100) for n in range(200))  # 21 KiB


@pytest.fixture
def small_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningHub]:
    """A hub whose API holds 8 connections at once and drops one stalled for 2 s (its body,
    or its request head)."""
    from hub_index import api

    monkeypatch.setattr(api, "HEADERS_TIMEOUT_S", READ_TIMEOUT_S)
    home = init_home(tmp_path / "hub")
    with embedded_hub(
        home, max_connections=MAX_CONNECTIONS, read_timeout_s=READ_TIMEOUT_S
    ) as running:
        yield running


def _connect(hub: RunningHub) -> socket.socket:
    parts = urlsplit(hub.api_url)
    assert parts.hostname is not None and parts.port is not None
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _post(hub: RunningHub, headers: dict[str, str] | list[tuple[str, str]], body: bytes) -> bytes:
    """A raw POST /api/claims with the publish token and exactly these other headers."""
    token = hub.home.credentials().publish_token
    pairs = [("Host", "hub"), ("Authorization", f"Bearer {token}")]
    pairs += list(headers.items()) if isinstance(headers, dict) else headers
    head = "".join(f"{name}: {value}\r\n" for name, value in pairs)
    return f"POST /api/claims HTTP/1.1\r\n{head}\r\n".encode() + body


def _answer(sock: socket.socket, timeout: float = 5.0) -> tuple[int, Any]:
    """The status and JSON body of the answer: its head, then ``Content-Length`` bytes (or
    what comes until the server closes the connection)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            head, found, body = data.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
            if found and length and len(body) >= int(length[1]):
                break
    except ConnectionResetError:  # closed with part of the request unread: the answer came
        if not data:
            raise
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/"), data[:200]
    return int(head.split()[1]), json.loads(body)


def _exchange(hub: RunningHub, raw: bytes) -> tuple[int, Any]:
    with _connect(hub) as sock:
        sock.sendall(raw)
        return _answer(sock)


def _claim_body(size: int | None = None) -> bytes:
    """A valid claim, padded with an ignored field to exactly ``size`` bytes."""
    body = {"capability": "a.b", "holder": "h", "ttl_s": 10, "pad": ""}
    base = len(json.dumps(body).encode())
    body["pad"] = "x" * ((size or base) - base)
    return json.dumps(body).encode()


CLAIM = _claim_body()


def _is_one_line_error(answer: Any) -> bool:
    return set(answer) == {"error"} and answer["error"] and "\n" not in answer["error"]


# body size and framing


def test_a_huge_body_is_refused_before_any_of_it_is_read(hub: RunningHub) -> None:
    with _connect(hub) as sock:
        started = time.monotonic()
        sock.sendall(_post(hub, {"Content-Length": "400000000"}, b""))  # headers only
        status, answer = _answer(sock)  # answered and closed without waiting for a body
        assert time.monotonic() - started < 2
    assert status == 413
    assert answer == {
        "error": f"the request body is 400000000 bytes; the hub accepts at most {MAX_BODY_BYTES}"
    }
    assert MAX_BODY_BYTES == 1024 * 1024


def test_the_body_limit_is_exact(hub: RunningHub) -> None:
    largest = _claim_body(MAX_BODY_BYTES)
    assert _exchange(hub, _post(hub, {"Content-Length": str(len(largest))}, largest)) == (
        200,
        {"granted": True},
    )
    one_more = _claim_body(MAX_BODY_BYTES + 1)
    status, answer = _exchange(hub, _post(hub, {"Content-Length": str(len(one_more))}, b""))
    assert status == 413
    assert f"at most {MAX_BODY_BYTES}" in answer["error"]


# the parser refuses a malformed or ambiguous length itself, naming the header
_MALFORMED = "the request is not valid HTTP/1.1: "


@pytest.mark.parametrize(
    ("headers", "status", "expected"),
    [
        ([("Content-Length", "-1")], 400, _MALFORMED + "Invalid character in Content-Length"),
        ([("Content-Length", "abc")], 400, _MALFORMED + "Invalid character in Content-Length"),
        ([("Content-Length", "1e3")], 400, _MALFORMED + "Invalid character in Content-Length"),
        ([("Content-Length", "+52")], 400, _MALFORMED + "Invalid character in Content-Length"),
        (
            [("Content-Length", f"{len(CLAIM)}, {len(CLAIM)}")],
            400,
            _MALFORMED + "Invalid character in Content-Length",
        ),
        (
            [("Content-Length", str(len(CLAIM))), ("Content-Length", str(len(CLAIM)))],
            400,
            _MALFORMED + "Duplicate Content-Length",
        ),
        ([("Content-Length", "9" * 5000)], 400, _MALFORMED + "Content-Length overflow"),
        ([], 411, "needs a Content-Length"),
        ([("Transfer-Encoding", "chunked")], 411, "chunked request bodies are not supported"),
        (
            [("Transfer-Encoding", "chunked"), ("Content-Length", str(len(CLAIM)))],
            400,
            _MALFORMED + "Content-Length can't be present with Transfer-Encoding",
        ),
    ],
)
def test_a_bad_content_length_is_refused(
    hub: RunningHub, headers: list[tuple[str, str]], status: int, expected: str
) -> None:
    body = CLAIM
    if any(name == "Transfer-Encoding" for name, _ in headers):
        body = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    elif not headers:
        body = b""  # with no length, a body would be read as the next request
    got, answer = _exchange(hub, _post(hub, headers, body))
    assert got == status, answer
    assert _is_one_line_error(answer)
    assert expected in answer["error"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "not valid JSON"),
        (b'{"capability": "a.b"', "not valid JSON"),
        (b"\xff\xfe\xfa", "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),  # nested deeper than the decoder's recursion limit
        (b'{"a":' * 100_000, "not valid JSON"),
        (b'{"ttl_s": NaN}', "NaN is not a JSON number"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"a.b"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    hub: RunningHub, body: bytes, expected: str
) -> None:
    status, answer = _exchange(hub, _post(hub, {"Content-Length": str(len(body))}, body))
    assert status == 400, answer
    assert _is_one_line_error(answer)
    assert expected in answer["error"]


@pytest.mark.parametrize(
    ("request_text", "status"),
    [
        (b"PUT /api/claims HTTP/1.1\r\nHost: hub\r\n\r\n", 405),
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 431),
        (b"GET /api/info HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        # many short headers: the limit is the whole head's, not one line's
        (b"GET /api/info HTTP/1.1\r\n" + MANY_HEADERS + b"\r\n", 431),
    ],
)
def test_the_servers_own_refusals_are_json_too(
    hub: RunningHub, request_text: bytes, status: int
) -> None:
    got, answer = _exchange(hub, request_text)
    assert got == status, answer
    assert _is_one_line_error(answer)
    if status == 431:  # a head past the limit: refused without keeping what it sent
        assert answer["error"] == f"the request's line and headers are over {MAX_HEAD_BYTES} bytes"


# read timeouts


@pytest.mark.parametrize(
    ("stalled", "answer"),
    [
        pytest.param(b"GET /api/info HTTP/1.1\r\nHost: hu", b"", id="headers"),
        pytest.param(b"", b"", id="nothing"),
        # Content-Length 100, then 10 bytes only: answered 408
        pytest.param(None, b'{"error":"the request body stalled for 2 s"}', id="body"),
    ],
)
def test_a_stalled_request_is_dropped_after_the_read_timeout_and_others_are_served(
    small_hub: RunningHub, stalled: bytes | None, answer: bytes, capfd: pytest.CaptureFixture[str]
) -> None:
    if stalled is None:
        stalled = _post(small_hub, {"Content-Length": "100"}, b'{"capabili')
    with _connect(small_hub) as slow:
        slow.sendall(stalled)
        started = time.monotonic()
        assert _exchange(small_hub, INFO)[0] == 200  # the others are served meanwhile
        slow.settimeout(READ_TIMEOUT_S + 10)
        data = b""
        while chunk := slow.recv(1000):
            data += chunk
        waited = time.monotonic() - started
    assert data.partition(b"\r\n\r\n")[2] == answer
    assert READ_TIMEOUT_S * 0.75 <= waited < READ_TIMEOUT_S + 5
    assert _exchange(small_hub, INFO)[0] == 200
    assert "Traceback" not in capfd.readouterr().err


# the protocol: heads, pipelining and upgrades


def _answers(sock: socket.socket, timeout: float = 10.0) -> list[tuple[int, Any]]:
    """Every answer on the connection until the hub closes it: (status, JSON body)."""
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    answers = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
        assert head.startswith(b"HTTP/1.1 ") and length, data[:200]
        body, data = rest[: int(length[1])], rest[int(length[1]) :]
        answers.append((int(head.split()[1]), json.loads(body)))
    return answers


def test_a_header_that_never_ends_is_refused_once_past_the_head_limit(hub: RunningHub) -> None:
    """The parser keeps a header's value whole until its line ends: the hub counts what
    came, so an endless value is refused after the limit (and one read), not held."""
    sent = 0
    with _connect(hub) as sock:
        sock.sendall(b"GET /api/info HTTP/1.1\r\nHost: hub\r\nX-Endless: ")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < 4 * 1024 * 1024:
                sock.sendall(b"a" * 1024)
                sent += 1024
                time.sleep(0.0005)  # separate reads on the hub's side
        assert _answers(sock) == [
            (431, {"error": f"the request's line and headers are over {MAX_HEAD_BYTES} bytes"})
        ]
    assert sent < 1024 * 1024  # refused long before: nothing kept past the limit


def test_a_stream_of_pipelined_requests_is_cut_after_the_queue_limit(hub: RunningHub) -> None:
    with _connect(hub) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(INFO * 2000)
        answers = _answers(sock)
    *served, last = answers
    assert MAX_PIPELINED < len(served) < 2000
    assert all(status == 200 for status, _ in served)
    assert last == (
        503,
        {"error": f"more than {MAX_PIPELINED} requests queued on one connection: send the "
                  "rest after their answers"},
    )  # fmt: skip


def test_a_refusal_comes_after_the_answers_to_the_requests_before_it(hub: RunningHub) -> None:
    with _connect(hub) as sock:
        search = b"GET /api/plugins?search= HTTP/1.1\r\nHost: hub\r\n\r\n"
        sock.sendall(INFO + search + b"GET /\x01 HTTP/1.1\r\n\r\n")
        answers = _answers(sock)
    assert [status for status, _ in answers] == [200, 200, 400]
    assert answers[1][1] == []
    assert answers[2][1]["error"].startswith("the request is not valid HTTP/1.1: ")


@pytest.mark.parametrize(
    "request_head",
    [
        b"GET /api/info HTTP/1.1\r\nHost: hub\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n",
        b"GET /api/info HTTP/1.1\r\nHost: hub\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        b"CONNECT hub:443 HTTP/1.1\r\nHost: hub:443\r\n\r\n",
    ],
    ids=["h2c", "websocket", "connect"],
)
def test_an_upgrade_is_refused_and_nothing_after_it_is_read(
    hub: RunningHub, request_head: bytes
) -> None:
    """A request smuggled behind an upgrade (bytes a proxy takes for the new protocol's)
    is never answered: the upgrade is refused and the connection closed."""
    smuggled = b"GET /api/plugins?capability=smuggled HTTP/1.1\r\nHost: hub\r\n\r\n"
    with _connect(hub) as sock:
        sock.sendall(request_head + smuggled)
        answers = _answers(sock)
    assert answers == [
        (400, {"error": "the hub takes no protocol upgrade or CONNECT: send plain HTTP/1.1 "
                        "requests"})
    ]  # fmt: skip


def test_a_chunked_body_is_refused_whatever_the_method(hub: RunningHub) -> None:
    chunked = b"GET /api/info HTTP/1.1\r\nHost: hub\r\nTransfer-Encoding: chunked\r\n\r\n"
    with _connect(hub) as sock:
        sock.sendall(chunked + b"5\r\nhello\r\n0\r\nX-Trailer: " + b"a" * 100 + b"\r\n\r\n")
        answers = _answers(sock)
    assert answers == [
        (411, {"error": "chunked request bodies are not supported: send a Content-Length"})
    ]


def test_a_client_that_never_reads_its_answers_is_cut(
    hub: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answers the client leaves unread fill the buffers; the hub cuts the connection
    after the write timeout, so such a client cannot hold a slot for ever."""
    from hub_index import api

    monkeypatch.setattr(api, "WRITE_TIMEOUT_S", 0.5)
    sizable = b"GET /openapi.json HTTP/1.1\r\nHost: hub\r\n\r\n"
    parts = urlsplit(hub.api_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parts.hostname, parts.port))
    with sock:
        started = time.monotonic()
        cut = False
        while not cut and time.monotonic() - started < 30:
            try:
                sock.sendall(sizable * MAX_PIPELINED)
            except (BrokenPipeError, ConnectionResetError):
                cut = True
            time.sleep(0.2)
        assert cut, "the hub kept a connection that read nothing for 30 s"
    assert _exchange(hub, INFO)[0] == 200


# bounded connections


def test_connections_past_the_limit_are_answered_busy_in_json(small_hub: RunningHub) -> None:
    """With every connection slot held by idle clients, a request is answered 503 at once,
    in the hub's JSON; once the idle ones go, requests are served again."""
    idle = [_connect(small_hub) for _ in range(MAX_CONNECTIONS - 1)]
    try:
        time.sleep(0.2)
        asked = time.monotonic()
        status, answer = _exchange(small_hub, INFO)
        assert time.monotonic() - asked < 1  # answered at once
        assert (status, answer) == (
            503,
            {"error": f"the hub is busy: {MAX_CONNECTIONS} connections are open; retry shortly"},
        )
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 5
    while (status := _exchange(small_hub, INFO)[0]) != 200:
        assert status == 503 and time.monotonic() < deadline, "the slots were never freed"
        time.sleep(0.1)


# the client quotes every value it puts in a URL


def test_values_with_url_characters_round_trip(hub: RunningHub, client: PluginHubClient) -> None:
    wheel = b"not really a wheel"
    record = PluginRecord(
        capability="geometry.area",
        version="1.0.0+x",  # a local version: '+' is a space in a query string
        dist_name="planexe-gen-geometry-area",
        filename="planexe_gen_geometry_area-1.0.0+x-py3-none-any.whl",
        checksum=hashlib.sha256(wheel).hexdigest(),
        trust_tier=Tier.GENERATED,
        owner="test",
        signer_identity="test",
    )
    with HubDatabase(hub.home.settings().database_url) as db:
        db.add_plugin(record)
    (hub.home.packages / record.filename).write_bytes(wheel)

    found = client.by_dist("planexe-gen-geometry-area", "1.0.0+x")
    assert found is not None and found.plugin_id == record.plugin_id
    assert client.by_dist("planexe-gen-geometry-area", "1.0.0") is None
    assert client.next_version("planexe-gen-geometry-area", "1.0.0+x") == "1.0.1"
    for dist_name in (
        "planexe-gen-geometry-area&version=1.0.0%2Bx",  # no query parameter smuggled in
        "planexe-gen-geometry-area#x",
        "planexe gen geometry area",
    ):
        assert client.by_dist(dist_name, "9.9") is None
    assert client.show(record.plugin_id) == found
    with pytest.raises(HubError, match=r"GET /api/plugins/a%2Fb%3Fc%23d%20%2Be \(HTTP 404\)"):
        client.show("a/b?c#d +e")
    assert "%2B" in client.file_url(record)
    with urllib.request.urlopen(client.file_url(record), timeout=10) as response:
        assert response.read() == wheel


def test_publishes_beyond_the_rebuild_limit_are_refused_as_busy_and_retried(
    hub: RunningHub, client: PluginHubClient, tmp_path: Path
) -> None:
    """Every rebuild slot taken (as by a flood of publishes): one more publish is answered
    503 at once and nothing is recorded; the pipeline's client keeps asking until a slot is
    free, within its wait."""
    assert hub.service is not None
    slots = hub.service.rebuilds
    for _ in range(hub.service.max_rebuilds):
        assert slots.acquire(blocking=False)
    client.busy_wait_s = 2.0
    started = time.monotonic()
    with pytest.raises(HubBusyError, match=r"HTTP 503\): the hub is rebuilding 2 published"):
        publish_generated(client, tmp_path)
    assert time.monotonic() - started >= 1.0  # asked again before giving up
    assert client.records("geometry.area") == []

    client.busy_wait_s = 120.0
    freed = threading.Timer(1.5, lambda: [slots.release() for _ in range(2)])
    freed.start()
    _, record = publish_generated(client, tmp_path / "again")
    freed.join()
    assert [r.plugin_id for r in client.records("geometry.area")] == [record.plugin_id]


def test_one_token_rebuilds_one_publish_at_a_time_and_leaves_the_other_slot(
    hub: RunningHub, client: PluginHubClient, tmp_path: Path
) -> None:
    """A token whose publish is rebuilding (as a flood of CPU-heavy publishes from it would
    keep one) gets its next publish refused as busy, and takes no second slot: another
    token's publish is rebuilt meanwhile."""
    from hub_index.home import add_publish_token

    assert hub.service is not None
    greedy = PluginHubClient.from_home(hub.home, role="publish")
    greedy.cache_dir = tmp_path / "greedy-cache"
    greedy.token = add_publish_token(hub.home, "greedy")
    greedy.busy_wait_s = 0.5
    hub.service._rebuilding.add("greedy")  # its first publish is rebuilding
    assert hub.service.rebuilds.acquire(blocking=False)
    try:
        with pytest.raises(HubBusyError, match="another publish of this API token"):
            publish_generated(greedy, tmp_path / "greedy")
        honest = PluginHubClient.from_home(hub.home, role="publish")
        honest.cache_dir = tmp_path / "honest-cache"
        _, record = publish_generated(honest, tmp_path / "honest")
        assert [r.plugin_id for r in client.records("geometry.area")] == [record.plugin_id]
    finally:
        hub.service._rebuilding.discard("greedy")
        hub.service.rebuilds.release()


def test_a_wheel_download_that_does_not_end_is_cut_at_the_signed_length(
    client: PluginHubClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lying hub streams without end: the client reads one byte past the signed length,
    refuses the file and never holds more in memory."""
    _, record = publish_generated(client, tmp_path)

    class Endless(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"x" * 65536)
            except OSError:
                pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/files/{record.checksum}/{record.filename}"
    monkeypatch.setattr(PluginHubClient, "file_url", lambda self, _record: url)
    client.cache_dir = tmp_path / "fresh-cache"
    try:
        with pytest.raises(VerificationError, match=r"sha256|length|refus"):
            client.download(record)
    finally:
        server.shutdown()
        server.server_close()
