"""The hub's metadata API over HTTP (JSON), on loopback by default.

Reads are open; writes need ``Authorization: Bearer <token>`` with the ``write`` scope
(401 without a token, 403 with a wrong one).

    GET  /api/info                                  index URL
    GET  /api/plugins?capability=C[&include_revoked=1]
    GET  /api/plugins?dist_name=D&version=V
    GET  /api/plugins/<id>
    GET  /api/next-version?dist_name=D&wanted=V
    POST /api/plugins                               record an uploaded wheel (PublishRequest)
    POST /api/plugins/<id>/promote  {"tier": ...}
    POST /api/plugins/<id>/revoke   {"reason": ...}
    POST /api/usage                                 a UsageRecord
    POST /api/claims   {"capability", "holder", "ttl_s"}  -> {"granted": bool}
    POST /api/claims/release {"capability", "holder"}
    GET  /files/<sha256>/<filename>                 a wheel of the index, by content address
                                                    (409 if the file no longer has that hash)

pypiserver finds a file by scanning every file of its folder on each request (about 150 ms at
10,000 files here); ``/files/`` opens the one file directly, so fetching and installing a
plugin costs the same however large the index grows. Clients verify what they receive.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from pydantic import BaseModel, ValidationError

from hub_index.errors import DuplicateVersionError, HubError, RecordNotFoundError
from hub_index.home import token_digest
from hub_index.records import PluginRecord, UsageRecord
from hub_index.service import HubService, PublishRequest
from plan_pipeline.errors import PlanPipelineError
from plan_pipeline.trust import Tier

log = logging.getLogger("planexe.hub")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class _Promote(BaseModel):
    tier: Tier


class _Revoke(BaseModel):
    reason: str
    by: str = "api"


class _Claim(BaseModel):
    capability: str
    holder: str
    ttl_s: float = 600.0


def _record(record: PluginRecord) -> dict[str, Any]:
    return record.model_dump(mode="json")


class _Handler(BaseHTTPRequestHandler):
    service: HubService
    server_version = "planexe-hub"

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

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

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
            data = self.service.artifact_path(parts[2]).read_bytes()
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
        parts = [p for p in url.path.split("/") if p]
        if method == "GET" and parts[:1] == ["files"]:
            self._send_file(parts)
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            scopes: list[str] = []
            if method == "POST":
                found = self._scopes()
                if found is None:
                    return
                scopes = found
            self._route(method, parts, query, scopes)
        except RecordNotFoundError as exc:
            self._error(404, str(exc))
        except DuplicateVersionError as exc:
            self._error(409, str(exc))
        except KeyError as exc:
            self._error(400, f"missing query parameter {exc}")
        except (PlanPipelineError, ValidationError, ValueError) as exc:
            self._error(400, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
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
        if parts[:1] != ["api"]:
            self._error(404, "unknown path")
            return
        route = parts[1:]
        if method == "GET" and route == ["info"]:
            self._send(200, {"index_url": svc.index_url.rstrip("/") + "/simple/"})
        elif method == "GET" and route == ["plugins"]:
            if "dist_name" in query:
                self._send(200, [_record(svc.by_dist(query["dist_name"], query["version"]))])
            else:
                found = svc.find(query["capability"], query.get("include_revoked") == "1")
                self._send(200, [_record(r) for r in found])
        elif method == "GET" and len(route) == 2 and route[0] == "plugins":
            self._send(200, _record(svc.get(route[1])))
        elif method == "GET" and route == ["next-version"]:
            self._send(200, {"version": svc.next_version(query["dist_name"], query["wanted"])})
        elif method == "POST" and route == ["plugins"]:
            request = PublishRequest.model_validate(self._body())
            if request.tier is not Tier.GENERATED and not self._require(scopes, "admin"):
                return
            self._send(201, _record(svc.record(request)))
        elif method == "POST" and len(route) == 3 and route[0] == "plugins":
            if not self._require(scopes, "admin"):
                return
            if route[2] == "promote":
                tier = _Promote.model_validate(self._body()).tier
                self._send(200, _record(svc.promote(route[1], tier)))
            elif route[2] == "revoke":
                body = _Revoke.model_validate(self._body())
                self._send(200, _record(svc.revoke(route[1], body.reason, body.by)))
            else:
                self._error(404, "unknown action")
        elif method == "POST" and route == ["usage"]:
            svc.record_usage(UsageRecord.model_validate(self._body()))
            self._send(201, {"ok": True})
        elif method == "POST" and route == ["claims"]:
            claim = _Claim.model_validate(self._body())
            self._send(200, {"granted": svc.claim(claim.capability, claim.holder, claim.ttl_s)})
        elif method == "POST" and route == ["claims", "release"]:
            claim = _Claim.model_validate(self._body())
            svc.release(claim.capability, claim.holder)
            self._send(200, {"ok": True})
        else:
            self._error(404, "unknown path")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_HEAD(self) -> None:
        parts = [p for p in urlparse(self.path).path.split("/") if p]
        if parts[:1] == ["files"]:
            self._send_file(parts, head=True)
        else:
            self._error(405, "HEAD is only for /files/")


class ApiServer:
    """The API on a background thread; ``url`` once started."""

    def __init__(self, service: HubService, host: str, port: int) -> None:
        handler = type("Handler", (_Handler,), {"service": service})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://{host}:{self._server.server_address[1]}"

    def start(self) -> ApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
