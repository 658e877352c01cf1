"""Capability lookup in the hub's metadata database: ``HubDatabase.find_plugins(capability)``.

For each backend (a SQLite file, and PostgreSQL when reachable) two fresh databases are filled
through ``add_plugin``: 10,000 plugin records over 2,000 capabilities, and a baseline of 100
records over 20 capabilities (five versions per capability in both, so every lookup returns the
same number of records). Each lookup asks for a random capability (fixed seed) and takes the
whole call: connection from the pool, indexed query, validation into ``PluginRecord`` and
ordering by version. Prints median and p95 over the lookups, the ratio to the baseline and the
query plan. Target: median at most 10 ms at 10,000 records.

PostgreSQL: ``PLANEXE_HUB_BENCH_PG_URL`` (default: the local server's ``test`` database); a
database of its own is created there and dropped afterwards.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub_client.records import PluginRecord  # noqa: E402
from hub_index.db import HubDatabase  # noqa: E402
from plan_pipeline.trust import Tier  # noqa: E402

PG_URL = os.environ.get(
    "PLANEXE_HUB_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
VERSIONS_PER_CAPABILITY = 5
FULL = 10_000
BASELINE = 100
LOOKUPS = int(os.environ.get("BENCH_LOOKUPS", "200"))
WARM_UP = 20
TARGET_MS = 10.0
TIERS = (Tier.CORE, Tier.VERIFIED, Tier.GENERATED, Tier.QUARANTINED)


def capability(index: int) -> str:
    return f"bench.capability_{index:04d}"


def records(count: int) -> Iterator[PluginRecord]:
    """``count`` plugin records, ``VERSIONS_PER_CAPABILITY`` versions of each capability."""
    capabilities = count // VERSIONS_PER_CAPABILITY
    for i in range(count):
        cap, release = i % capabilities, i // capabilities
        dist = f"planexe-gen-bench-capability-{cap:04d}"
        yield PluginRecord(
            capability=capability(cap),
            version=f"1.{release}.0",
            dist_name=dist,
            filename=f"{dist.replace('-', '_')}-1.{release}.0-py3-none-any.whl",
            checksum=f"{i:064x}",
            trust_tier=TIERS[i % len(TIERS)],
            owner="bench",
            signer_identity="hub-key:bench",
            signature_bundle='{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}',
            summary=f"benchmark plugin {i}",
        )


def fill(url: str, count: int) -> float:
    """Create the schema at ``url`` and add ``count`` records; the seconds adding took."""
    with HubDatabase(url) as db:
        db.upgrade()
        start = time.perf_counter()
        for record in records(count):
            db.add_plugin(record)
        return time.perf_counter() - start


def analyze(url: str) -> str:
    """Refresh the planner's statistics and return the plan of one capability lookup."""
    engine = sa.create_engine(url)
    lookup = "SELECT * FROM plugin_hub_plugins WHERE capability = 'bench.capability_0001'"
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
            explain = "EXPLAIN QUERY PLAN" if engine.dialect.name == "sqlite" else "EXPLAIN"
            rows = conn.exec_driver_sql(f"{explain} {lookup}").all()
    finally:
        engine.dispose()
    return " / ".join(str(row[-1]).strip() for row in rows)


def lookups_ms(url: str, count: int) -> list[float]:
    """Latencies of ``LOOKUPS`` calls to ``find_plugins`` for random capabilities, in ms."""
    capabilities = count // VERSIONS_PER_CAPABILITY
    rng = random.Random(20260101)
    times: list[float] = []
    with HubDatabase(url) as db:
        for n in range(WARM_UP + LOOKUPS):
            wanted = capability(rng.randrange(capabilities))
            start = time.perf_counter()
            found = db.find_plugins(wanted)
            elapsed = (time.perf_counter() - start) * 1000
            if len(found) != VERSIONS_PER_CAPABILITY:
                raise SystemExit(f"{wanted}: expected {VERSIONS_PER_CAPABILITY}, got {len(found)}")
            if n >= WARM_UP:
                times.append(elapsed)
    return times


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def measure(backend: str, url_for: dict[int, str]) -> None:
    print(f"\n{backend}")
    medians: dict[int, float] = {}
    for count in (BASELINE, FULL):
        url = url_for[count]
        seconds = fill(url, count)
        plan = analyze(url)
        times = lookups_ms(url, count)
        medians[count] = statistics.median(times)
        print(
            f"  {count:>6,} records: filled in {seconds:5.1f} s "
            f"({seconds / count * 1000:.2f} ms per add_plugin); find_plugins over {len(times)} "
            f"lookups: median {medians[count]:.3f} ms, p95 {p95(times):.3f} ms"
        )
        print(f"          plan: {plan}")
    full = medians[FULL]
    verdict = "meets" if full <= TARGET_MS else "MISSES"
    print(
        f"  ratio {FULL:,} / {BASELINE:,} records: {full / medians[BASELINE]:.2f}x; "
        f"median {full:.3f} ms {verdict} the target of at most {TARGET_MS:.0f} ms"
    )


@contextmanager
def postgres_databases() -> Iterator[dict[int, str] | None]:
    """Two fresh PostgreSQL databases (baseline, full), dropped afterwards; None if no server."""
    server = sa.create_engine(
        PG_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    names = {count: f"planexe_hub_bench_{uuid.uuid4().hex[:10]}" for count in (BASELINE, FULL)}
    try:
        with server.connect() as conn:
            for name in names.values():
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        print(f"\npostgresql: not measured, {PG_URL} is unreachable: {' '.join(str(exc).split())}")
        server.dispose()
        yield None
        return
    base = sa.make_url(PG_URL)
    try:
        yield {
            count: base.set(database=name).render_as_string(hide_password=False)
            for count, name in names.items()
        }
    finally:
        with server.connect() as conn:
            for name in names.values():
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.dispose()


def main() -> None:
    print(
        f"find_plugins(capability): {LOOKUPS} lookups after {WARM_UP} warm-up ones, "
        f"{VERSIONS_PER_CAPABILITY} records per capability"
    )
    with tempfile.TemporaryDirectory() as folder:
        sqlite = {count: f"sqlite:///{folder}/hub-{count}.db" for count in (BASELINE, FULL)}
        measure("sqlite (file, WAL)", sqlite)
    with postgres_databases() as postgres:
        if postgres is not None:
            measure("postgresql", postgres)


if __name__ == "__main__":
    main()
