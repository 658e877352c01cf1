"""The hub's metadata database on SQLite (a file) and PostgreSQL (a fresh database per run).

PostgreSQL is expected at ``PLANEXE_HUB_TEST_PG_URL`` (default: the local server's ``test``
database). The session creates ``planexe_hub_<random>`` there, each test works in a schema of its
own inside it, and the database is dropped at the end. An unreachable server fails the
PostgreSQL tests; it never skips them.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import ValidationError

from hub_client.errors import DuplicateVersionError, HubError, HubUnavailableError, PolicyError
from hub_client.records import PluginRecord, PluginStatus, TestReportRecord, UsageRecord
from hub_index.db import MAX_CLAIM_TTL_S, VERSION_TABLE, HubDatabase, metadata
from hub_index.errors import RecordNotFoundError
from plan_pipeline.trust import Tier

HUB_TABLES = {
    "plugin_hub_plugins",
    "plugin_hub_usage",
    "plugin_hub_test_reports",
    "plugin_hub_revocations",
    "plugin_hub_tokens",
    "plugin_hub_claims",
    "plugin_hub_metadata",
    "plugin_hub_duplicates",
    "plugin_hub_lineage",
}
RACERS = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """The URL of an empty hub database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    admin, url = request.getfixturevalue("pg_admin")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        scoped = url.update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def db(db_url: str) -> Iterator[HubDatabase]:
    hub = HubDatabase(db_url)
    hub.upgrade()
    try:
        yield hub
    finally:
        hub.close()


def plugin(
    capability: str = "risk.score_matrix",
    version: str = "1.0.0",
    dist_name: str = "planexe-gen-risk-score-matrix",
    **extra: Any,
) -> PluginRecord:
    wheel = f"{dist_name.replace('-', '_')}-{version}-py3-none-any.whl"
    values: dict[str, Any] = {
        "capability": capability,
        "version": version,
        "dist_name": dist_name,
        "filename": wheel,
        "checksum": "ab" * 32,
        "trust_tier": Tier.GENERATED,
        "owner": "team-risk",
        "signer_identity": "hub-key:test",
        "signature_bundle": '{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}',
        "summary": "Scores risks",
    }
    values.update(extra)
    return PluginRecord(**values)


def _tables(db: HubDatabase) -> set[str]:
    engine = sa.create_engine(db.url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _revision(db: HubDatabase) -> list[str]:
    engine = sa.create_engine(db.url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
    finally:
        engine.dispose()


# schema


def test_upgrade_creates_the_tables_the_models_describe(db_url: str) -> None:
    with HubDatabase(db_url) as hub:
        assert not _tables(hub) & HUB_TABLES
        hub.upgrade()
        assert _tables(hub) == HUB_TABLES | {VERSION_TABLE}
        engine = sa.create_engine(hub.url)
        try:
            inspector = sa.inspect(engine)
            uniques = inspector.get_unique_constraints("plugin_hub_plugins")
            assert {"dist_name", "version"} in [set(u["column_names"]) for u in uniques]
            indexes = inspector.get_indexes("plugin_hub_plugins")
            assert ["capability"] in [i["column_names"] for i in indexes]
            with engine.connect() as conn:
                opts = {"compare_type": True, "version_table": VERSION_TABLE}
                context = MigrationContext.configure(conn, opts=opts)
                assert compare_metadata(context, metadata) == []
        finally:
            engine.dispose()


def test_upgrade_twice_is_a_no_op(db_url: str) -> None:
    with HubDatabase(db_url) as hub:
        hub.upgrade()
        stored = hub.add_plugin(plugin())
        hub.upgrade()
        assert _revision(hub) == ["0006"]
        assert _tables(hub) == HUB_TABLES | {VERSION_TABLE}
        assert hub.get_plugin(stored.plugin_id) == stored


# plugins


def test_add_get_and_find(db: HubDatabase) -> None:
    record = plugin(
        created_at=datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=timezone(timedelta(hours=2)))
    )
    assert db.add_plugin(record) == record
    got = db.get_plugin(record.plugin_id)
    assert got == record
    assert got is not None
    assert got.created_at == datetime(2026, 1, 2, 1, 4, 5, 600, tzinfo=UTC)
    assert got.created_at.tzinfo is UTC
    assert db.get_plugin("missing") is None
    assert db.find_by_dist("planexe_gen_risk_score_matrix", "1.0") == record
    assert db.find_by_dist(record.dist_name, "2.0.0") is None
    assert db.find_plugins("risk.score_matrix") == [record]
    assert db.find_plugins("risk.other") == []


def test_duplicate_name_and_version_is_refused(db: HubDatabase) -> None:
    db.add_plugin(plugin(version="1.2.0"))
    for dist_name, version in [
        ("planexe-gen-risk-score-matrix", "1.2.0"),
        ("Planexe_Gen.Risk-Score_Matrix", "1.2"),
    ]:
        with pytest.raises(DuplicateVersionError, match=r"already in the hub.*e\.g\. 1\.2\.1"):
            db.add_plugin(plugin(dist_name=dist_name, version=version))
    assert len(db.list_plugins()) == 1
    first = db.list_plugins()[0]
    with pytest.raises(HubError, match=r"plugin id .* is already in the hub"):
        db.add_plugin(plugin(plugin_id=first.plugin_id, version="9.0.0"))


def test_concurrent_spellings_of_one_version_give_one_record(
    db: HubDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two publishes of ``1.0`` and ``1.0.0`` at once: whichever checks second sees the
    first. Each check waits (up to 2 s) for the other to have checked too, so without the
    writers taking turns both would pass their checks before either inserted."""
    both_checked = threading.Barrier(2)
    check = HubDatabase._refuse_reuse

    def slow_check(self: HubDatabase, conn: Any, record: PluginRecord) -> None:
        check(self, conn, record)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_checked.wait(timeout=2)

    monkeypatch.setattr(HubDatabase, "_refuse_reuse", slow_check)
    outcomes: list[str] = []

    def publish(version: str) -> None:
        try:
            db.add_plugin(plugin(version=version))
            outcomes.append("stored")
        except DuplicateVersionError:
            outcomes.append("refused")

    threads = [threading.Thread(target=publish, args=(v,)) for v in ("1.0", "1.0.0")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["refused", "stored"]
    assert len(db.list_plugins()) == 1


def test_revoked_name_and_version_is_never_reusable(db: HubDatabase) -> None:
    stored = db.add_plugin(plugin(version="2.0.0"))
    assert not db.is_burned(stored.dist_name, "2.0.0")
    db.revoke(stored.plugin_id, "CVE-2026-0001", "security@example.org")
    assert db.is_burned(stored.dist_name, "2.0.0")
    assert db.is_burned("planexe_gen_risk_score_matrix", "2.0")
    for attempt in range(2):
        with pytest.raises(DuplicateVersionError, match=r"revoked.*e\.g\. 2\.0\.1"):
            db.add_plugin(plugin(version="2.0.0", summary=f"attempt {attempt}"))
    assert db.versions_of(stored.dist_name) == ["2.0.0"]
    db.add_plugin(plugin(version="2.0.1"))
    db.add_plugin(plugin(version="1.9.0"))
    assert db.versions_of(stored.dist_name) == ["1.9.0", "2.0.0", "2.0.1"]
    assert not db.is_burned(stored.dist_name, "2.0.1")


def test_set_tier(db: HubDatabase) -> None:
    stored = db.add_plugin(plugin())
    changed = db.set_tier(stored.plugin_id, Tier.VERIFIED)
    assert changed.trust_tier is Tier.VERIFIED
    assert db.get_plugin(stored.plugin_id) == changed
    with pytest.raises(RecordNotFoundError):
        db.set_tier("missing", Tier.VERIFIED)


def test_a_revoked_plugin_stays_quarantined(db: HubDatabase) -> None:
    stored = db.add_plugin(plugin(trust_tier=Tier.VERIFIED))
    db.revoke(stored.plugin_id, "malicious", "admin")
    for tier in (Tier.CORE, Tier.VERIFIED, Tier.GENERATED):
        with pytest.raises(PolicyError, match="revoked"):
            db.set_tier(stored.plugin_id, tier)
    assert db.set_tier(stored.plugin_id, Tier.QUARANTINED).trust_tier is Tier.QUARANTINED
    got = db.get_plugin(stored.plugin_id)
    assert got is not None
    assert got.trust_tier is Tier.QUARANTINED


def test_revoke(db: HubDatabase) -> None:
    stored = db.add_plugin(plugin(trust_tier=Tier.VERIFIED))
    revoked = db.revoke(stored.plugin_id, "leaks secrets", "admin")
    assert revoked.status is PluginStatus.REVOKED
    assert revoked.trust_tier is Tier.QUARANTINED
    assert revoked.revoked_reason == "leaks secrets"
    assert db.get_plugin(stored.plugin_id) == revoked
    assert db.revoke(stored.plugin_id, "again", "someone else") == revoked
    with pytest.raises(RecordNotFoundError):
        db.revoke("missing", "reason", "admin")
    with pytest.raises(HubError, match="needs a reason"):
        db.revoke(stored.plugin_id, " ", "admin")


def test_find_plugins_newest_first_without_revoked(db: HubDatabase) -> None:
    versions = ["1.9.0", "1.10.0", "1.2.0", "2.0.0rc1"]
    stored = {v: db.add_plugin(plugin(version=v)) for v in versions}
    db.add_plugin(plugin(capability="risk.other", dist_name="planexe-gen-risk-other"))
    db.revoke(stored["1.10.0"].plugin_id, "broken", "admin")
    found = db.find_plugins("risk.score_matrix")
    assert [r.version for r in found] == ["2.0.0rc1", "1.9.0", "1.2.0"]
    everything = db.find_plugins("risk.score_matrix", include_revoked=True)
    assert [r.version for r in everything] == ["2.0.0rc1", "1.10.0", "1.9.0", "1.2.0"]
    assert everything[1].status is PluginStatus.REVOKED
    assert len(db.list_plugins()) == 5
    assert [r.capability for r in db.list_plugins()] == ["risk.other"] + ["risk.score_matrix"] * 4
    assert len(db.list_plugins(include_revoked=False)) == 4


# usage and test reports


def test_usage_round_trips(db: HubDatabase) -> None:
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    first = UsageRecord(
        plugin_id="p1",
        capability="risk.score_matrix",
        run_id="run-1",
        success=True,
        latency_ms=12.5,
        created_at=at,
    )
    miss = UsageRecord(
        plugin_id=None,
        capability="risk.other",
        run_id="run-1",
        success=False,
        latency_ms=0.0,
        error_type="CapabilityNotFoundError",
        time_to_capability_ms=1330.0,
        created_at=at + timedelta(seconds=1),
    )
    db.record_usage(first)
    db.record_usage(miss)
    assert db.usage() == [first, miss]
    assert db.usage(plugin_id="p1") == [first]
    assert db.usage(capability="risk.other") == [miss]
    assert db.usage(plugin_id="p1", capability="risk.other") == []


def test_test_reports_round_trip(db: HubDatabase) -> None:
    stored = db.add_plugin(plugin())
    older = TestReportRecord(
        plugin_id=stored.plugin_id,
        pass_rate=0.5,
        report_json='{"gates": []}',
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    newer = TestReportRecord(plugin_id=stored.plugin_id, pass_rate=1.0, report_json="{}")
    db.add_test_report(newer)
    db.add_test_report(older)
    assert db.test_reports(stored.plugin_id) == [older, newer]
    assert db.test_reports("missing") == []
    with pytest.raises(RecordNotFoundError):
        db.add_test_report(TestReportRecord(plugin_id="missing", pass_rate=1, report_json="{}"))


# tokens


def test_tokens(db: HubDatabase) -> None:
    digest = "0f" * 32
    db.add_token("ci", digest, ["publish", "read"])
    assert db.token_scopes(digest) == ["publish", "read"]
    assert db.token_scopes("1f" * 32) is None
    with pytest.raises(HubError, match="already exists"):
        db.add_token("ci", "2f" * 32, ["read"])
    with pytest.raises(HubError, match="already exists"):
        db.add_token("other", digest, ["read"])
    with pytest.raises(HubError, match="SHA-256"):
        db.add_token("plain", "s3cret", ["read"])
    db.add_token("reader", "3f" * 32, [])
    assert db.token_scopes("3f" * 32) == []


# claims


def test_claims(db: HubDatabase) -> None:
    assert db.claim("risk.score_matrix", "worker-a", 60)
    assert not db.claim("risk.score_matrix", "worker-b", 60)
    assert db.claim("risk.score_matrix", "worker-a", 60)
    assert db.claim("risk.other", "worker-b", 60)
    db.release("risk.score_matrix", "worker-b")
    assert not db.claim("risk.score_matrix", "worker-b", 60)
    db.release("risk.score_matrix", "worker-a")
    assert db.claim("risk.score_matrix", "worker-b", 60)
    with pytest.raises(ValueError, match="positive"):
        db.claim("risk.score_matrix", "worker-b", 0)


@pytest.mark.parametrize(
    "ttl_s", [0, -1, MAX_CLAIM_TTL_S + 0.001, 1e8, math.inf, -math.inf, math.nan, True, "5"]
)
def test_a_claim_lifetime_out_of_bounds_is_refused(db: HubDatabase, ttl_s: Any) -> None:
    with pytest.raises(
        ValueError, match=f"positive, finite number of seconds, at most {MAX_CLAIM_TTL_S:g}"
    ):
        db.claim("risk.score_matrix", "worker-a", ttl_s)
    assert db.claim("risk.score_matrix", "worker-a", MAX_CLAIM_TTL_S)
    with pytest.raises(ValueError, match="positive, finite"):
        db.heartbeat("risk.score_matrix", "worker-a", ttl_s)


def test_a_heartbeat_keeps_only_the_holders_claim_alive(db: HubDatabase) -> None:
    assert db.claim("risk.score_matrix", "worker-a", 0.5)
    deadline = time.monotonic() + 1.5  # three TTLs, kept alive by heartbeats only
    while time.monotonic() < deadline:
        assert db.heartbeat("risk.score_matrix", "worker-a", 0.5)
        assert not db.claim("risk.score_matrix", "worker-b", 60)
        time.sleep(0.1)
    assert not db.heartbeat("risk.score_matrix", "worker-b", 60)  # never creates a claim
    assert not db.heartbeat("risk.unclaimed", "worker-b", 60)
    time.sleep(0.6)
    assert db.heartbeat("risk.score_matrix", "worker-a", 0.2)  # lapsed but nobody took it
    time.sleep(0.3)
    assert db.claim("risk.score_matrix", "worker-b", 60)  # taken over
    assert not db.heartbeat("risk.score_matrix", "worker-a", 60)
    assert not db.claim("risk.score_matrix", "worker-a", 60)
    db.release("risk.score_matrix", "worker-b")
    assert not db.heartbeat("risk.score_matrix", "worker-b", 60)  # released


def test_an_expired_claim_is_taken_over(db: HubDatabase) -> None:
    assert db.claim("risk.score_matrix", "crashed", 0.2)
    assert not db.claim("risk.score_matrix", "worker-b", 60)
    time.sleep(0.3)
    assert db.claim("risk.score_matrix", "worker-b", 60)
    assert not db.claim("risk.score_matrix", "crashed", 60)


def _race(url: str, holder: str, start: Any, results: Any) -> None:
    """Claim ``race.fresh`` and then the expired ``race.expired`` together with the others."""
    try:
        with HubDatabase(url) as hub:
            hub.get_plugin("warm-up")
            start.wait(60)
            fresh = hub.claim("race.fresh", holder, 60)
            start.wait(60)
            expired = hub.claim("race.expired", holder, 60)
        results.put((holder, fresh, expired))
    except Exception as exc:
        results.put((holder, repr(exc), None))


def test_one_claim_wins_a_multi_process_race(db: HubDatabase, db_url: str) -> None:
    assert db.claim("race.expired", "crashed", 0.01)
    time.sleep(0.05)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(RACERS)
    results = context.Queue()
    racers = [
        context.Process(target=_race, args=(db_url, f"racer-{i}", start, results))
        for i in range(RACERS)
    ]
    for racer in racers:
        racer.start()
    try:
        outcomes = [results.get(timeout=60) for _ in racers]
    except queue.Empty:
        pytest.fail("a racing process did not report back")
    finally:
        for racer in racers:
            racer.join(30)
    assert all(isinstance(fresh, bool) for _, fresh, _ in outcomes), outcomes
    fresh_winners = [holder for holder, fresh, _ in outcomes if fresh]
    expired_winners = [holder for holder, _, expired in outcomes if expired]
    assert len(fresh_winners) == 1, outcomes
    assert len(expired_winners) == 1, outcomes
    assert not db.claim("race.fresh", "late", 60)
    assert db.claim("race.fresh", fresh_winners[0], 60)
    assert db.claim("race.expired", expired_winners[0], 60)


# failures


def test_an_unreachable_database_is_a_hub_error(tmp_path: Any) -> None:
    for url in (
        f"sqlite:///{tmp_path / 'missing' / 'hub.db'}",
        "postgresql+psycopg://postgres@127.0.0.1:1/hub",
    ):
        with HubDatabase(url) as hub:
            with pytest.raises(HubUnavailableError, match="cannot be used"):
                hub.upgrade()
            with pytest.raises(HubUnavailableError, match="cannot be used"):
                hub.find_plugins("risk.score_matrix")


# records


def test_records_validate_at_the_boundary() -> None:
    with pytest.raises(ValidationError, match="SHA-256"):
        plugin(checksum="AB" * 32)
    with pytest.raises(ValidationError, match="SHA-256"):
        plugin(checksum="ab" * 31)
    with pytest.raises(ValidationError, match="PEP 440"):
        plugin(version="one")
    with pytest.raises(ValidationError, match="capability"):
        plugin(capability="Risk")
    with pytest.raises(ValidationError):
        TestReportRecord(plugin_id="p", pass_rate=1.5, report_json="{}")
    record = plugin(dist_name="PlanExe_Gen.Risk", version="1.0")
    assert (record.dist_name, record.version) == ("planexe-gen-risk", "1.0")
    assert len(record.plugin_id) == 32
    assert record.created_at.tzinfo is UTC
    assert plugin().plugin_id != record.plugin_id
