"""The hub's metadata database: tables, migrations and ``HubDatabase``.

One schema serves SQLite (the embedded default, one file shared by every process on a machine)
and PostgreSQL (a hub shared by several machines). The schema is created and upgraded only by
the Alembic migrations in ``hub_index/migrations``; the tables below describe the same schema
for queries.

Transactions: on SQLite every transaction is an explicit ``BEGIN`` (reads see one snapshot) and
every write transaction a ``BEGIN IMMEDIATE``, so writers from several processes queue on the
database lock (busy timeout) instead of failing half-way; the journal is in WAL mode so readers
never wait for writers. On PostgreSQL rows about to change are locked with ``SELECT ... FOR
UPDATE`` and claims compare against the database server's clock, which every machine shares.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from packaging.version import Version
from sqlalchemy.engine import Connection, Dialect, Engine, ExceptionContext
from sqlalchemy.exc import IntegrityError

from hub_client.errors import (
    DuplicateVersionError,
    HubConfigError,
    HubError,
    HubUnavailableError,
    PolicyError,
)
from hub_client.records import (
    PluginRecord,
    PluginStatus,
    TestReportRecord,
    UsageRecord,
    as_utc,
    normalize_dist_name,
    utc_now,
)
from hub_index.errors import RecordNotFoundError
from plan_pipeline.trust import Tier

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "plugin_hub_alembic_version"
SQLITE_BUSY_TIMEOUT_S = 30.0

_WRITE_OPTION = "planexe_hub_write"
_MIGRATION_LOCK_KEY = 0x706C7567696E6875  # any constant: serializes concurrent upgrades
_METADATA_LOCK_KEY = 0x6D65746164617461  # serializes changes of the signed metadata
_PLUGINS_LOCK_KEY = 0x706C7567696E73  # serializes new plugin records (check, then insert)
_CLAIM_ATTEMPTS = 3
MAX_CLAIM_TTL_S = 60.0
"""The longest a claim lives without a heartbeat: a holder that dies frees it within this."""


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (also on SQLite)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def _bigint_id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


metadata = sa.MetaData()

plugins_table = sa.Table(
    "plugin_hub_plugins",
    metadata,
    sa.Column("plugin_id", sa.String, primary_key=True),
    sa.Column("capability", sa.String, nullable=False),
    sa.Column("version", sa.String, nullable=False),
    sa.Column("dist_name", sa.String, nullable=False),
    sa.Column("filename", sa.String, nullable=False),
    sa.Column("checksum", sa.String(64), nullable=False),
    sa.Column("trust_tier", sa.String(16), nullable=False),
    sa.Column("owner", sa.String, nullable=False),
    sa.Column("signer_identity", sa.String, nullable=False),
    sa.Column("signature_bundle", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("revoked_reason", sa.Text, nullable=True),
    sa.UniqueConstraint("dist_name", "version", name="uq_plugin_hub_plugins_dist_version"),
    sa.Index("ix_plugin_hub_plugins_capability", "capability"),
)

usage_table = sa.Table(
    "plugin_hub_usage",
    metadata,
    sa.Column("id", _bigint_id(), primary_key=True, autoincrement=True),
    sa.Column("plugin_id", sa.String, nullable=True),
    sa.Column("capability", sa.String, nullable=False),
    sa.Column("run_id", sa.String, nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("error_type", sa.String, nullable=True),
    sa.Column("time_to_capability_ms", sa.Float, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("resolution", sa.String(16), nullable=True),
    sa.Column("violation", sa.Text, nullable=True),
    sa.Column("reporter", sa.String(200), nullable=True),
    sa.Index("ix_plugin_hub_usage_plugin_id", "plugin_id"),
    sa.Index("ix_plugin_hub_usage_capability", "capability"),
    sa.Index("ix_plugin_hub_usage_reporter_created_at", "reporter", "created_at"),
)

test_reports_table = sa.Table(
    "plugin_hub_test_reports",
    metadata,
    sa.Column("id", _bigint_id(), primary_key=True, autoincrement=True),
    sa.Column(
        "plugin_id",
        sa.String,
        sa.ForeignKey(
            "plugin_hub_plugins.plugin_id",
            name="fk_plugin_hub_test_reports_plugin_id",
            ondelete="CASCADE",
        ),
        nullable=False,
    ),
    sa.Column("pass_rate", sa.Float, nullable=False),
    sa.Column("report_json", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("publisher_synthesis_json", sa.Text, nullable=True),
    sa.Index("ix_plugin_hub_test_reports_plugin_id", "plugin_id"),
)

revocations_table = sa.Table(
    "plugin_hub_revocations",
    metadata,
    sa.Column("dist_name", sa.String, primary_key=True),
    sa.Column("version", sa.String, primary_key=True),
    sa.Column("plugin_id", sa.String, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("revoked_by", sa.String, nullable=False),
    sa.Column("revoked_at", UtcDateTime, nullable=False),
)

tokens_table = sa.Table(
    "plugin_hub_tokens",
    metadata,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("token_sha256", sa.String(64), nullable=False),
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("token_sha256", name="uq_plugin_hub_tokens_token_sha256"),
)

claims_table = sa.Table(
    "plugin_hub_claims",
    metadata,
    sa.Column("capability", sa.String, primary_key=True),
    sa.Column("holder", sa.String, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)

duplicates_table = sa.Table(
    "plugin_hub_duplicates",
    metadata,
    sa.Column("first_id", sa.String, primary_key=True),
    sa.Column("second_id", sa.String, primary_key=True),
    sa.Column("checked_at", UtcDateTime, nullable=False),
)

lineage_table = sa.Table(
    "plugin_hub_lineage",
    metadata,
    sa.Column("plugin_id", sa.String, primary_key=True),
    sa.Column("adapted_from_id", sa.String, nullable=False),
    sa.Index("ix_plugin_hub_lineage_adapted_from_id", "adapted_from_id"),
)

metadata_table = sa.Table(
    "plugin_hub_metadata",
    metadata,
    sa.Column("role", sa.String(32), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)


def create_hub_engine(url: str | sa.URL) -> Engine:
    """An engine for the hub database at ``url``, set up for use by several processes."""
    url = sa.make_url(url)
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
    sa.event.listen(engine, "connect", _sqlite_on_connect)
    sa.event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _as_unavailable(context: ExceptionContext) -> None:
    """Raise ``HubUnavailableError`` for a database that cannot be reached or used."""
    if context.is_pre_ping or not isinstance(context.sqlalchemy_exception, sa.exc.OperationalError):
        return
    detail = " ".join(str(context.original_exception).split())
    raise HubUnavailableError(
        f"the hub database cannot be used ({detail})",
        "Check that the database server is running and reachable and that the hub's "
        "database URL is right",
    )


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get(_WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _alembic_config(url: sa.URL) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    rendered = url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with enum members replaced by their values, as the database stores them."""
    return {key: getattr(value, "value", value) for key, value in values.items()}


def _newest_first(records: Iterable[PluginRecord]) -> list[PluginRecord]:
    return sorted(records, key=lambda r: (Version(r.version), r.created_at), reverse=True)


def next_version_after(used: Iterable[str]) -> str:
    """The next patch version above every version in ``used`` (its epoch kept)."""
    top = max((Version(v) for v in used), default=Version("0"))
    epoch = f"{top.epoch}!" if top.epoch else ""
    return f"{epoch}{top.major}.{top.minor}.{top.micro + 1}"


class HubDatabase:
    """The hub's records in one SQL database (SQLite file or PostgreSQL), one engine each.

    Call ``upgrade()`` once before use to create or migrate the schema. Methods are safe to call
    from several processes and machines at once; every change is one transaction. A database
    that cannot be reached or used raises ``HubUnavailableError``.
    """

    def __init__(self, url: str) -> None:
        self.url = sa.make_url(url)
        self._engine = create_hub_engine(self.url)
        sa.event.listen(self._engine, "handle_error", _as_unavailable)
        self._writer = self._engine.execution_options(**{_WRITE_OPTION: True})

    def __enter__(self) -> HubDatabase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def metadata_store(self) -> DatabaseMetadataStore:
        """The signed metadata's store in this database (see ``hub_index/metadata_repository``)."""
        return DatabaseMetadataStore(self._engine, self._writer)

    def upgrade(self) -> None:
        """Create or migrate the schema to the newest revision; a no-op when it is current."""
        with self._writer.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
            config = _alembic_config(self.url)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    # plugins

    def add_plugin(self, record: PluginRecord) -> PluginRecord:
        """Store a new plugin; ``DuplicateVersionError`` if its name and version were ever used."""
        try:
            with self._writer.begin() as conn:
                # equal versions have many spellings ("1.0", "1.0.0"), so no unique key can
                # catch them: on PostgreSQL writers take turns here (SQLite: BEGIN IMMEDIATE)
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PLUGINS_LOCK_KEY)))
                self._refuse_reuse(conn, record)
                conn.execute(plugins_table.insert().values(_plain(record.model_dump())))
        except IntegrityError as exc:
            with self._engine.connect() as conn:
                self._refuse_reuse(conn, record)
            raise HubError(
                f"plugin {record.plugin_id} could not be stored: {exc.orig}",
                "Check the record against the existing ones and retry",
            ) from exc
        return record

    def get_plugin(self, plugin_id: str) -> PluginRecord | None:
        """The plugin with ``plugin_id``, or None."""
        query = sa.select(plugins_table).where(plugins_table.c.plugin_id == plugin_id)
        return self._one_plugin(query)

    def find_by_dist(self, dist_name: str, version: str) -> PluginRecord | None:
        """The plugin published as ``dist_name`` at ``version`` (any equal spelling), or None."""
        wanted = Version(version)
        for record in self.plugins_of_dist(dist_name):
            if Version(record.version) == wanted:
                return record
        return None

    def find_plugins(self, capability: str, include_revoked: bool = False) -> list[PluginRecord]:
        """The plugins providing ``capability``, newest version first."""
        query = sa.select(plugins_table).where(plugins_table.c.capability == capability)
        if not include_revoked:
            query = query.where(plugins_table.c.status == PluginStatus.ACTIVE.value)
        return _newest_first(self._plugins(query))

    def list_plugins(self, include_revoked: bool = True) -> list[PluginRecord]:
        """Every plugin, by capability and then newest version first."""
        query = sa.select(plugins_table)
        if not include_revoked:
            query = query.where(plugins_table.c.status == PluginStatus.ACTIVE.value)
        records = _newest_first(self._plugins(query))
        return sorted(records, key=lambda r: r.capability)

    def set_tier(self, plugin_id: str, tier: Tier) -> PluginRecord:
        """Change a plugin's trust tier; a revoked plugin can only stay ``quarantined``."""
        tier = Tier(tier)
        with self._writer.begin() as conn:
            record = self._locked_plugin(conn, plugin_id)
            if record.status is PluginStatus.REVOKED and tier is not Tier.QUARANTINED:
                raise PolicyError(
                    f"plugin {plugin_id} ({record.dist_name} {record.version}) is revoked "
                    f"and cannot become {tier.value}",
                    "Publish a fixed release under a new version and set its tier instead",
                )
            self._update_plugin(conn, plugin_id, trust_tier=tier.value)
        return record.model_copy(update={"trust_tier": tier})

    def revoke(self, plugin_id: str, reason: str, revoked_by: str) -> PluginRecord:
        """Revoke a plugin for good: status ``revoked``, tier ``quarantined``, and its name and
        version burned. Revoking a revoked plugin changes nothing."""
        if not reason.strip() or not revoked_by.strip():
            raise HubError(
                "a revocation needs a reason and who revoked", "Pass both, e.g. the advisory id"
            )
        with self._writer.begin() as conn:
            record = self._locked_plugin(conn, plugin_id)
            if record.status is PluginStatus.REVOKED:
                return record
            changes = {
                "status": PluginStatus.REVOKED,
                "trust_tier": Tier.QUARANTINED,
                "revoked_reason": reason,
            }
            self._update_plugin(conn, plugin_id, **_plain(changes))
            self._burn(conn, record, reason, revoked_by)
        return record.model_copy(update=changes)

    def is_burned(self, dist_name: str, version: str) -> bool:
        """Whether ``dist_name`` at ``version`` was revoked, so it can never be published."""
        wanted = Version(version)
        return any(Version(v) == wanted for v in self._burned_versions(dist_name))

    def versions_of(self, dist_name: str) -> list[str]:
        """Every version of ``dist_name`` ever published, revoked ones included, oldest first."""
        published = [record.version for record in self.plugins_of_dist(dist_name)]
        return sorted({*published, *self._burned_versions(dist_name)}, key=Version)

    # usage and test reports

    def record_usage(self, record: UsageRecord, reporter: str | None = None) -> None:
        """Store one use of a capability, sent with the token named ``reporter``."""
        with self._writer.begin() as conn:
            conn.execute(usage_table.insert().values({**record.model_dump(), "reporter": reporter}))

    def recent_usage(self, reporter: str | None, since: datetime) -> int:
        """How many usage rows the token named ``reporter`` sent since ``since``."""
        query = (
            sa.select(sa.func.count())
            .select_from(usage_table)
            .where(usage_table.c.reporter == reporter, usage_table.c.created_at >= since)
        )
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def usage_reporters(
        self,
        plugin_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """How many distinct tokens sent the uses of a plugin (all plugins: ``None``) in the
        window."""
        query = sa.select(sa.func.count(sa.distinct(usage_table.c.reporter)))
        if plugin_id is not None:
            query = query.where(usage_table.c.plugin_id == plugin_id)
        if since is not None:
            query = query.where(usage_table.c.created_at >= since)
        if until is not None:
            query = query.where(usage_table.c.created_at < until)
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def violation_reports(
        self, plugin_id: str, latest: int
    ) -> tuple[list[tuple[UsageRecord, str | None]], int, list[str | None]]:
        """The ``latest`` uses of a plugin that a run-time check stopped (newest first, each
        with the name of the token it was sent with), how many there are in all, and the
        distinct token names in the order they first reported."""
        stopped = sa.and_(
            usage_table.c.plugin_id == plugin_id, usage_table.c.violation.is_not(None)
        )
        newest = (
            sa.select(usage_table)
            .where(stopped)
            .order_by(usage_table.c.created_at.desc(), usage_table.c.id.desc())
            .limit(latest)
        )
        total = sa.select(sa.func.count()).select_from(usage_table).where(stopped)
        first = sa.func.min(usage_table.c.id)
        reporters = (
            sa.select(usage_table.c.reporter, first)
            .where(stopped)
            .group_by(usage_table.c.reporter)
            .order_by(first)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(newest).mappings().all()
            count = int(conn.execute(total).scalar_one())
            names = [row[0] for row in conn.execute(reporters).all()]
        shown = [
            (UsageRecord.model_validate(_without(row, "id", "reporter")), row["reporter"])
            for row in rows
        ]
        return shown, count, names

    def usage_by_token(
        self, plugin_ids: list[str]
    ) -> dict[str, list[tuple[str | None, int, int, int, float]]]:
        """The uses of each plugin counted per token that sent them: ``(token, uses,
        successes, uses reporting a violation, mean latency ms)``."""
        if not plugin_ids:
            return {}
        c = usage_table.c
        query = (
            sa.select(
                c.plugin_id,
                c.reporter,
                sa.func.count(),
                sa.func.sum(sa.case((c.success, 1), else_=0)),
                sa.func.sum(sa.case((c.violation.is_not(None), 1), else_=0)),
                sa.func.avg(c.latency_ms),
            )
            .where(c.plugin_id.in_(plugin_ids))
            .group_by(c.plugin_id, c.reporter)
        )
        found: dict[str, list[tuple[str | None, int, int, int, float]]] = {}
        with self._engine.connect() as conn:
            for plugin_id, reporter, uses, successes, violations, latency in conn.execute(query):
                found.setdefault(plugin_id, []).append(
                    (reporter, int(uses), int(successes or 0), int(violations or 0),
                     float(latency or 0.0))
                )  # fmt: skip
        return found

    def add_duplicate(self, first_id: str, second_id: str) -> None:
        """Record that two plugins each passed the other's contract (once per pair)."""
        first_id, second_id = sorted((first_id, second_id))
        with self._writer.begin() as conn:
            c = duplicates_table.c
            known = conn.execute(
                sa.select(c.first_id).where(c.first_id == first_id, c.second_id == second_id)
            ).first()
            values = {"checked_at": self._now(conn)}
            if known is None:
                conn.execute(
                    duplicates_table.insert().values(
                        first_id=first_id, second_id=second_id, **values
                    )
                )
            else:
                conn.execute(
                    duplicates_table.update()
                    .where(c.first_id == first_id, c.second_id == second_id)
                    .values(**values)
                )

    def add_lineage(self, plugin_id: str, adapted_from_id: str) -> None:
        """Record that ``plugin_id`` is a near match's adapter of ``adapted_from_id``'s logic."""
        with self._writer.begin() as conn:
            conn.execute(
                lineage_table.insert().values(plugin_id=plugin_id, adapted_from_id=adapted_from_id)
            )

    def adapters_of(self, plugin_id: str) -> list[PluginRecord]:
        """The plugins recorded as adapters of ``plugin_id``'s logic."""
        adapted = sa.select(lineage_table.c.plugin_id).where(
            lineage_table.c.adapted_from_id == plugin_id
        )
        return self._plugins(sa.select(plugins_table).where(plugins_table.c.plugin_id.in_(adapted)))

    def duplicates(self) -> list[tuple[str, str, datetime]]:
        """Every recorded pair of duplicates, newest check first."""
        c = duplicates_table.c
        query = sa.select(c.first_id, c.second_id, c.checked_at).order_by(c.checked_at.desc())
        with self._engine.connect() as conn:
            return [(a, b, at) for a, b, at in conn.execute(query).all()]

    def usage(
        self,
        plugin_id: str | None = None,
        capability: str | None = None,
        reporter: str | None = None,
    ) -> list[UsageRecord]:
        """Uses of a plugin and/or capability, or sent with the token named ``reporter`` (all
        when none is given), oldest first."""
        query = sa.select(usage_table).order_by(usage_table.c.created_at, usage_table.c.id)
        if plugin_id is not None:
            query = query.where(usage_table.c.plugin_id == plugin_id)
        if capability is not None:
            query = query.where(usage_table.c.capability == capability)
        if reporter is not None:
            query = query.where(usage_table.c.reporter == reporter)
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [UsageRecord.model_validate(_without(row, "id", "reporter")) for row in rows]

    def add_test_report(self, record: TestReportRecord) -> None:
        """Store a test report; ``RecordNotFoundError`` if its plugin is not in the hub."""
        try:
            with self._writer.begin() as conn:
                conn.execute(test_reports_table.insert().values(record.model_dump()))
        except IntegrityError as exc:
            raise RecordNotFoundError(
                f"no plugin {record.plugin_id} for this test report",
                "Add the plugin record first, then its test report",
            ) from exc

    def test_reports(self, plugin_id: str) -> list[TestReportRecord]:
        """The test reports of ``plugin_id``, oldest first."""
        table = test_reports_table
        query = (
            sa.select(table)
            .where(table.c.plugin_id == plugin_id)
            .order_by(table.c.created_at, table.c.id)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [TestReportRecord.model_validate(_without(row, "id")) for row in rows]

    # tokens

    def add_token(self, name: str, token_sha256: str, scopes: list[str]) -> None:
        """Store an API token by the SHA-256 hex digest of its secret, with its scopes (its
        name: 1 to 200 printable characters; claims and usage rows are kept by it)."""
        if not 0 < len(name) <= 200 or not name.isprintable():
            raise HubError(
                f"token name {name[:40]!r} is not 1 to 200 printable characters",
                "Choose a plain name, e.g. the installation's host name",
            )
        if len(token_sha256) != 64 or token_sha256.strip("0123456789abcdef"):
            raise HubError(
                f"token {name!r}: expected the SHA-256 hex digest of the token",
                "Store hashlib.sha256(token.encode()).hexdigest(), never the token itself",
            )
        values = {
            "name": name,
            "token_sha256": token_sha256,
            "scopes": json.dumps(sorted(set(scopes))),
            "created_at": utc_now(),
        }
        try:
            with self._writer.begin() as conn:
                conn.execute(tokens_table.insert().values(values))
        except IntegrityError as exc:
            raise HubConfigError(
                f"a token named {name!r} or with the same digest already exists",
                "Choose another name, or create a new token secret",
            ) from exc

    def token_name(self, token_sha256: str) -> str | None:
        """The name of the token with this digest, or None if there is no such token."""
        query = sa.select(tokens_table.c.name).where(tokens_table.c.token_sha256 == token_sha256)
        with self._engine.connect() as conn:
            name = conn.execute(query).scalar_one_or_none()
        return None if name is None else str(name)

    def token_scopes(self, token_sha256: str) -> list[str] | None:
        """The scopes of the token with this digest, or None if there is no such token."""
        query = sa.select(tokens_table.c.scopes).where(tokens_table.c.token_sha256 == token_sha256)
        with self._engine.connect() as conn:
            scopes = conn.execute(query).scalar_one_or_none()
        return None if scopes is None else [str(scope) for scope in json.loads(scopes)]

    # claims

    def claim(self, capability: str, holder: str, ttl_s: float) -> bool:
        """Try to become the only holder of ``capability`` for ``ttl_s`` seconds.

        True if the claim was free, expired, or already ours (then it is refreshed); False while
        another holder's claim is live. Atomic across processes and machines. ``ttl_s`` is at
        most ``MAX_CLAIM_TTL_S``: a longer task keeps its claim with ``heartbeat``.
        """
        _check_ttl(ttl_s)
        for _ in range(_CLAIM_ATTEMPTS):
            if self._insert_claim(capability, holder, ttl_s):
                return True
            if self._take_over_claim(capability, holder, ttl_s):
                return True
            if self._claim_exists(capability):
                return False
        return False

    def holds_claim(self, capability: str, holder: str) -> bool:
        """Whether ``holder``'s claim on ``capability`` is live."""
        table = claims_table
        with self._engine.connect() as conn:
            now = self._now(conn)
            query = sa.select(table.c.capability).where(
                table.c.capability == capability,
                table.c.holder == holder,
                table.c.expires_at >= now,
            )
            return conn.execute(query).first() is not None

    def live_claims(self, holder_prefix: str) -> int:
        """How many live claims have a holder starting with ``holder_prefix``."""
        table = claims_table
        with self._engine.connect() as conn:
            now = self._now(conn)
            query = (
                sa.select(sa.func.count())
                .select_from(table)
                .where(
                    sa.func.substr(table.c.holder, 1, len(holder_prefix)) == holder_prefix,
                    table.c.expires_at >= now,
                )
            )
            return int(conn.execute(query).scalar_one())

    def heartbeat(self, capability: str, holder: str, ttl_s: float) -> bool:
        """Extend ``holder``'s claim on ``capability`` to ``ttl_s`` seconds from now.

        True while the claim is still ``holder``'s (also when it lapsed and nobody took it
        over); False once it was released or taken over. Never creates a claim. Atomic across
        processes and machines, on the same clock as ``claim``.
        """
        _check_ttl(ttl_s)
        table = claims_table
        with self._writer.begin() as conn:
            now = self._now(conn)
            result = conn.execute(
                table.update()
                .where(table.c.capability == capability, table.c.holder == holder)
                .values(expires_at=now + timedelta(seconds=ttl_s))
            )
            return result.rowcount == 1

    def release(self, capability: str, holder: str) -> None:
        """Give up ``holder``'s claim on ``capability``; another holder's claim stays."""
        table = claims_table
        with self._writer.begin() as conn:
            conn.execute(
                table.delete().where(table.c.capability == capability, table.c.holder == holder)
            )

    # helpers

    def _plugins(self, query: sa.Select[Any]) -> list[PluginRecord]:
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [PluginRecord.model_validate(dict(row)) for row in rows]

    def _one_plugin(self, query: sa.Select[Any]) -> PluginRecord | None:
        records = self._plugins(query)
        return records[0] if records else None

    def plugins_of_dist(self, dist_name: str) -> list[PluginRecord]:
        """Every plugin ever published as ``dist_name`` (any version, revoked included)."""
        dist = normalize_dist_name(dist_name)
        return self._plugins(sa.select(plugins_table).where(plugins_table.c.dist_name == dist))

    def _burned_versions(self, dist_name: str) -> list[str]:
        table = revocations_table
        query = sa.select(table.c.version).where(
            table.c.dist_name == normalize_dist_name(dist_name)
        )
        with self._engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def _refuse_reuse(self, conn: Connection, record: PluginRecord) -> None:
        """Raise if ``record``'s id, or its name and version in any spelling, is taken."""
        query = sa.select(plugins_table.c.plugin_id).where(
            plugins_table.c.plugin_id == record.plugin_id
        )
        if conn.execute(query).first() is not None:
            raise HubError(
                f"plugin id {record.plugin_id} is already in the hub",
                "Leave plugin_id unset so the hub assigns a fresh one",
            )
        burned = self._versions_in(conn, revocations_table, record.dist_name)
        published = self._versions_in(conn, plugins_table, record.dist_name)
        wanted = Version(record.version)
        suggestion = next_version_after([*burned, *published])
        if any(Version(v) == wanted for v in burned):
            raise DuplicateVersionError(
                f"{record.dist_name} {record.version} was revoked and can never be published again",
                f"Publish the plugin under an unused version, e.g. {suggestion}",
            )
        if any(Version(v) == wanted for v in published):
            raise DuplicateVersionError(
                f"{record.dist_name} {record.version} is already in the hub",
                f"Publish the plugin under an unused version, e.g. {suggestion}",
            )

    @staticmethod
    def _versions_in(conn: Connection, table: sa.Table, dist_name: str) -> list[str]:
        query = sa.select(table.c.version).where(table.c.dist_name == dist_name)
        return list(conn.execute(query).scalars())

    @staticmethod
    def _locked_plugin(conn: Connection, plugin_id: str) -> PluginRecord:
        query = (
            sa.select(plugins_table).where(plugins_table.c.plugin_id == plugin_id).with_for_update()
        )
        row = conn.execute(query).mappings().first()
        if row is None:
            raise RecordNotFoundError(
                f"no plugin with id {plugin_id!r}",
                "List the hub's plugins to find the right id",
            )
        return PluginRecord.model_validate(dict(row))

    @staticmethod
    def _update_plugin(conn: Connection, plugin_id: str, **values: Any) -> None:
        conn.execute(
            plugins_table.update().where(plugins_table.c.plugin_id == plugin_id).values(values)
        )

    @staticmethod
    def _burn(conn: Connection, record: PluginRecord, reason: str, revoked_by: str) -> None:
        conn.execute(
            revocations_table.insert().values(
                dist_name=record.dist_name,
                version=record.version,
                plugin_id=record.plugin_id,
                reason=reason,
                revoked_by=revoked_by,
                revoked_at=utc_now(),
            )
        )

    @staticmethod
    def _now(conn: Connection) -> datetime:
        """The time claims are compared against: the server's clock on PostgreSQL."""
        if conn.dialect.name == "postgresql":
            return as_utc(conn.execute(sa.select(sa.func.now())).scalar_one())
        return utc_now()

    def _insert_claim(self, capability: str, holder: str, ttl_s: float) -> bool:
        try:
            with self._writer.begin() as conn:
                expires_at = self._now(conn) + timedelta(seconds=ttl_s)
                conn.execute(
                    claims_table.insert().values(
                        capability=capability, holder=holder, expires_at=expires_at
                    )
                )
        except IntegrityError:
            return False
        return True

    def _take_over_claim(self, capability: str, holder: str, ttl_s: float) -> bool:
        table = claims_table
        with self._writer.begin() as conn:
            now = self._now(conn)
            result = conn.execute(
                table.update()
                .where(
                    table.c.capability == capability,
                    sa.or_(table.c.expires_at < now, table.c.holder == holder),
                )
                .values(holder=holder, expires_at=now + timedelta(seconds=ttl_s))
            )
            return result.rowcount == 1

    def _claim_exists(self, capability: str) -> bool:
        query = sa.select(claims_table.c.capability).where(claims_table.c.capability == capability)
        with self._engine.connect() as conn:
            return conn.execute(query).first() is not None


class _MetadataTransaction:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def latest(self, role: str) -> bytes | None:
        body = _latest_of(self._conn, metadata_table.c.body, role)
        return None if body is None else bytes(body)

    def save(self, role: str, version: int, body: bytes, expires: datetime) -> None:
        self._conn.execute(
            metadata_table.insert().values(
                role=role, version=version, body=body, expires_at=expires
            )
        )


def _latest_of(conn: Connection, column: sa.Column[Any], role: str) -> Any:
    """``column`` of ``role``'s newest version, or None."""
    query = (
        sa.select(column)
        .where(metadata_table.c.role == role)
        .order_by(metadata_table.c.version.desc())
        .limit(1)
    )
    return conn.execute(query).scalar_one_or_none()


class DatabaseMetadataStore:
    """The hub's signed metadata documents in its database (``plugin_hub_metadata``): every
    version of every role, so clients can fetch the exact versions a snapshot names. Made by
    ``HubDatabase.metadata_store``."""

    def __init__(self, engine: Engine, writer: Engine) -> None:
        self._engine = engine
        self._writer = writer

    @contextmanager
    def transaction(self) -> Iterator[_MetadataTransaction]:
        with self._writer.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_METADATA_LOCK_KEY)))
            yield _MetadataTransaction(conn)

    def document(self, role: str, version: int | None = None) -> bytes | None:
        table = metadata_table
        with self._engine.connect() as conn:
            if version is None:
                body = _latest_of(conn, table.c.body, role)
            else:
                query = sa.select(table.c.body).where(
                    table.c.role == role, table.c.version == version
                )
                body = conn.execute(query).scalar_one_or_none()
        return None if body is None else bytes(body)

    def expires(self, role: str) -> datetime | None:
        with self._engine.connect() as conn:
            found = _latest_of(conn, metadata_table.c.expires_at, role)
        return None if found is None else as_utc(found)


def _check_ttl(ttl_s: float) -> None:
    """Refuse a claim lifetime that is not a finite number of seconds in (0, MAX_CLAIM_TTL_S]."""
    number = isinstance(ttl_s, int | float) and not isinstance(ttl_s, bool)
    if not number or not 0 < ttl_s <= MAX_CLAIM_TTL_S:  # also refuses NaN and infinities
        raise ValueError(
            f"ttl_s must be a positive, finite number of seconds, at most {MAX_CLAIM_TTL_S:g} "
            f"(heartbeat to keep a claim longer), not {ttl_s!r:.40}"
        )


def _without(row: Any, *keys: str) -> dict[str, Any]:
    return {k: v for k, v in dict(row).items() if k not in keys}
