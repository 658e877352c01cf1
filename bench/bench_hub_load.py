"""The hub's API under load, on loopback and PostgreSQL: requests per second, p50 and p99
latency and errors for find-by-capability, ``/files/`` downloads and usage writes, against
the ASGI app with 1 and with 2 uvicorn processes, beside the earlier threaded server
measured in the same run.

The load generator is wrk (Debian's package; ``make bench`` installs it), with one thread and
4 connections (``BENCH_LOAD_THREADS``, ``BENCH_LOAD_CONNECTIONS``: the generator shares the 2
cores with the hub and its database) for ``BENCH_LOAD_SECONDS`` (2 s) per measurement, each
taken ``BENCH_REPEATS`` (3) times; medians are printed. The hub holds one published plugin.
PostgreSQL: ``PLANEXE_BENCH_PG_URL`` (default the machine's database ``test``); each run
works in a new schema, dropped at the end.

Targets: at least 1,000 finds per second with p99 under 20 ms on 2 cores, and no errors.

Finds are measured again against the ASGI app (1 process) while another process holds
``BENCH_IDLE_CONNECTIONS`` (1,000) connections from four loopback addresses, each with part
of a request head sent and opened again whenever the hub closes it: the figure beside the
one without them.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from hub_client.client import PluginHubClient  # noqa: E402
from hub_index.home import init_home  # noqa: E402
from hub_index.server import embedded_hub  # noqa: E402
from tests.hub_index.conftest import publish_generated  # noqa: E402

PG_URL = os.environ.get("PLANEXE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "2"))
THREADS = int(os.environ.get("BENCH_LOAD_THREADS", "1"))
CONNECTIONS = int(os.environ.get("BENCH_LOAD_CONNECTIONS", "4"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
SERVERS = (("threaded", 1), ("asgi", 1), ("asgi", 2))
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
    results: dict[tuple[str, int], dict[str, dict[str, float]]] = {}
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
            for api, workers in SERVERS:
                with embedded_hub(home, api=api, workers=workers) as hub:
                    targets = {
                        "find": (hub.api_url + "/api/plugins?capability=geometry.area", None),
                        "files": (hub.api_url + files_path, None),
                        "usage writes": (hub.api_url + "/api/usage", script),
                    }
                    _wrk(targets["find"][0])  # warm up: connections, caches, workers
                    results[(api, workers)] = {
                        name: _median([_wrk(target, lua) for _ in range(REPEATS)])
                        for name, (target, lua) in targets.items()
                    }
                    if (api, workers) == ("asgi", 1):
                        with _idle_connections(hub.api_url, IDLE):
                            find = targets["find"][0]
                            under_idle = _median([_wrk(find) for _ in range(REPEATS)])
                        results[(api, workers)][f"find, {IDLE} idle"] = under_idle
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()
    _print(results)
    return 0


def _print(results: dict[tuple[str, int], dict[str, dict[str, float]]]) -> None:
    print(
        f"hub API under load (wrk, {THREADS} thread(s), {CONNECTIONS} connections, "
        f"{SECONDS:g} s x {REPEATS}, "
        "medians; PostgreSQL, loopback)"
    )
    print(f"  {'server':<22} {'route':<13} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}")
    baseline = results[("threaded", 1)]
    for (api, workers), routes in results.items():
        label = f"{api}, {workers} process(es)" + (" (old)" if api == "threaded" else "")
        for route, f in routes.items():
            base = baseline.get(route) or routes[route.split(",")[0]]
            ratio = f["rps"] / base["rps"]
            print(
                f"  {label:<22} {route:<13} {f['rps']:8.0f} {f['p50']:7.2f} {f['p99']:7.2f} "
                f"{f['errors']:6.0f}  {ratio:4.1f}x"
            )
    best = results[("asgi", 2)]["find"]
    meets = (
        best["rps"] >= 1000
        and best["p99"] < 20
        and all(f["errors"] == 0 for routes in results.values() for f in routes.values())
    )
    idle = results[("asgi", 1)][f"find, {IDLE} idle"]
    print(
        f"finds under {IDLE} idle half-sent connections (1 API process): {idle['rps']:.0f}/s, "
        f"p99 {idle['p99']:.1f} ms, {idle['errors']:.0f} errors; "
        f"{idle['rps'] / results[('asgi', 1)]['find']['rps']:.2f}x the figure without them"
    )
    print(
        f"finds with 2 API processes: {best['rps']:.0f}/s, p99 {best['p99']:.1f} ms "
        f"(target >= 1000/s, p99 < 20 ms, no errors: {'meets' if meets else 'MISSES'}); "
        f"{best['rps'] / results[('threaded', 1)]['find']['rps']:.1f}x the old server"
    )


if __name__ == "__main__":
    raise SystemExit(main())
