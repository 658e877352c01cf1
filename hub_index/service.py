"""The hub's metadata service: what the API does, independent of HTTP.

Two ways in, one per credential:

- ``publish_generated`` (publish token, pipeline workers): the worker sends the spec, the
  logic source and the sha256 of its wheel, never a wheel. The hub rebuilds and re-checks the
  plugin itself (``hub_index/reverify.py``) and records, signs and serves only its own build,
  with its own test report, stated in the signed metadata by the online key.
- ``stage_upload`` and ``apply_targets`` (admin token, maintainers): a wheel is uploaded to
  staging, then a ``targets`` document signed by the admin key states it (or promotes or
  revokes a release); the hub verifies the signature against its root, checks every release
  it adds against the staged file, and applies the statement to its records.

Order of the steps, so that a crash anywhere leaves nothing served that no record vouches for:
the file waits in staging, the record is written, the signed metadata states it, and only then
the file moves into the served folder (``hub_index/index_files.py``; ``reconcile`` finishes or
undoes a half-done publish when the hub starts).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, TypeAdapter

from hub_client.bundles import BundleVerifier, sha256_hex
from hub_client.errors import DuplicateVersionError, HubBusyError, HubError, PolicyError
from hub_client.policy import TrustPolicy
from hub_client.records import (
    PluginRecord,
    PluginStatus,
    TestReportRecord,
    UsageRecord,
    utc_now,
)
from hub_client.release_metadata import GENERATED_PREFIX, PluginRelease, release_path
from hub_client.success_metrics import SuccessMetrics
from hub_index.db import HubDatabase, next_version_after
from hub_index.errors import RecordNotFoundError
from hub_index.home import token_digest
from hub_index.index_files import IndexFiles, check_wheel_name
from hub_index.library import HubLibrary
from hub_index.metadata_repository import MetadataRepository
from hub_index.metrics import success_metrics
from hub_index.reverify import GeneratedPublish, reverify
from hub_index.signing import ArtifactSigner
from plan_pipeline.capability_names import generated_dist_name, validate_capability_name
from plan_pipeline.installed_files import wheel_files_sha256
from plan_pipeline.published_wheel import read_published
from plan_pipeline.trust import Tier
from synthesizer.near_match import adapter_in

MAX_HOLDER_CHARS = 200
MAX_USAGE_PER_MINUTE = 120
"""Usage rows one API token may send a minute by default (a plan's run sends one per stage,
and its stages take seconds to minutes each); ``PLANEXE_HUB_USAGE_PER_MINUTE`` sets it."""
MAX_CLAIMS_PER_TOKEN = 16
"""Live claims one API token may hold at once (a pipeline holds one while it synthesizes)."""
_OWNER_MARK = "\x1f"
"""Between a claim's token name and its holder, as stored: never in a holder (printable)."""
MAX_REBUILDS = 2
"""Publishes the hub rebuilds and re-checks at once (each is a whole synthesis)."""
HOST_DISTRIBUTIONS = frozenset({"planexe-plugin-hub", "planexe", "planexe2", "planexe-skill"})
"""Names no plugin may take: this project's own distribution (its core built-ins) and the
PlanExe hosts' (a host ranks its own distributions ``core``)."""
FIND_CACHE_S = 1.0
"""How long one process answers a find from what it read (see ``HubService.find``)."""
FIND_CACHE_ENTRIES = 4096
RECORDS_JSON = TypeAdapter(list[PluginRecord])
"""Records as the API sends them (a JSON array)."""
METRICS_CACHE_S = 5.0
"""How long one process computes the figures from the usage rows it read."""


MAX_SEARCH_RESULTS = 1000
"""A search answers at most this many records."""


@dataclass
class HubService:
    db: HubDatabase
    policy: TrustPolicy
    verifier: BundleVerifier
    signer: ArtifactSigner
    index_url: str
    files: IndexFiles
    metadata: MetadataRepository
    work: Path
    max_rebuilds: int = MAX_REBUILDS
    max_usage_per_minute: int = MAX_USAGE_PER_MINUTE
    rebuilds: threading.BoundedSemaphore = field(init=False, repr=False)
    """Taken by each publish's rebuild; one more publish is refused as busy at once."""

    _found: dict[tuple[str, bool], tuple[float, int, tuple[PluginRecord, ...], bytes]] = field(
        init=False, repr=False, default_factory=dict
    )
    _writes: int = field(init=False, repr=False, default=0)
    _metrics_read: tuple[float, list[UsageRecord], set[str]] | None = field(
        init=False, repr=False, default=None
    )

    def __post_init__(self) -> None:
        self.rebuilds = threading.BoundedSemaphore(self.max_rebuilds)
        self.library = HubLibrary(self.db, self.files)
        """Ranking, promotion candidates and duplicates (``hub_index/library.py``)."""
        self._rebuilding: set[str] = set()
        self._state_lock = threading.Lock()
        self._token_locks: dict[str, threading.Lock] = {}

    # -- publishing ------------------------------------------------------------------------

    def publish_generated(self, publish: GeneratedPublish, token: str) -> PluginRecord:
        """Rebuild and re-check a worker's plugin (sent with the API token ``token``); record,
        sign and serve the hub's build. At most ``max_rebuilds`` at once: a rebuild is a
        whole synthesis, so a flood of publishes must not take every request thread and core
        of the hub. And one at a time per token: a token's second publish is refused as busy
        while its first rebuilds, so one token cannot take every slot from the others."""
        owner = self._token_name(token)
        with self._state_lock:
            if owner in self._rebuilding:
                raise HubBusyError(
                    "the hub is rebuilding another publish of this API token: one at a time "
                    "per token",
                    "Publish again when it is done (pipelines retry by themselves)",
                )
            if not self.rebuilds.acquire(blocking=False):
                raise HubBusyError(
                    f"the hub is rebuilding {self.max_rebuilds} published plugins already",
                    "Publish again in a little while (pipelines retry by themselves)",
                )
            self._rebuilding.add(owner)
        try:
            return self._publish_generated(publish)
        finally:
            with self._state_lock:
                self._rebuilding.discard(owner)
            self.rebuilds.release()

    def _publish_generated(self, publish: GeneratedPublish) -> PluginRecord:
        spec = publish.spec
        capability = validate_capability_name(spec.capability)
        self.policy.check_capability(capability)
        dist_name = generated_dist_name(capability)
        for other in self.db.plugins_of_dist(dist_name):
            if other.capability != capability:
                raise PolicyError(
                    f"{dist_name} already provides '{other.capability}': '{capability}' maps "
                    "to the same distribution name",
                    "Choose a capability name whose package name is not taken",
                )
        version = self._check_new_release(dist_name, spec.version)
        adapted = self._adapted_from(publish)
        rebuilt = reverify(publish, self.work)
        self._check_still_active(adapted)
        filename = check_wheel_name(rebuilt.filename)
        self.files.stage(filename, rebuilt.wheel)
        record = PluginRecord(
            capability=capability,
            version=version,
            dist_name=dist_name,
            filename=filename,
            checksum=sha256_hex(rebuilt.wheel),
            trust_tier=Tier.GENERATED,
            owner=publish.owner,
            signer_identity=self.signer.identity,
            signature_bundle=self.signer.sign(rebuilt.wheel),
            summary=spec.summary,
        )
        record = self.db.add_plugin(record)
        if adapted is not None:
            self.db.add_lineage(record.plugin_id, adapted.plugin_id)
        self._wrote()
        told = publish.synthesis.model_dump_json() if publish.synthesis is not None else None
        report = TestReportRecord(
            plugin_id=record.plugin_id,
            pass_rate=rebuilt.pass_rate,
            report_json=rebuilt.report_json,
            publisher_synthesis_json=told,
        )
        self.db.add_test_report(report)
        self.metadata.add_generated(_release(record, report.report_json, rebuilt.wheel))
        self.files.serve(filename, record.checksum)
        return record

    def _adapted_from(self, publish: GeneratedPublish) -> PluginRecord | None:
        """The active release whose logic a near match's adapter says it carries, checked:
        the logic of its wheel has the stated sha256 and begins the published module. A
        lineage that does not hold is refused, so revoking a plugin reaches its adapters."""
        said = publish.spec.provenance
        if "near_match_of" not in said:
            return None
        dist_name, _, version = said["near_match_of"].partition("==")
        found = None
        if dist_name and version:
            with contextlib.suppress(InvalidVersion):
                found = self.db.find_by_dist(dist_name, version)
        if found is not None and (found.dist_name, found.version) != (dist_name, version):
            found = None  # the spelling clients compare: another one would escape a revoke
        wheel = self.files.wheel_of(found) if found is not None else None
        read = read_published(wheel, found.dist_name, found.version) if found and wheel else None
        made = adapter_in(publish.logic_source, read) if read is not None else None
        if (
            found is None
            or found.status is not PluginStatus.ACTIVE
            or read is None
            or "near_match_of" in read.spec.provenance  # an adapter of an adapter
            or read.logic_sha256 != said.get("near_match_logic_sha256")
            or made is None
            or made.mapping() != said.get("near_match_mapping")
        ):
            raise PolicyError(
                f"the near match's lineage does not hold: {said['near_match_of'][:120]!r} is not "
                "an active plugin of this hub (not itself an adapter) whose logic the published "
                "module carries unchanged, followed by the stated field mapping only",
                "Publish the adapter of a plugin the hub serves, or a synthesis without "
                "near_match_of",
            )
        return found

    def _check_still_active(self, adapted: PluginRecord | None) -> None:
        """After the rebuild: the adapted plugin was not revoked meanwhile (its adapter
        would otherwise go live carrying revoked logic)."""
        if adapted is not None and self.get(adapted.plugin_id).status is not PluginStatus.ACTIVE:
            raise PolicyError(
                f"{adapted.dist_name} {adapted.version} was revoked while its adapter was rebuilt",
                "Publish a synthesis instead",
            )

    def adapters_of(self, plugin_id: str) -> list[PluginRecord]:
        """The near matches' adapters that carry ``plugin_id``'s logic."""
        self.get(plugin_id)  # RecordNotFoundError for an unknown plugin
        return self.db.adapters_of(plugin_id)

    def metrics(
        self, since: datetime | None, until: datetime | None, token: str | None = None
    ) -> SuccessMetrics:
        """The success metrics over the window (``hub_index/metrics.py``), from the usage
        rows of every token or of the one named ``token``, saying whose they are."""
        if token is None:
            usage, generated = self._metrics_rows()
            tokens = self.db.usage_reporters(since=since, until=until)
        else:
            usage = self.db.usage(reporter=token)
            generated = self._metrics_rows()[1]
            tokens = 1 if any(since is None or u.created_at >= since for u in usage) else 0
        figures = success_metrics(usage, generated, since, until)
        return figures.model_copy(update={"token": token, "tokens": tokens})

    def _metrics_rows(self) -> tuple[list[UsageRecord], set[str]]:
        """The usage rows and generated plugins the figures count, read at most once per
        ``METRICS_CACHE_S`` (every figure reads all rows: a page of them must not reread),
        and afresh after a use this process recorded."""
        now = time.monotonic()
        if self._metrics_read is None or self._metrics_read[0] <= now:
            generated = {
                r.plugin_id for r in self.db.list_plugins() if r.trust_tier is Tier.GENERATED
            }
            self._metrics_read = (now + METRICS_CACHE_S, self.db.usage(), generated)
        return self._metrics_read[1], self._metrics_read[2]

    def latest_report(self, plugin_id: str) -> dict[str, Any]:
        """``{"report": ..., "publisher_synthesis": ...}``: the hub's latest test report of a
        plugin (``None`` when it has none) and what its publisher said the synthesis cost
        (``None`` when it said nothing)."""
        self.get(plugin_id)  # an unknown id is a 404
        reports = self.db.test_reports(plugin_id)
        if not reports:
            return {"report": None, "publisher_synthesis": None}
        latest = reports[-1]
        told = latest.publisher_synthesis_json
        return {
            "report": json.loads(latest.report_json),
            "publisher_synthesis": json.loads(told) if told else None,
        }

    def stage_upload(self, filename: str, data: bytes) -> str:
        """Keep a maintainer's wheel in staging until a signed statement records it."""
        self.files.stage(check_wheel_name(filename), data)
        return sha256_hex(data)

    def apply_targets(
        self, body: bytes, owner: str, summary: str = "", bundle: str | None = None
    ) -> list[PluginRecord]:
        """Store an admin-signed ``targets`` document and apply what it states: new releases
        (from staging), tier changes and revocations. The records it changed."""
        planned: list[tuple[PluginRelease, PluginRecord | bytes]] = []

        def check(changed: list[PluginRelease]) -> None:
            for release in changed:
                planned.append((release, self._check_statement(release, bundle)))

        self.metadata.accept_targets(body, check)
        done = []
        for release, existing in planned:
            if isinstance(existing, bytes):  # a new release: the staged bytes it was checked on
                signed_bundle = bundle or self.signer.sign(existing)
                record = self.db.add_plugin(
                    PluginRecord(
                        capability=release.capability,
                        version=release.version,
                        dist_name=release.dist_name,
                        filename=release.filename,
                        checksum=release.sha256,
                        trust_tier=release.tier,
                        owner=owner,
                        signer_identity=self.verifier.verify(existing, signed_bundle),
                        signature_bundle=signed_bundle,
                        summary=summary,
                    )
                )
                self._wrote()
                if release.status is PluginStatus.ACTIVE:
                    self.files.serve(release.filename, release.sha256)
                done.append(record)
            elif release.status is PluginStatus.REVOKED:
                reason = release.revoked_reason or "revoked by the admin key"
                done.append(self.db.revoke(existing.plugin_id, reason, owner))
                self._wrote()
                self.files.withdraw(existing.filename)
            else:
                done.append(self.db.set_tier(existing.plugin_id, release.tier))
                self._wrote()
        return done

    def _check_statement(self, release: PluginRelease, bundle: str | None) -> PluginRecord | bytes:
        """Refuse an admin statement the hub cannot apply; the record it changes, or for a new
        release the staged file's bytes."""
        existing = self.db.find_by_dist(release.dist_name, release.version)
        if existing is not None:
            same = (existing.capability, existing.filename, existing.checksum)
            if same != (release.capability, release.filename, release.sha256):
                raise PolicyError(
                    f"the statement about {release.dist_name} {release.version} changes its "
                    "capability, file or sha256: a release never changes",
                    "Publish a new version instead",
                )
            if existing.status is PluginStatus.REVOKED:
                raise PolicyError(f"{release.dist_name} {release.version} is revoked for good")
            if release.alias_of is not None:
                self._check_alias(release)
            if release.status is PluginStatus.ACTIVE:
                wheel = self.files.wheel_of(existing)
                if wheel is None:
                    raise HubError(f"the hub no longer holds the wheel of {existing.filename}")
                self._check_files_digest(release, wheel)
            return existing
        if release.status is not PluginStatus.ACTIVE:
            raise PolicyError(f"{release.dist_name} {release.version} is not on the hub")
        if release.alias_of is not None:
            raise PolicyError("a new release cannot be retired behind another plugin")
        if release.tier not in (Tier.CORE, Tier.VERIFIED):
            raise PolicyError(
                f"maintainers publish tiers core and verified, not {release.tier.value}",
                "Generated plugins are published by pipelines, with their spec and sources",
            )
        if release.dist_name.startswith(GENERATED_PREFIX):
            raise PolicyError(
                f"{release.dist_name} is in the generated namespace ({GENERATED_PREFIX}*), "
                "which only the hub's own rebuilds may use",
                "Name hand-made plugins e.g. planexe-plugin-<name>",
            )
        validate_capability_name(release.capability)
        self.policy.check_capability(release.capability)
        self._check_new_release(release.dist_name, release.version)
        staged = self.files.staged(release.filename)
        if not staged.is_file():
            raise HubError(
                f"the hub has no staged upload {release.filename}", "Upload the wheel first"
            )
        data = staged.read_bytes()
        if sha256_hex(data) != release.sha256 or len(data) != release.length:
            raise HubError(
                f"the staged {release.filename} is not the file the statement names "
                f"(sha256 {sha256_hex(data)})",
                "Upload the wheel again, then sign the statement again",
            )
        self._check_files_digest(release, data)
        if bundle is not None:
            self.verifier.verify(data, bundle)
        return data

    def _check_alias(self, release: PluginRelease) -> None:
        """A release retired behind another names an active release of another plugin."""
        dist_name, _, version = (release.alias_of or "").partition("==")
        kept = self.db.find_by_dist(dist_name, version) if dist_name and version else None
        if release.status is not PluginStatus.REVOKED:
            raise PolicyError(
                "only a retired (revoked) release names the plugin it is retired behind"
            )
        if kept is None or kept.status is not PluginStatus.ACTIVE:
            raise PolicyError(
                f"{release.dist_name} {release.version} is retired behind "
                f"{(release.alias_of or '')[:100]!r}, which is not an active release on the hub"
            )
        if kept.dist_name == release.dist_name:
            raise PolicyError("a plugin cannot be retired behind a release of its own")

    def _check_files_digest(self, release: PluginRelease, wheel: bytes) -> None:
        """A statement above ``generated`` must carry the digest of the files ``wheel``
        installs: clients rank an installed copy by it."""
        if release.tier not in (Tier.CORE, Tier.VERIFIED):
            return
        try:
            digest = wheel_files_sha256(wheel)
        except zipfile.BadZipFile:
            raise PolicyError(f"{release.filename} is not a wheel") from None
        if release.files_sha256 != digest:
            raise PolicyError(
                f"the statement about {release.dist_name} {release.version} does not state the "
                f"digest of its wheel's files ({digest})",
                "Sign the statement again with this version of plugin-hub",
            )

    def _check_new_release(self, dist_name: str, version: str) -> str:
        """The normalized version if ``dist_name`` may publish it now, else the reason."""
        dist_name = canonicalize_name(dist_name)
        if dist_name in HOST_DISTRIBUTIONS:
            raise PolicyError(
                f"{dist_name} is the name of this project or of a PlanExe host: no plugin may "
                "use it",
                "Choose another distribution name, e.g. planexe-plugin-<name>",
            )
        try:
            parsed = Version(version)
        except InvalidVersion:
            raise HubError(f"{version[:40]!r} is not a PEP 440 version") from None
        if parsed.local is not None:
            raise PolicyError(
                f"{dist_name} {parsed} has a local version label (+{parsed.local}); the hub "
                "publishes public versions only",
                f"Publish it as {parsed.public} or a higher public version",
            )
        for used, public in self._used_public(dist_name):
            if public == parsed:
                raise DuplicateVersionError(
                    f"{dist_name} {parsed} was published before (or revoked) as {used}; a "
                    "name and version is never reused, under any spelling",
                    f"Publish a new version, e.g. {self.next_version(dist_name, str(parsed))}",
                )
        return str(parsed)

    # -- reading -----------------------------------------------------------------------------

    def find(
        self, capability: str, include_revoked: bool = False, fresh: bool = False
    ) -> list[PluginRecord]:
        """The records of ``capability``, newest first. Answered from this process's cache for
        ``FIND_CACHE_S`` (records are hints: clients act only on the signed metadata), and
        afresh after any write this process made; another process's write shows within
        that time. ``fresh``: read the database (a client deciding on a claim asks so)."""
        return list(self._find(capability, include_revoked, fresh)[0])

    def find_json(
        self, capability: str, include_revoked: bool = False, fresh: bool = False
    ) -> bytes:
        """``find``'s answer as the API sends it: a JSON array of records."""
        return self._find(capability, include_revoked, fresh)[1]

    def cached_find_json(self, capability: str, include_revoked: bool = False) -> bytes | None:
        """``find_json`` when this process's cache holds a current answer, else ``None``
        (never reads the database: an event loop may call it)."""
        cached = self._current((capability, include_revoked))
        return cached[1] if cached is not None else None

    def _current(self, key: tuple[str, bool]) -> tuple[tuple[PluginRecord, ...], bytes] | None:
        """The cached find of ``key`` while it is fresh and no write of this process came
        after it."""
        cached = self._found.get(key)
        if cached is not None and cached[0] > time.monotonic() and cached[1] == self._writes:
            return cached[2], cached[3]
        return None

    def _find(
        self, capability: str, include_revoked: bool, fresh: bool
    ) -> tuple[tuple[PluginRecord, ...], bytes]:
        key = (capability, include_revoked)
        cached = None if fresh else self._current(key)
        if cached is not None:
            return cached
        now = time.monotonic()
        writes = self._writes  # before the read: a write during it makes the entry stale
        records = tuple(self.db.find_plugins(capability, include_revoked=include_revoked))
        encoded = RECORDS_JSON.dump_json(list(records))
        if len(self._found) >= FIND_CACHE_ENTRIES:
            self._found.clear()
        self._found[key] = (now + FIND_CACHE_S, writes, records, encoded)
        return records, encoded

    def search(self, text: str, include_revoked: bool = False) -> list[PluginRecord]:
        """The records whose capability contains ``text`` (any case; every record for an
        empty one), by capability and then newest version first; at most
        ``MAX_SEARCH_RESULTS``."""
        needle = text.strip().lower()
        found = self.db.list_plugins(include_revoked=include_revoked)
        return [r for r in found if needle in r.capability][:MAX_SEARCH_RESULTS]

    def _wrote(self) -> None:
        """Forget what ``find`` remembered: this process changed the records."""
        self._writes += 1

    def get(self, plugin_id: str) -> PluginRecord:
        record = self.db.get_plugin(plugin_id)
        if record is None:
            raise RecordNotFoundError(f"no plugin with id {plugin_id}")
        return record

    def by_dist(self, dist_name: str, version: str) -> PluginRecord:
        record = self.db.find_by_dist(canonicalize_name(dist_name), version)
        if record is None:
            raise RecordNotFoundError(f"no plugin {dist_name} {version}")
        return record

    def next_version(self, dist_name: str, wanted: str) -> str:
        """``wanted`` if no equal public version was used, else the next patch version above
        every used one."""
        used = [public for _, public in self._used_public(dist_name)]
        try:
            asked = Version(Version(wanted).public)
        except InvalidVersion:
            raise HubError(f"{wanted[:40]!r} is not a PEP 440 version") from None
        if asked not in used:
            return str(asked)
        return next_version_after(str(v) for v in used)

    def _used_public(self, dist_name: str) -> list[tuple[str, Version]]:
        """Every version ``dist_name`` ever used (revoked included), with its public version."""
        used = []
        for text in self.db.versions_of(canonicalize_name(dist_name)):
            try:
                used.append((text, Version(Version(text).public)))
            except InvalidVersion:
                continue
        return used

    def reconcile(self) -> list[str]:
        """Serve exactly the active records' files, and state every active generated record
        in the signed metadata (a crash between the record and the statement)."""
        active = self.db.list_plugins(include_revoked=False)
        stated = self.metadata.stated_paths()
        lines = []
        for record in active:
            path = release_path(record.dist_name, record.version)
            if record.trust_tier is Tier.GENERATED and path not in stated:
                reports = self.db.test_reports(record.plugin_id)
                wheel = self.files.wheel_of(record)
                if wheel is None:
                    continue
                report = reports[-1].report_json if reports else None
                self.metadata.add_generated(_release(record, report, wheel))
                lines.append(f"{record.filename} was recorded but not signed: now stated")
        lines += self.files.reconcile({r.filename: r.checksum for r in active})
        return lines

    # -- usage and claims --------------------------------------------------------------------

    def record_usage(self, usage: UsageRecord, token: str) -> None:
        """Store a use sent with the API token ``token``, stamped with the hub's clock (a
        client's ``created_at`` is not the hub's to trust: it would move a use into another
        window of the figures) and with the name of the token (never the token). A use that
        names a plugin must name one the hub has, of the use's capability; one token sends
        at most ``max_usage_per_minute`` rows a minute (``HubBusyError`` past that), so one
        token cannot bury everyone's figures."""
        reporter = self.db.token_name(token_digest(token))
        if usage.plugin_id is not None:
            record = self.db.get_plugin(usage.plugin_id)
            if record is None or record.capability != usage.capability:
                raise ValueError(
                    f"the use names plugin {usage.plugin_id!r}, which the hub does not have for "
                    f"'{usage.capability}'"
                )
        limit = self.max_usage_per_minute
        with self._token_lock(f"usage:{reporter}"):  # count and write together (per process)
            now = utc_now()
            if self.db.recent_usage(reporter, now - timedelta(minutes=1)) >= limit:
                raise HubBusyError(
                    f"this API token sent {limit} usage rows in the last minute",
                    "Send fewer, or give each installation a token of its own",
                )
            self.db.record_usage(usage.model_copy(update={"created_at": now}), reporter)
        self._metrics_read = None

    def violation_reports(self, plugin_id: str) -> ViolationReports:
        """The contract violations run-time checks reported against a plugin, and whether
        they came from enough distinct tokens to put it up for review. Tokens are shown by
        the order they first reported (token 1, token 2, ...), never by name."""
        self.get(plugin_id)  # RecordNotFoundError for an unknown plugin
        found, total, reporters = self.db.violation_reports(plugin_id, MAX_SHOWN_REPORTS)
        number = {name: index for index, name in enumerate(reporters, start=1)}
        reports = [
            ViolationReport(
                created_at=usage.created_at,
                capability=usage.capability,
                violation=usage.violation or "",
                reporter=f"token {number.get(name, 0)}",
            )
            for usage, name in reversed(found)
        ]
        return ViolationReports(
            plugin_id=plugin_id,
            reports=reports,
            total=total,
            distinct_tokens=len(reporters),
            for_review=len(reporters) >= REVIEW_AFTER_TOKENS,
        )

    def claim(self, capability: str, holder: str, ttl_s: float, token: str) -> bool:
        """Claim ``capability`` for ``holder`` of the API token ``token`` for ``ttl_s`` (at
        most ``MAX_CLAIM_TTL_S``). A claim belongs to its token: only it heartbeats or
        releases it, and one token holds at most ``MAX_CLAIMS_PER_TOKEN`` live claims
        (``HubBusyError`` past them), so one token cannot hold every capability."""
        capability = validate_capability_name(capability)
        owner = self._token_name(token)
        held = f"{owner}{_OWNER_MARK}{check_holder(holder)}"
        with self._token_lock(f"claim:{owner}"):  # count and claim together (per API process)
            if (
                not self.db.holds_claim(capability, held)
                and self.db.live_claims(f"{owner}{_OWNER_MARK}") >= MAX_CLAIMS_PER_TOKEN
            ):
                raise HubBusyError(
                    f"this API token holds {MAX_CLAIMS_PER_TOKEN} live claims already: it may "
                    "claim another when one ends",
                    "Finish or release a synthesis first, or give this installation a token of "
                    "its own (plugin-hub export-client --with-token --token-name NAME)",
                )
            return self.db.claim(capability, held, ttl_s)

    def heartbeat(self, capability: str, holder: str, ttl_s: float, token: str) -> bool:
        """Keep ``holder``'s claim alive ``ttl_s`` longer; False if it is no longer theirs
        (or was made with another token)."""
        held = f"{self._token_name(token)}{_OWNER_MARK}{check_holder(holder)}"
        return self.db.heartbeat(validate_capability_name(capability), held, ttl_s)

    def release(self, capability: str, holder: str, token: str) -> None:
        """Give up ``holder``'s claim; a claim of another token stays."""
        held = f"{self._token_name(token)}{_OWNER_MARK}{check_holder(holder)}"
        self.db.release(validate_capability_name(capability), held)

    def _token_lock(self, key: str) -> threading.Lock:
        """One lock per token and purpose, so a token's count and write go together."""
        with self._state_lock:
            return self._token_locks.setdefault(key, threading.Lock())

    def _token_name(self, token: str) -> str:
        """The name of the API token ``token`` (the routes checked it exists)."""
        name = self.db.token_name(token_digest(token))
        if name is None:  # the route checked the token; it was removed meanwhile
            raise PolicyError("the API token is not valid")
        return name


REVIEW_AFTER_TOKENS = 2
"""Violation reports from this many distinct tokens put a plugin up for the admin's review.
Reports never revoke or demote a plugin: a token holder could forge them. Revocation stays
the admin's signed act (``plugin-hub hub-client revoke``)."""
MAX_SHOWN_REPORTS = 50


class ViolationReport(BaseModel):
    created_at: datetime
    capability: str
    violation: str
    reporter: str
    """Which of the plugin's reporting tokens sent it, by the order they first reported
    ("token 2"): reports from one token and from many tell apart, names stay private."""


class ViolationReports(BaseModel):
    plugin_id: str
    reports: list[ViolationReport]
    """The latest ``MAX_SHOWN_REPORTS``, oldest first."""
    total: int
    distinct_tokens: int
    for_review: bool
    """Reported from at least ``REVIEW_AFTER_TOKENS`` distinct tokens."""


def _release(record: PluginRecord, report_json: str | None, wheel: bytes) -> PluginRelease:
    return PluginRelease(
        dist_name=record.dist_name,
        version=record.version,
        capability=record.capability,
        filename=record.filename,
        sha256=record.checksum,
        length=len(wheel),
        tier=record.trust_tier,
        report_sha256=sha256_hex(report_json.encode()) if report_json is not None else None,
        files_sha256=wheel_files_sha256(wheel),
    )


def check_holder(holder: str) -> str:
    """``holder`` if it names a claim holder: 1 to ``MAX_HOLDER_CHARS`` printable characters."""
    if not isinstance(holder, str) or not 0 < len(holder) <= MAX_HOLDER_CHARS:
        raise ValueError(f"a claim holder must be 1 to {MAX_HOLDER_CHARS} characters")
    if not holder.isprintable():
        raise ValueError("a claim holder must be printable characters only (no control characters)")
    return holder
