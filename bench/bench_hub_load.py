"""The hub's API under load, on loopback and PostgreSQL: requests per second, p50 and p99
latency and errors for find-by-capability, ``/files/`` downloads and usage writes, with 1 and
with 2 uvicorn processes. The baseline, measured in the same run, is the floor of the server
itself: a bare ASGI app answering the same find's bytes, under the same uvicorn, protocol
and limits on one thread, with no framework and no database; the hub's figure beside it says
what the routing, the cache and the encoding cost.

The load generator is wrk (Debian's package; ``make bench`` installs it), with one thread and
4 connections (``BENCH_LOAD_THREADS``, ``BENCH_LOAD_CONNECTIONS``: the generator shares the 2
cores with the hub and its database) for ``BENCH_LOAD_SECONDS`` (2 s) per measurement, each
taken ``BENCH_REPEATS`` (3) times; medians are printed. The hub holds one published plugin.
PostgreSQL: ``PLANEXE_BENCH_PG_URL`` (default the machine's database ``test``); each run
works in a new schema, dropped at the end.

Targets: at least 5,000 finds per second with p99 at most 10 ms on 2 cores, and no errors.

Finds are measured again against the ASGI app (1 process) while another process holds
``BENCH_IDLE_CONNECTIONS`` (1,000) connections from four loopback addresses, each with part
of a request head sent and opened again whenever the hub closes it: the figure beside the
one without them.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from hub_client.client import PluginHubClient  # noqa: E402
from hub_index.home import init_home  # noqa: E402
from hub_index.server import MAX_CONNECTIONS, UvicornThread, embedded_hub  # noqa: E402
from tests.hub_index.conftest import publish_generated  # noqa: E402

PG_URL = os.environ.get("PLANEXE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "2"))
THREADS = int(os.environ.get("BENCH_LOAD_THREADS", "1"))
CONNECTIONS = int(os.environ.get("BENCH_LOAD_CONNECTIONS", "4"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
PROCESSES = (1, 2)
TARGET_RPS, TARGET_P99_MS = 5000, 10.0
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
IDLE = int(os.environ.get("BENCH_IDLE_CONNECTIONS", "1000"))

HOLDER = """
import socket, sys, time
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
head = b"GET /api/plugins?capability=geometry.area HTTP/1.1\\r\\nHost: x\\r\\n"
def opened(n):  # from four loopback addresses: one address holds at most 256 connections
    source = (f"127.0.0.{2 + n % 4}", 0)
    s = socket.create_connection((host, port), timeout=10, source_address=source)
    s.sendall(head)
    s.setblocking(False)
    return s
held = [opened(n) for n in range(count)]
print("ready", flush=True)
while True:
    for i, s in enumerate(held):
        try:
            closed = s.recv(1) == b""
        except BlockingIOError:
            closed = False
        except OSError:
            closed = True
        if closed:
            s.close()
            held[i] = opened(i)
    time.sleep(0.2)
"""

USAGE_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"plugin_id": null, "capability": "geometry.area", "run_id": "bench", ' ..
           '"success": true, "latency_ms": 1.0, "resolution": "installed"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer TOKEN"
"""


def _wrk(url: str, script: Path | None = None) -> dict[str, float]:
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{SECONDS:g}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])}  # type: ignore[index]
    for name, percent in (("p50", "50%"), ("p99", "99%")):
        match = re.search(rf"^\s+{percent}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        assert match is not None, out
        figures[name] = float(match[1]) * _UNITS[match[2]]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    figures["errors"] = (int(errors[1]) if errors else 0) + (
        sum(int(n) for n in sockets.groups()) if sockets else 0
    )
    return figures


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]} | {
        "errors": sum(r["errors"] for r in runs)
    }


@contextmanager
def _idle_connections(api_url: str, count: int) -> Iterator[None]:
    """``count`` half-sent requests held open by another process for the block."""
    host, port = api_url.removeprefix("http://").split(":")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, host, port, str(count)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield
    finally:
        holder.kill()
        holder.wait()


def main() -> int:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does)")
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError as exc:
        raise SystemExit(
            f"no PostgreSQL at {PG_URL} ({type(exc).__name__}): set PLANEXE_BENCH_PG_URL"
        ) from None
    url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    os.environ["PLANEXE_PROPERTY_EXAMPLES"] = "5"
    os.environ["PLANEXE_HUB_USAGE_PER_MINUTE"] = str(10**9)  # the writes' cost, not the limit
    results: dict[int, dict[str, dict[str, float]]] = {}  # by API processes; 0: the floor
    try:
        with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
            work = Path(tmp)
            home = init_home(work / "hub", url.render_as_string(hide_password=False))
            script = work / "usage.lua"
            token = home.credentials().publish_token
            script.write_text(USAGE_SCRIPT.replace("TOKEN", token))
            with embedded_hub(home) as hub:
                client = PluginHubClient.from_home(home)
                _, record = publish_generated(client, work)
            files_path = f"/files/{record.checksum}/{record.filename}"
            find_path = "/api/plugins?capability=geometry.area"
            for workers in PROCESSES:
                with embedded_hub(home, workers=workers) as hub:
                    targets = {
                        "find": (hub.api_url + find_path, None),
                        "files": (hub.api_url + files_path, None),
                        "usage writes": (hub.api_url + "/api/usage", script),
                    }
                    _wrk(targets["find"][0])  # warm up: connections, caches, workers
                    results[workers] = {
                        name: _median([_wrk(target, lua) for _ in range(REPEATS)])
                        for name, (target, lua) in targets.items()
                    }
                    if workers == 1:
                        with urllib.request.urlopen(targets["find"][0], timeout=10) as answer:
                            found = answer.read()
                        with _idle_connections(hub.api_url, IDLE):
                            find = targets["find"][0]
                            under_idle = _median([_wrk(find) for _ in range(REPEATS)])
                        results[workers][f"find, {IDLE} idle"] = under_idle
            with _bare_server(found) as floor_url:
                floor = floor_url + find_path
                _wrk(floor)
                results[0] = {"find": _median([_wrk(floor) for _ in range(REPEATS)])}
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()
    _print(results)
    return 0


@contextmanager
def _bare_server(body: bytes) -> Iterator[str]:
    """The floor: uvicorn with the hub's protocol and limits on one thread, serving ``body``
    from a bare ASGI app (no framework, no database, nothing cached or encoded)."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    runner = UvicornThread(app, sock, MAX_CONNECTIONS)
    runner.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        runner.stop()


def _print(results: dict[int, dict[str, dict[str, float]]]) -> None:
    print(
        f"hub API under load (wrk, {THREADS} thread(s), {CONNECTIONS} connections, "
        f"{SECONDS:g} s x {REPEATS}, medians; PostgreSQL, loopback; ratio: to the floor, "
        "a bare ASGI app answering the same bytes under the same server on one thread)"
    )
    print(f"  {'server':<22} {'route':<13} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}")
    floor = results[0]["find"]
    for workers, routes in sorted(results.items(), key=lambda item: item[0] or 99):
        label = f"hub, {workers} process(es)" if workers else "floor (bare app)"
        for route, f in routes.items():
            ratio = f"{f['rps'] / floor['rps']:4.2f}x" if route.startswith("find") else ""
            print(
                f"  {label:<22} {route:<13} {f['rps']:8.0f} {f['p50']:7.2f} {f['p99']:7.2f} "
                f"{f['errors']:6.0f}  {ratio}"
            )
    idle = results[1][f"find, {IDLE} idle"]
    print(
        f"finds under {IDLE} idle half-sent connections (1 API process): {idle['rps']:.0f}/s, "
        f"p99 {idle['p99']:.1f} ms, {idle['errors']:.0f} errors; "
        f"{idle['rps'] / results[1]['find']['rps']:.2f}x the figure without them"
    )
    clean = all(f["errors"] == 0 for routes in results.values() for f in routes.values())
    for workers in PROCESSES:
        find = results[workers]["find"]
        meets = find["rps"] >= TARGET_RPS and find["p99"] <= TARGET_P99_MS and clean
        print(
            f"finds with {workers} API process(es): {find['rps']:.0f}/s, p99 {find['p99']:.1f} ms "
            f"(target >= {TARGET_RPS}/s, p99 <= {TARGET_P99_MS:g} ms, no errors: "
            f"{'meets' if meets else 'MISSES'}); {find['rps'] / floor['rps']:.2f}x the floor"
        )


if __name__ == "__main__":
    raise SystemExit(main())
