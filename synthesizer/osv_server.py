"""A loopback OSV endpoint that serves advisories from a folder of OSV JSON files.

pip-audit's OSV service posts ``{"package": {"name", "ecosystem"}, "version"}`` to its
``--osv-url`` and reads ``{"vulns": [...]}`` back. This server answers that query from local
files, so the audit gate works offline against advisories the hub keeps, and fails closed when
the server is down. Matching follows the OSV schema: explicit ``versions`` lists and
``ECOSYSTEM`` ranges (``introduced`` / ``fixed`` / ``last_affected`` events).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version


def load_advisories(folder: Path) -> list[dict[str, Any]]:
    """Every ``*.json`` advisory in ``folder`` (files that are not OSV records are skipped)."""
    advisories = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "id" in data and "affected" in data:
            advisories.append(data)
    return advisories


def _in_range(version: Version, events: list[dict[str, str]]) -> bool:
    affected = False
    for event in events:
        try:
            if "introduced" in event:
                intro = event["introduced"]
                if intro == "0" or version >= Version(intro):
                    affected = True
            elif _closes(event, version):
                affected = False
        except InvalidVersion:
            continue
    return affected


def _closes(event: dict[str, str], version: Version) -> bool:
    if "fixed" in event:
        return version >= Version(event["fixed"])
    if "last_affected" in event:
        return version > Version(event["last_affected"])
    return False


def affects(advisory: dict[str, Any], name: str, version: str) -> bool:
    """Whether ``advisory`` affects PyPI package ``name`` at ``version``."""
    wanted = canonicalize_name(name)
    try:
        parsed = Version(version)
    except InvalidVersion:
        return False
    for affected in advisory.get("affected", []):
        package = affected.get("package", {})
        if (
            package.get("ecosystem") != "PyPI"
            or canonicalize_name(package.get("name", "")) != wanted
        ):
            continue
        if version in affected.get("versions", []):
            return True
        for rng in affected.get("ranges", []):
            if rng.get("type") == "ECOSYSTEM" and _in_range(parsed, rng.get("events", [])):
                return True
    return False


class _Handler(BaseHTTPRequestHandler):
    advisories: tuple[dict[str, Any], ...] = ()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        try:
            query = json.loads(self.rfile.read(length))
            name = query["package"]["name"]
            version = query["version"]
        except (ValueError, KeyError, TypeError):
            self._reply(400, {"error": "expected an OSV query with package.name and version"})
            return
        vulns = [a for a in self.advisories if affects(a, name, version)]
        self._reply(200, {"vulns": vulns} if vulns else {})

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return


@contextmanager
def serve_advisories(folder: Path, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``folder`` on loopback for the duration of the block; yields the query URL."""
    handler = type("Handler", (_Handler,), {"advisories": tuple(load_advisories(folder))})
    server = ThreadingHTTPServer((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()
        server.server_close()
