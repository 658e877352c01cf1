"""The hub's metadata API over HTTP (JSON), on loopback by default.

Reads are open; writes need ``Authorization: Bearer <token>`` with the ``publish`` scope
(``admin`` for uploads and signed statements; 401 without a token, 403 with a wrong one).
Records are hints for finding things: clients act only on the signed metadata.

    GET  /api/info                                  index URL
    GET  /api/plugins?capability=C[&include_revoked=1]
    GET  /api/plugins?dist_name=D&version=V
    GET  /api/plugins?search=TEXT[&include_revoked=1]  capabilities containing TEXT ('': all)
    GET  /api/plugins/<id>
    GET  /api/next-version?dist_name=D&wanted=V
    GET  /api/metrics[?since=T][&until=T][&token=N] the success metrics (SuccessMetrics), ISO times
    GET  /api/plugins/<id>/report                   the hub's latest test report of a plugin and
                                                    what its publisher said it cost
    GET  /api/ranking?capability=X                  its active plugins, best RankScore first
    GET  /api/promotion-candidates[?min_runs=N][&min_tokens=M]  generated plugins for review
    GET  /api/duplicates                            pairs that pass each other's contract
    GET  /api/plugins/<id>/adapters                 near matches' adapters carrying its logic
    GET  /api/plugins/<id>/violations               contract violations reported against it by
                                                    run-time checks (ViolationReports)
    GET  /metadata/<name>.json                      signed metadata (TUF): timestamp.json,
                                                    <version>.<role>.json
    POST /api/publish                               a generated plugin: spec, logic source and
                                                    wheel sha256 (GeneratedPublish); the hub
                                                    rebuilds and re-checks it (publish scope)
    POST /api/uploads/<filename>                    a maintainer's wheel into staging (admin;
                                                    raw bytes, at most 64 MiB)
    POST /api/metadata/targets                      an admin-signed targets document: new
                                                    releases, promotions, revocations (admin)
    POST /api/usage                                 a UsageRecord (its ``violation``: a report)
    POST /api/claims   {"capability", "holder", "ttl_s"}  -> {"granted": bool}
    POST /api/claims/heartbeat {"capability", "holder", "ttl_s"} -> {"held": bool}
    POST /api/claims/release {"capability", "holder"}
    GET  /files/<sha256>/<filename>                 a wheel of the index, by content address
                                                    (409 if the file no longer has that hash)

pypiserver finds a file by scanning every file of its folder on each request (about 150 ms at
10,000 files here); ``/files/`` opens the one file directly, so fetching and installing a
plugin costs the same however large the index grows. Clients verify what they receive.

Claims: ``ttl_s`` is a finite number of seconds, more than 0 and at most ``MAX_CLAIM_TTL_S``
(60); a holder working longer heartbeats (every third of its TTL, say), so a holder that dies
frees its claim within one TTL. A heartbeat extends only the holder's own claim and answers
``held: false`` once the claim was released or taken over; it never creates a claim. A claim
belongs to the token it was made with: only that token heartbeats or releases it, and one
token holds at most 16 live claims (503 past them). A token sends at most 120 usage rows a
minute (503), and rebuilds one publish at a time (503 while its first rebuilds).

Limits (``ApiServer`` options): a POST body is one JSON object of at most ``max_body_bytes``
(1 MiB) sent with a ``Content-Length``: 411 without one or for a chunked body, 400 for a
malformed one, 413 for a larger one (answered without reading the body; the connection is
closed). A connection whose reads or writes stall for ``read_timeout_s`` (10 s) is dropped. At
most ``max_connections`` (64) connections are handled at once; one more is answered 503 at once
and closed. Every error is ``{"error": "<one line>"}``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any
from urllib.parse import parse_qs, unquote, urlparse

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, ValidationError

from hub_client.errors import DuplicateVersionError, HubError, HubUnavailableError
from hub_client.records import CapabilityName, PluginRecord, UsageRecord
from hub_index.db import MAX_CLAIM_TTL_S
from hub_index.errors import RecordNotFoundError
from hub_index.home import token_digest
from hub_index.library import PROMOTION_MIN_RUNS, PROMOTION_MIN_TOKENS
from hub_index.metadata_repository import MetadataConflictError
from hub_index.reverify import GatesFailedOnHubError, GeneratedPublish
from hub_index.service import MAX_HOLDER_CHARS, HubService, check_holder
from plan_pipeline.errors import PlanPipelineError

MAX_BODY_BYTES = 1024 * 1024
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
READ_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 64

log = logging.getLogger("planexe.hub")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_DIGITS = re.compile(r"[0-9]+")
_FIELD_RULES = {
    "ttl_s": f"a finite number of seconds, more than 0 and at most {MAX_CLAIM_TTL_S:g}; "
    "heartbeat to keep a claim longer",
}


class _Refused(Exception):
    """A request answered with ``status`` before its body was used; the connection closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _TargetsChange(BaseModel):
    targets: str
    owner: str = Field(min_length=1, max_length=200)
    summary: str = Field(default="", max_length=2000)
    signature_bundle: str | None = None


class _Release(BaseModel):
    capability: CapabilityName
    holder: Annotated[
        str,
        Field(strict=True, min_length=1, max_length=MAX_HOLDER_CHARS),
        AfterValidator(check_holder),
    ]


class _Claim(_Release):
    ttl_s: Annotated[float, Field(strict=True, gt=0, le=MAX_CLAIM_TTL_S, allow_inf_nan=False)]


def _record(record: PluginRecord) -> dict[str, Any]:
    return record.model_dump(mode="json")


def _one_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _validation_problem(exc: ValidationError) -> str:
    """The first problem of ``exc`` on one line, naming the field (and its rule, for some)."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "request body"
    problem = f"invalid {field}: {_one_line(first['msg'])}"
    if field in _FIELD_RULES:
        problem += f" ({field} must be {_FIELD_RULES[field]})"
    if exc.error_count() > 1:
        problem += f" (and {exc.error_count() - 1} more)"
    return problem


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (numbers must be finite)")


class _Handler(BaseHTTPRequestHandler):
    service: HubService
    max_body_bytes: int = MAX_BODY_BYTES
    server_version = "planexe-hub"
    default_request_version = "HTTP/1.0"  # never answer without a status line (HTTP/0.9)
    _body_length = 0

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": message})

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The server's own refusals (a malformed request line, an unknown method, a line too
        long) as JSON too; the connection closes."""
        self.close_connection = True
        reason = message or self.responses.get(code, ("error",))[0]
        self._error(code, _one_line(reason) or "error")

    def _content_length(self, limit: int) -> int:
        """The POST body's length, checked before any of it is read (``_Refused`` if bad)."""
        if "Transfer-Encoding" in self.headers:
            raise _Refused(411, "chunked request bodies are not supported: send a Content-Length")
        values = self.headers.get_all("Content-Length") or []
        if not values:
            raise _Refused(411, "a POST needs a Content-Length header and a JSON body")
        text = values[0].strip()
        if len(values) > 1 or not _DIGITS.fullmatch(text):
            raise _Refused(400, "the Content-Length header must be one non-negative integer")
        if len(text.lstrip("0")) > len(str(limit)) or int(text) > limit:
            raise _Refused(
                413, f"the request body is {text[:24]} bytes; the hub accepts at most {limit}"
            )
        return int(text)

    def _raw_body(self) -> bytes:
        """The request's bytes (a stalled body raises ``TimeoutError``: dropped)."""
        raw = self.rfile.read(self._body_length)
        if len(raw) < self._body_length:
            raise _Refused(
                400, f"the request body ended after {len(raw)} of {self._body_length} bytes"
            )
        return raw

    def _body(self) -> dict[str, Any]:
        """The request's JSON object."""
        raw = self._raw_body()
        try:
            body = json.loads(raw, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            problem = _one_line(str(exc)) or type(exc).__name__
            raise _Refused(400, f"the request body is not valid JSON: {problem}") from None
        if not isinstance(body, dict):
            raise _Refused(400, "the request body must be a JSON object ({...})")
        return body

    def _scopes(self) -> list[str] | None:
        """The caller's token scopes; ``None`` after answering 401 or 403."""
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            self._error(401, "this call needs an API token (Authorization: Bearer ...)")
            return None
        scopes = self.service.db.token_scopes(token_digest(header.removeprefix("Bearer ")))
        if not scopes:
            self._error(403, "the API token is not valid")
            return None
        return scopes

    def _send_file(self, parts: list[str], head: bool = False) -> None:
        if len(parts) != 3 or not _SHA256.fullmatch(parts[1]):
            self._error(404, "unknown file")
            return
        try:
            data = self.service.files.served(parts[2]).read_bytes()
        except (HubError, OSError):
            self._error(404, f"the index has no file {parts[2]}")
            return
        if hashlib.sha256(data).hexdigest() != parts[1]:
            self._error(409, f"the index's {parts[2]} no longer has sha256 {parts[1]}")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        url = urlparse(self.path)
        parts = _segments(url.path)
        if method == "GET" and parts[:1] == ["files"]:
            self._send_file(parts)
            return
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            scopes: list[str] = []
            if method == "POST":
                upload = parts[:2] == ["api", "uploads"]
                limit = (
                    max(self.max_body_bytes, MAX_UPLOAD_BYTES) if upload else self.max_body_bytes
                )
                self._body_length = self._content_length(limit)
                found = self._scopes()
                if found is None:
                    return
                scopes = found
            self._route(method, parts, query, scopes)
        except _Refused as exc:
            self.close_connection = True
            self._error(exc.status, exc.message)
        except (TimeoutError, ConnectionError):
            raise  # a stalled or vanished client: the server drops it with one log line
        except RecordNotFoundError as exc:
            self._error(404, str(exc))
        except (DuplicateVersionError, MetadataConflictError) as exc:
            self._error(409, str(exc))
        except GatesFailedOnHubError as exc:
            self._error(422, str(exc))
        except HubUnavailableError as exc:  # busy, or the database is down: retry later
            self._error(503, str(exc))
        except KeyError as exc:
            self._error(400, f"missing query parameter {exc}")
        except ValidationError as exc:
            self._error(400, _validation_problem(exc))
        except (PlanPipelineError, ValueError) as exc:
            self._error(400, _one_line(str(exc)) or type(exc).__name__)
        except Exception as exc:  # never leak a traceback to a client
            log.exception("hub API error")
            self._error(500, f"internal error: {type(exc).__name__}")

    def _require(self, scopes: list[str], scope: str) -> bool:
        if scope in scopes:
            return True
        self._error(403, f"this call needs a token with the '{scope}' scope")
        return False

    def _route(
        self, method: str, parts: list[str], query: dict[str, str], scopes: list[str]
    ) -> None:
        svc = self.service
        if method == "POST" and not self._require(scopes, "publish"):
            return
        if method == "GET" and len(parts) == 2 and parts[0] == "metadata":
            self._send_metadata(parts[1])
            return
        if parts[:1] != ["api"]:
            self._error(404, "unknown path")
            return
        route = parts[1:]
        if method == "GET" and route == ["info"]:
            self._send(200, {"index_url": svc.index_url.rstrip("/") + "/simple/"})
        elif method == "GET" and route == ["plugins"]:
            if "search" in query:
                found = svc.search(query["search"][:200], query.get("include_revoked") == "1")
                self._send(200, [_record(r) for r in found])
            elif "dist_name" in query:
                self._send(200, [_record(svc.by_dist(query["dist_name"], query["version"]))])
            else:
                fresh = "no-cache" in self.headers.get("Cache-Control", "")
                found = svc.find(query["capability"], query.get("include_revoked") == "1", fresh)
                self._send(200, [_record(r) for r in found])
        elif method == "GET" and len(route) == 2 and route[0] == "plugins":
            self._send(200, _record(svc.get(route[1])))
        elif (
            method == "GET" and len(route) == 3 and route[0] == "plugins" and route[2] == "adapters"
        ):
            self._send(200, [_record(r) for r in svc.adapters_of(route[1])])
        elif method == "GET" and len(route) == 3 and route[0] == "plugins" and route[2] == "report":
            self._send(200, svc.latest_report(route[1]))
        elif (
            method == "GET"
            and len(route) == 3
            and route[0] == "plugins"
            and route[2] == "violations"
        ):
            self._send(200, svc.violation_reports(route[1]).model_dump(mode="json"))
        elif method == "GET" and route == ["metrics"]:
            window = _Window.model_validate(query)
            figures = svc.metrics(window.since, window.until, window.token)
            self._send(200, figures.model_dump(mode="json"))
        elif method == "GET" and route == ["ranking"]:
            ranked = svc.library.ranking(query["capability"][:200])
            self._send(200, [r.model_dump(mode="json") for r in ranked])
        elif method == "GET" and route == ["promotion-candidates"]:
            limits = _Limits.model_validate(query)
            candidates = svc.library.promotion_candidates(limits.min_runs, limits.min_tokens)
            self._send(200, [c.model_dump(mode="json") for c in candidates])
        elif method == "GET" and route == ["duplicates"]:
            self._send(200, [p.model_dump(mode="json") for p in svc.library.duplicates()])
        elif method == "GET" and route == ["next-version"]:
            self._send(200, {"version": svc.next_version(query["dist_name"], query["wanted"])})
        elif method == "POST" and route == ["publish"]:
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            publish = GeneratedPublish.model_validate(self._body())
            self._send(201, _record(svc.publish_generated(publish, token)))
        elif method == "POST" and len(route) == 2 and route[0] == "uploads":
            if self._require(scopes, "admin"):
                self._send(201, {"sha256": svc.stage_upload(route[1], self._raw_body())})
        elif method == "POST" and route == ["metadata", "targets"]:
            if self._require(scopes, "admin"):
                change = _TargetsChange.model_validate(self._body())
                records = svc.apply_targets(
                    change.targets.encode(), change.owner, change.summary, change.signature_bundle
                )
                self._send(200, [_record(r) for r in records])
        elif method == "POST" and route == ["usage"]:
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            svc.record_usage(UsageRecord.model_validate(self._body()), token)
            self._send(201, {"ok": True})
        elif method == "POST" and route == ["claims"]:
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            c = _Claim.model_validate(self._body())
            self._send(200, {"granted": svc.claim(c.capability, c.holder, c.ttl_s, token)})
        elif method == "POST" and route == ["claims", "heartbeat"]:
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            c = _Claim.model_validate(self._body())
            self._send(200, {"held": svc.heartbeat(c.capability, c.holder, c.ttl_s, token)})
        elif method == "POST" and route == ["claims", "release"]:
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            release = _Release.model_validate(self._body())
            svc.release(release.capability, release.holder, token)
            self._send(200, {"ok": True})
        else:
            self._error(404, "unknown path")

    def _send_metadata(self, filename: str) -> None:
        body = None
        if filename.endswith(".json"):
            body = self.service.metadata.document(filename.removesuffix(".json"))
        if body is None:
            self._error(404, f"no metadata {filename}")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_HEAD(self) -> None:
        parts = _segments(urlparse(self.path).path)
        if parts[:1] == ["files"]:
            self._send_file(parts, head=True)
        else:
            self._error(405, "HEAD is only for /files/")


def _segments(path: str) -> list[str]:
    """The path's non-empty segments, each percent-decoded (split first, so ``%2F`` stays in)."""
    return [unquote(part) for part in path.split("/") if part]


class _BoundedServer(ThreadingHTTPServer):
    """A threading HTTP server that handles at most ``max_connections`` connections at once
    and answers one more with 503 at once, without starting a thread for it."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], max_connections: int
    ) -> None:
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._answer_busy(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: it would have released the slot
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # the client stalled or went away
            log.info("%s dropped: %s", client_address[0], error)
        else:
            log.exception("hub API error")

    def _answer_busy(self, request: socket.socket) -> None:
        message = f"the hub is busy: {self.max_connections} connections are open; retry shortly"
        body = json.dumps({"error": message}).encode()
        head = (
            "HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(OSError):
            request.setblocking(False)  # never wait on this client: the accept loop is shared
            request.send(head.encode() + body)


class _Window(BaseModel):
    """A time window of the metrics: ``since`` inclusive, ``until`` exclusive (UTC)."""

    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    token: str | None = Field(default=None, max_length=200)


class _Limits(BaseModel):
    """What earns a generated plugin an admin's review."""

    min_runs: int = Field(default=PROMOTION_MIN_RUNS, ge=1, le=10**6)
    min_tokens: int = Field(default=PROMOTION_MIN_TOKENS, ge=1, le=10**6)


class ApiServer:
    """The API on a background thread; ``url`` once started.

    ``max_body_bytes`` bounds a POST body, ``read_timeout_s`` each read and write of a
    connection, ``max_connections`` the connections handled at once (see the module's text).
    """

    def __init__(
        self,
        service: HubService,
        host: str,
        port: int,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        read_timeout_s: float = READ_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        if max_body_bytes < 0 or not read_timeout_s > 0 or max_connections < 1:
            raise ValueError(
                "the API needs max_body_bytes >= 0, read_timeout_s > 0 and max_connections >= 1"
            )
        attributes = {
            "service": service,
            "max_body_bytes": max_body_bytes,
            "timeout": read_timeout_s,
        }
        handler = type("Handler", (_Handler,), attributes)
        self._server = _BoundedServer((host, port), handler, max_connections)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://{host}:{self._server.server_address[1]}"

    def start(self) -> ApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
