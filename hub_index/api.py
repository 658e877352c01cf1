"""The hub's metadata API over HTTP (JSON): a FastAPI application served by uvicorn, on
loopback by default.

Reads are open; writes need ``Authorization: Bearer <token>`` with the ``publish`` scope
(``admin`` for uploads and signed statements; 401 without a token, 403 with a wrong one).
Records are hints for finding things: clients act only on the signed metadata. The OpenAPI
description is at ``/openapi.json``.

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

Limits: a POST body is at most ``max_body_bytes`` (1 MiB; an upload 64 MiB) sent with a
``Content-Length``: 411 without one or for a chunked body, 400 for a malformed one, 413 for a
larger one, answered before any of the body is read; a body that stalls for
``read_timeout_s`` (10 s) is answered 408. A request head is at most ``MAX_HEAD_BYTES`` and
must arrive within ``HEADERS_TIMEOUT_S``; one address holds at most
``PER_ADDRESS_CONNECTIONS`` connections (``GuardedHttpProtocol``). Every error, the
framework's own included, is ``{"error": "<one line>"}`` with a documented status.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, ClassVar

import httptools
from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, Field, ValidationError
from sqlalchemy.exc import DataError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from hub_client.errors import DuplicateVersionError, HubError, HubUnavailableError
from hub_client.ranking import RankedPlugin
from hub_client.records import (
    CapabilityName,
    DuplicatePair,
    PluginRecord,
    PromotionCandidate,
    UsageRecord,
)
from hub_client.success_metrics import SuccessMetrics
from hub_index.db import MAX_CLAIM_TTL_S
from hub_index.errors import RecordNotFoundError
from hub_index.home import token_digest
from hub_index.library import PROMOTION_MIN_RUNS, PROMOTION_MIN_TOKENS
from hub_index.metadata_repository import MetadataConflictError
from hub_index.reverify import GatesFailedOnHubError, GeneratedPublish
from hub_index.service import (
    MAX_HOLDER_CHARS,
    RECORDS_JSON,
    HubService,
    ViolationReports,
    check_holder,
)
from plan_pipeline.errors import PlanPipelineError

log = logging.getLogger("planexe.hub")

MAX_BODY_BYTES = 1024 * 1024
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
READ_TIMEOUT_S = 10.0
_FIELD_RULES = {
    "ttl_s": f"a finite number of seconds, more than 0 and at most {MAX_CLAIM_TTL_S:g}; "
    "heartbeat to keep a claim longer",
}

_SHA256 = re.compile(r"[0-9a-f]{64}")
_DIGITS = re.compile(r"[0-9]+")
Scope = str
ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class ErrorBody(BaseModel):
    """Every error the hub answers."""

    error: str


class _Info(BaseModel):
    index_url: str


class _Version(BaseModel):
    version: str


class _Granted(BaseModel):
    granted: bool


class _Held(BaseModel):
    held: bool


class _Ok(BaseModel):
    ok: bool


class _Staged(BaseModel):
    sha256: str


class _Report(BaseModel):
    report: dict[str, Any] | None
    publisher_synthesis: dict[str, Any] | None


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "a malformed request",
        401: "no API token",
        403: "a token without the scope",
        404: "no such record, file or path",
        405: "a method the path does not take",
        409: "a conflict with what the hub holds",
        408: "a request body that stalled",
        411: "a POST without a Content-Length",
        413: "a body over the limit",
        422: "the hub's own gates refused the plugin",
        500: "an internal error (logged; never a traceback)",
        503: "the hub is busy or its database is down: retry",
    }.items()
}


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


class _Stalled(Exception):
    """The client sent no more of its body within the read timeout."""


class BodyLimit:
    """ASGI middleware: a POST needs a ``Content-Length`` within its path's limit, checked
    before any of the body is read; a body whose next part does not come within
    ``read_timeout_s`` is answered 408 and the connection closed."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, read_timeout_s: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.read_timeout_s = read_timeout_s

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            refusal = self._refusal(scope)
            if refusal is not None:
                status, message = refusal
                response = JSONResponse({"error": message}, status, {"Connection": "close"})
                await response(scope, receive, send)
                return
        started = False
        deadline: list[float] = []  # the whole body's: a trickle cannot stretch it

        async def timed_receive() -> Any:
            loop = asyncio.get_running_loop()
            if not deadline:
                deadline.append(loop.time() + 2 * self.read_timeout_s)
            wait = min(self.read_timeout_s, deadline[0] - loop.time())
            try:
                return await asyncio.wait_for(receive(), max(wait, 0.001))
            except TimeoutError:
                raise _Stalled from None

        async def tracked_send(message: Any) -> None:
            nonlocal started
            started = started or message.get("type") == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, tracked_send)
        except _Stalled:
            if not started:
                message = f"the request body stalled for {self.read_timeout_s:g} s"
                response = JSONResponse({"error": message}, 408, {"Connection": "close"})
                await response(scope, receive, send)

    def _refusal(self, scope: MutableMapping[str, Any]) -> tuple[int, str] | None:
        headers = [(k.lower(), v) for k, v in scope.get("headers", [])]
        values = [v.decode("latin-1").strip() for k, v in headers if k == b"content-length"]
        if not values:
            return 411, "a POST needs a Content-Length header and a JSON body"
        if len(values) > 1 or not _DIGITS.fullmatch(values[0]):
            return 400, "the Content-Length header must be one non-negative integer"
        upload = str(scope.get("path", "")).startswith("/api/uploads/")
        limit = max(self.max_body_bytes, MAX_UPLOAD_BYTES) if upload else self.max_body_bytes
        text = values[0]
        if len(text.lstrip("0")) > len(str(limit)) or int(text) > limit:
            return 413, f"the request body is {text[:24]} bytes; the hub accepts at most {limit}"
        return None


HEADERS_TIMEOUT_S = READ_TIMEOUT_S
"""The longest a connection may take to send a request's line and headers, from its first
byte (or from the connection's start): a slow or silent client is then closed, so it cannot
hold one of the server's connection slots."""


PER_ADDRESS_CONNECTIONS = 256
"""Connections one client address may hold at once; one more is closed at once. With the
server's limit of 4,096, one address cannot take every slot."""


MAX_HEAD_BYTES = 16 * 1024
"""The longest request line and headers the hub reads (as h11's default); a longer head is
answered 431 and the connection closed, so a client cannot grow a connection's memory. A
header still being received is counted by the bytes that came (the parser holds it whole
until its line ends), so a connection holds at most this and one more read of head."""

MAX_PIPELINED = 16
"""Requests one connection may queue behind the one being answered (HTTP/1.1 pipelining);
the next is answered 503 once those are, and the connection closed: each queued request
holds its parsed head, so a stream of them must not grow without bound."""

WRITE_TIMEOUT_S = READ_TIMEOUT_S
"""The longest a connection may leave the hub's answer unread once its buffers are full
(a client that never reads would otherwise hold its slot for ever); it is then cut."""


class _Refusal(Exception):
    """A request the protocol answers itself (raised in a parser callback, it stops the
    parse): its status, reason phrase and message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def _no_upgrade() -> _Refusal:
    return _Refusal(
        400,
        "Bad Request",
        "the hub takes no protocol upgrade or CONNECT: send plain HTTP/1.1 requests",
    )


def _head_too_long() -> _Refusal:
    return _Refusal(
        431,
        "Request Header Fields Too Large",
        f"the request's line and headers are over {MAX_HEAD_BYTES} bytes",
    )


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol over httptools (llhttp, in C: about three times the
    requests of the pure-Python h11 on the same core), guarded:

    - its own refusals are JSON like every other error: a request the parser cannot read
      (with the parser's reason), a head past ``MAX_HEAD_BYTES`` (431), a chunked body (411:
      the API takes only bodies with a ``Content-Length``), a protocol upgrade or
      ``CONNECT`` (400), more than ``MAX_PIPELINED`` queued requests (503). A refusal is
      written after the answers to the requests before it, and the connection then closed;
      nothing after it is read;
    - a connection that does not send a whole request head within ``HEADERS_TIMEOUT_S`` is
      closed (uvicorn itself waits for ever, so 64 silent sockets would take every slot),
      and one that leaves an answer unread for ``WRITE_TIMEOUT_S`` is cut;
    - one client address holds at most ``PER_ADDRESS_CONNECTIONS`` connections (counted in
      this process's event loop)."""

    _head_timer: asyncio.TimerHandle | None = None
    _write_timer: asyncio.TimerHandle | None = None
    _address: str | None = None
    _in_head: bool = False
    _head_bytes: int = 0  # of the head being parsed, as the parser reports its parts
    _head_reads: int = 0  # bytes of the reads that came while a head was incomplete
    _refusal: _Refusal | None = None
    _held: ClassVar[Counter[str]] = Counter()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        if self._held[address] >= PER_ADDRESS_CONNECTIONS:
            transport.close()
            return
        self._held[address] += 1
        self._address = address
        self._arm()

    def data_received(self, data: bytes) -> None:
        # uvicorn's own, with the parser's reason kept for the answer and the head bounded
        if self._refusal is not None:
            return  # answering the requests before the refused one, then closing
        if self._in_head and self._head_reads > MAX_HEAD_BYTES:
            self._refuse(_head_too_long())
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # refused in on_headers_complete; never here
            self._refuse(_no_upgrade())
            return
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if not isinstance(cause, _Refusal):
                reason = _one_line(str(exc)).rstrip(".")[:120] or "a malformed request"
                cause = _Refusal(400, "Bad Request", f"the request is not valid HTTP/1.1: {reason}")
            self._refuse(cause)
            return
        if self._in_head:
            self._head_reads += len(data)
        if self.cycle is None or self.cycle.response_complete:
            self._arm()  # waiting for a head: from its first byte, never extended
        else:
            self._disarm()

    # the parser's callbacks
    def on_message_begin(self) -> None:
        if len(self.pipeline) >= MAX_PIPELINED:
            raise _Refusal(
                503,
                "Service Unavailable",
                f"more than {MAX_PIPELINED} requests queued on one connection: send the "
                "rest after their answers",
            )
        self._in_head, self._head_bytes, self._head_reads = True, 0, 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self.parser.should_upgrade():
            raise _no_upgrade()
        if any(name == b"transfer-encoding" for name, _ in self.headers):
            raise _Refusal(
                411,
                "Length Required",
                "chunked request bodies are not supported: send a Content-Length",
            )
        super().on_headers_complete()

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if not self._in_head or self._head_bytes > MAX_HEAD_BYTES:
            raise _head_too_long()  # past the limit, or trailers after a body

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if app is service_unavailable:  # uvicorn's own answer at its limit is plain text
            limit = self.limit_concurrency
            app = JSONResponse(
                {"error": f"the hub is busy: {limit} connections are open; retry shortly"},
                503,
                {"Retry-After": "1", "Connection": "close"},
            )
        super()._start_asgi_task(cycle, app)

    def on_response_complete(self) -> None:
        self._disarm()  # idle now: uvicorn's keep-alive timeout takes over
        super().on_response_complete()
        if self._refusal is not None:
            self.flow.pause_reading()  # uvicorn resumed it: nothing more is read
            if self._answered_all():
                self._write_refusal()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(WRITE_TIMEOUT_S, self.transport.abort)

    def resume_writing(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        super().resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        if self._address is not None:
            self._held[self._address] -= 1
            if self._held[self._address] <= 0:
                del self._held[self._address]
            self._address = None
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(HEADERS_TIMEOUT_S, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()

    def _answered_all(self) -> bool:
        return not self.pipeline and (self.cycle is None or self.cycle.response_complete)

    def _refuse(self, refusal: _Refusal) -> None:
        """Stop reading; answer ``refusal`` after the requests before it, then close."""
        self._refusal = refusal
        self._disarm()
        self.flow.pause_reading()
        if self._answered_all():
            self._write_refusal()

    def _write_refusal(self) -> None:
        refusal = self._refusal
        assert refusal is not None
        if self.transport.is_closing():  # an earlier answer closed the connection
            return
        body = json.dumps({"error": refusal.message}).encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (refusal.status, refusal.reason.encode(), len(body), body)
        )
        self.transport.close()


def create_app(
    service: HubService,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    read_timeout_s: float = READ_TIMEOUT_S,
) -> FastAPI:
    """The API over ``service``."""
    app = FastAPI(
        title="PlanExe plugin hub",
        version="1",
        description="Records, signed metadata, files, claims, usage and the success metrics.",
        responses=_ERRORS,
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    _add_error_handlers(app)
    _add_routes(app)
    _with_body_schemas(app)
    from hub_index.web import add_pages

    add_pages(app)
    app.add_middleware(BodyLimit, max_body_bytes=max_body_bytes, read_timeout_s=read_timeout_s)
    return app


def app_from_environment() -> FastAPI:
    """The app of the hub home named by ``PLANEXE_HUB_HOME`` (for ``uvicorn --factory``, one
    per worker process: every process opens the same database)."""
    from hub_client.local_home import HubHome
    from hub_index.server import open_service

    home = HubHome(FilePath(os.environ["PLANEXE_HUB_HOME"]))
    limit = int(os.environ.get("PLANEXE_HUB_MAX_BODY_BYTES") or MAX_BODY_BYTES)
    timeout = float(os.environ.get("PLANEXE_HUB_READ_TIMEOUT_S") or READ_TIMEOUT_S)
    return create_app(open_service(home), max_body_bytes=limit, read_timeout_s=timeout)


# -- errors --------------------------------------------------------------------------------


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status, dict(headers) if headers else None)


def _answer_with(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    """An exception handler answering ``status`` with the error's own message."""

    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return _error(status, str(exc))

    return handler


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and detail == "Not Found":
            detail = "unknown path"
        return _error(exc.status_code, _one_line(detail) or "error", exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(where) or "request"
        problem = f"invalid {field}: {_one_line(str(first.get('msg', '')))}"
        if first.get("type") == "missing" and first.get("loc", ("",))[0] == "query":
            problem = f"missing query parameter '{field}'"
        return _error(400, problem)

    @app.exception_handler(ValidationError)
    async def invalid_body(_: Request, exc: ValidationError) -> JSONResponse:
        return _error(400, _validation_problem(exc))

    for error, status in (
        (RecordNotFoundError, 404),
        (DuplicateVersionError, 409),
        (MetadataConflictError, 409),
        (GatesFailedOnHubError, 422),
    ):
        app.add_exception_handler(error, _answer_with(status))

    @app.exception_handler(HubUnavailableError)
    async def unavailable(_: Request, exc: HubUnavailableError) -> JSONResponse:
        return _error(503, str(exc), {"Retry-After": "1"})

    @app.exception_handler(HubError)
    async def hub_error(_: Request, exc: HubError) -> JSONResponse:
        return _error(400, _one_line(str(exc)) or type(exc).__name__)

    @app.exception_handler(PlanPipelineError)
    async def bad_request(_: Request, exc: PlanPipelineError) -> JSONResponse:
        return _error(400, _one_line(str(exc)) or type(exc).__name__)  # e.g. a capability name

    @app.exception_handler(DataError)
    async def unstorable(_: Request, exc: DataError) -> JSONResponse:
        return _error(400, "a value the database cannot take (a NUL or control character?)")

    @app.exception_handler(OverflowError)
    async def too_big(_: Request, exc: OverflowError) -> JSONResponse:
        return _error(400, "a number too big for the hub")

    @app.exception_handler(ValueError)
    async def bad_value(_: Request, exc: ValueError) -> JSONResponse:
        return _error(400, _one_line(str(exc)) or type(exc).__name__)

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("hub API error")
        return _error(500, f"internal error: {type(exc).__name__}")


# -- request pieces ------------------------------------------------------------------------


def _service(request: Request) -> HubService:
    service: HubService = request.app.state.service
    return service


async def _the_service(request: Request) -> HubService:
    """``_service`` as a dependency, on the event loop (a plain function would cost every
    request a hop to a worker thread)."""
    return _service(request)


Service = Annotated[HubService, Depends(_the_service)]


def _scopes(request: Request, authorization: Annotated[str | None, Header()] = None) -> list[Scope]:
    if not authorization or not authorization.startswith("Bearer "):
        raise StarletteHTTPException(
            401, "this call needs an API token (Authorization: Bearer ...)"
        )
    scopes = _service(request).db.token_scopes(token_digest(authorization.removeprefix("Bearer ")))
    if not scopes:
        raise StarletteHTTPException(403, "the API token is not valid")
    return scopes


def _needs(scope: Scope) -> Callable[..., None]:
    def check(scopes: Annotated[list[Scope], Depends(_scopes)]) -> None:
        if "publish" not in scopes or scope not in scopes:
            needed = "publish" if "publish" not in scopes else scope
            raise StarletteHTTPException(403, f"this call needs a token with the '{needed}' scope")

    return check


async def _body_bytes(request: Request) -> bytes:
    """The request's body; a client gone before it was sent gets a 400 nobody reads (and
    no log line: ending a connection mid-request is the client's right)."""
    try:
        return await request.body()
    except ClientDisconnect:
        raise StarletteHTTPException(400, "the client closed the connection") from None


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await _body_bytes(request)
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        problem = _one_line(str(exc)) or type(exc).__name__
        raise StarletteHTTPException(
            400, f"the request body is not valid JSON: {problem}"
        ) from None
    if not isinstance(body, dict):
        raise StarletteHTTPException(400, "the request body must be a JSON object ({...})")
    return body


Body = Annotated[dict[str, Any], Depends(_json_object)]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


_FIND_LIMITS = {
    "capability": 200, "include_revoked": 8, "dist_name": 200, "version": 64, "search": 200
}  # fmt: skip
_FIND_PARAMETERS: dict[str, Any] = {
    "parameters": [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": {"type": "string", "maxLength": limit},
        }
        for name, limit in _FIND_LIMITS.items()
    ]
}


def _query(request: Request, limits: Mapping[str, int]) -> dict[str, str]:
    """The query parameters named in ``limits`` (the last of a repeated one, as FastAPI
    takes it), each refused past its length limit."""
    query: dict[str, str] = {}
    for name, limit in limits.items():
        value = request.query_params.get(name)
        if value is None:
            continue
        if len(value) > limit:
            raise StarletteHTTPException(
                400, f"invalid {name}: String should have at most {limit} characters"
            )
        query[name] = value
    return query


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def _record(record: PluginRecord) -> dict[str, Any]:
    return record.model_dump(mode="json")


# -- routes ----------------------------------------------------------------------------------


_BODY_SCHEMAS: dict[str, Any] = {}
"""The schemas the documented request bodies refer to (merged into the OpenAPI components)."""


def _body_of(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads ``model`` (the route parses it itself,
    after the body limit and the token, refusing NaN and infinities as JSON does)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    _BODY_SCHEMAS.update(schema.pop("$defs", {}))
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


def _with_body_schemas(app: FastAPI) -> None:
    """Make ``app.openapi()`` hold the schemas the request bodies refer to."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            described = generate()
            components = described.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in _BODY_SCHEMAS.items():
                components.setdefault(name, schema)
            app.openapi_schema = described
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _write(
    app: FastAPI,
    path: str,
    response_model: Any,
    body_model: type[BaseModel],
    scope: Scope = "publish",
    status_code: int = 200,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A write route: the token needs ``scope``; the JSON body is ``body_model``'s."""
    return app.post(
        path,
        status_code=status_code,
        response_model=response_model,
        dependencies=[Depends(_needs(scope))],
        openapi_extra=_body_of(body_model),
    )


def _add_routes(app: FastAPI) -> None:
    @app.get("/api/info", response_model=_Info)
    def info(svc: Service) -> dict[str, Any]:
        return {"index_url": svc.index_url.rstrip("/") + "/simple/"}

    @app.get("/api/plugins", response_model=list[PluginRecord], openapi_extra=_FIND_PARAMETERS)
    async def plugins(request: Request) -> Response:
        """Records by capability (the hot path: answered on the event loop from this
        process's cache when it holds a current answer), by distribution and version, or
        by a search; what needs the database is read on a worker thread. The query is read
        by hand, against the limits ``_FIND_PARAMETERS`` documents: FastAPI's declared
        parameters cost this route most of its time."""
        svc = _service(request)
        query = _query(request, _FIND_LIMITS)
        revoked = query.get("include_revoked") == "1"
        if (search := query.get("search")) is not None:
            found = await run_in_threadpool(svc.search, search, revoked)
            return _json(RECORDS_JSON.dump_json(found))
        if (dist_name := query.get("dist_name")) is not None:
            if (version := query.get("version")) is None:
                raise StarletteHTTPException(400, "missing query parameter 'version'")
            record = await run_in_threadpool(svc.by_dist, dist_name, version)
            return _json(RECORDS_JSON.dump_json([record]))
        if (capability := query.get("capability")) is None:
            raise StarletteHTTPException(400, "missing query parameter 'capability'")
        fresh = "no-cache" in request.headers.get("cache-control", "")[:200]
        cached = None if fresh else svc.cached_find_json(capability, revoked)
        if cached is None:
            cached = await run_in_threadpool(svc.find_json, capability, revoked, fresh)
        return _json(cached)

    @app.get("/api/plugins/{plugin_id}", response_model=PluginRecord)
    def plugin(svc: Service, plugin_id: Annotated[str, Path(max_length=200)]) -> dict[str, Any]:
        return _record(svc.get(plugin_id))

    @app.get("/api/plugins/{plugin_id}/report", response_model=_Report)
    def report(svc: Service, plugin_id: Annotated[str, Path(max_length=200)]) -> dict[str, Any]:
        return svc.latest_report(plugin_id)

    @app.get("/api/plugins/{plugin_id}/adapters", response_model=list[PluginRecord])
    def adapters(
        svc: Service, plugin_id: Annotated[str, Path(max_length=200)]
    ) -> list[dict[str, Any]]:
        """The near matches' adapters that carry the plugin's logic."""
        return [_record(r) for r in svc.adapters_of(plugin_id)]

    @app.get("/api/plugins/{plugin_id}/violations", response_model=ViolationReports)
    def violations(
        svc: Service, plugin_id: Annotated[str, Path(max_length=200)]
    ) -> ViolationReports:
        """Contract violations that run-time checks reported against the plugin."""
        return svc.violation_reports(plugin_id)

    @app.get("/api/ranking", response_model=list[RankedPlugin])
    def ranking(
        svc: Service, capability: Annotated[str, Query(max_length=200)]
    ) -> list[RankedPlugin]:
        """The active plugins of a capability, best ``RankScore`` first, with its parts."""
        return svc.library.ranking(capability)

    @app.get("/api/promotion-candidates", response_model=list[PromotionCandidate])
    def promotion_candidates(
        svc: Service,
        min_runs: Annotated[int, Query(ge=1, le=10**6)] = PROMOTION_MIN_RUNS,
        min_tokens: Annotated[int, Query(ge=1, le=10**6)] = PROMOTION_MIN_TOKENS,
    ) -> list[PromotionCandidate]:
        """Generated plugins that earned an admin's review: successful runs from distinct
        tokens, no violation, no permission beyond pure computation."""
        return svc.library.promotion_candidates(min_runs, min_tokens)

    @app.get("/api/duplicates", response_model=list[DuplicatePair])
    def duplicates(svc: Service) -> list[DuplicatePair]:
        """Pairs of active plugins of which each passed the other's contract."""
        return svc.library.duplicates()

    @app.get("/api/next-version", response_model=_Version)
    def next_version(
        svc: Service,
        dist_name: Annotated[str, Query(max_length=200)],
        wanted: Annotated[str, Query(max_length=64)],
    ) -> dict[str, Any]:
        return {"version": svc.next_version(dist_name, wanted)}

    @app.get("/api/metrics", response_model=SuccessMetrics)
    def metrics(
        svc: Service,
        since: datetime | None = None,
        until: datetime | None = None,
        token: Annotated[str | None, Query(max_length=200)] = None,
    ) -> SuccessMetrics:
        """A time without a zone is UTC, as on the command line. ``token``: the figures of
        the usage rows sent with the API token of that name only."""
        start, end = (_utc(m) for m in (since, until))
        if start is not None and end is not None and start >= end:
            raise StarletteHTTPException(400, "the window's start (since) is not before its end")
        return svc.metrics(start, end, token)

    @_write(app, "/api/publish", PluginRecord, GeneratedPublish, status_code=201)
    def publish(
        svc: Service, body: Body, authorization: Annotated[str, Header()]
    ) -> dict[str, Any]:
        token = authorization.removeprefix("Bearer ")
        return _record(svc.publish_generated(GeneratedPublish.model_validate(body), token))

    @app.post(
        "/api/uploads/{filename}",
        status_code=201,
        response_model=_Staged,
        dependencies=[Depends(_needs("admin"))],
    )
    async def upload(
        request: Request, filename: Annotated[str, Path(max_length=255)]
    ) -> dict[str, Any]:
        data = await _body_bytes(request)
        return {"sha256": _service(request).stage_upload(filename, data)}

    @_write(app, "/api/metadata/targets", list[PluginRecord], _TargetsChange, scope="admin")
    def targets(svc: Service, body: Body) -> list[dict[str, Any]]:
        change = _TargetsChange.model_validate(body)
        records = svc.apply_targets(
            change.targets.encode(), change.owner, change.summary, change.signature_bundle
        )
        return [_record(r) for r in records]

    @_write(app, "/api/usage", _Ok, UsageRecord, status_code=201)
    def usage(svc: Service, body: Body, authorization: Annotated[str, Header()]) -> dict[str, Any]:
        svc.record_usage(UsageRecord.model_validate(body), authorization.removeprefix("Bearer "))
        return {"ok": True}

    @_write(app, "/api/claims", _Granted, _Claim)
    def claim(svc: Service, body: Body, authorization: Annotated[str, Header()]) -> dict[str, Any]:
        c = _Claim.model_validate(body)
        token = authorization.removeprefix("Bearer ")
        return {"granted": svc.claim(c.capability, c.holder, c.ttl_s, token)}

    @_write(app, "/api/claims/heartbeat", _Held, _Claim)
    def heartbeat(
        svc: Service, body: Body, authorization: Annotated[str, Header()]
    ) -> dict[str, Any]:
        c = _Claim.model_validate(body)
        token = authorization.removeprefix("Bearer ")
        return {"held": svc.heartbeat(c.capability, c.holder, c.ttl_s, token)}

    @_write(app, "/api/claims/release", _Ok, _Release)
    def release(
        svc: Service, body: Body, authorization: Annotated[str, Header()]
    ) -> dict[str, Any]:
        r = _Release.model_validate(body)
        svc.release(r.capability, r.holder, authorization.removeprefix("Bearer "))
        return {"ok": True}

    @app.get(
        "/metadata/{filename}",
        response_class=Response,
        responses={200: {"content": {"application/json": {}}, "description": "signed metadata"}},
    )
    def metadata(svc: Service, filename: Annotated[str, Path(max_length=200)]) -> Response:
        body = None
        if filename.endswith(".json"):
            body = svc.metadata.document(filename.removesuffix(".json"))
        if body is None:
            raise StarletteHTTPException(404, f"no metadata {filename}")
        return Response(body, media_type="application/json")

    file_answer: dict[int | str, dict[str, Any]] = {
        200: {"content": {"application/octet-stream": {}}, "description": "a wheel"}
    }

    @app.get("/files/{sha256}/{filename}", response_class=Response, responses=file_answer)
    def file(
        svc: Service,
        sha256: Annotated[str, Path(max_length=64)],
        filename: Annotated[str, Path(max_length=255)],
    ) -> Response:
        return Response(_file_bytes(svc, sha256, filename), media_type="application/octet-stream")

    @app.head("/files/{sha256}/{filename}", response_class=Response, responses=file_answer)
    def file_head(
        svc: Service,
        sha256: Annotated[str, Path(max_length=64)],
        filename: Annotated[str, Path(max_length=255)],
    ) -> Response:
        size = len(_file_bytes(svc, sha256, filename))
        return Response(
            headers={"Content-Length": str(size)}, media_type="application/octet-stream"
        )


def _file_bytes(svc: HubService, sha256: str, filename: str) -> bytes:
    """A wheel of the index by content address (404 when absent, 409 when it changed)."""
    if not _SHA256.fullmatch(sha256):
        raise StarletteHTTPException(404, "unknown file")
    try:
        data = svc.files.served(filename).read_bytes()
    except (HubError, OSError):
        raise StarletteHTTPException(404, f"the index has no file {filename}") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise StarletteHTTPException(409, f"the index's {filename} no longer has sha256 {sha256}")
    return data
