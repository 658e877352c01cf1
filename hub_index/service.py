"""The hub's metadata service: what the API does, independent of HTTP.

Recording a plugin is the last step of publishing and checks everything first: the artifact
must be in the index's folder with the claimed sha256,
its name and version must never have been used, the tier and capability must be allowed, and
the signature must verify (the hub signs with its key when the client sends no bundle). So a
record never points at a missing or different artifact, whatever crashed in between.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict

from hub_index.db import HubDatabase
from hub_index.errors import DuplicateVersionError, HubError, RecordNotFoundError
from hub_index.policy import TrustPolicy
from hub_index.records import PluginRecord, TestReportRecord, UsageRecord
from hub_index.signing import ArtifactSigner, BundleVerifier, sha256_hex
from plan_pipeline.capability_names import validate_capability_name
from plan_pipeline.trust import Tier

MAX_HOLDER_CHARS = 200
_WHEEL = re.compile(r"^(?P<name>[A-Za-z0-9_.]+)-(?P<version>[^-]+)-[^-]+-[^-]+-[^-]+\.whl$")


class PublishRequest(BaseModel):
    """What a client sends to record an uploaded wheel."""

    model_config = ConfigDict(extra="forbid")

    filename: str
    capability: str
    checksum: str
    owner: str
    tier: Tier = Tier.GENERATED
    summary: str = ""
    signature_bundle: str | None = None
    report_json: str | None = None
    pass_rate: float | None = None


@dataclass
class HubService:
    db: HubDatabase
    policy: TrustPolicy
    verifier: BundleVerifier
    signer: ArtifactSigner
    index_url: str
    packages: Path

    def artifact_path(self, filename: str) -> Path:
        """The index's file ``filename`` (a plain wheel name, never a path)."""
        if not _WHEEL.match(filename) or "/" in filename or filename.startswith("."):
            raise HubError(f"{filename!r} is not a wheel file name")
        return self.packages / filename

    def _fetch_artifact(self, filename: str) -> bytes:
        try:
            return self.artifact_path(filename).read_bytes()
        except FileNotFoundError:
            raise HubError(
                f"the index has no file {filename}",
                "Upload the wheel to the index before recording it",
            ) from None

    def record(self, request: PublishRequest) -> PluginRecord:
        match = _WHEEL.match(request.filename)
        if not match or "/" in request.filename:
            raise HubError(f"{request.filename!r} is not a wheel file name")
        dist_name = canonicalize_name(match["name"])
        version = match["version"]
        validate_capability_name(request.capability)
        self.policy.check_capability(request.capability)
        if request.tier is Tier.QUARANTINED:
            raise HubError("a plugin cannot be published as quarantined")
        if self.db.is_burned(dist_name, version) or self.db.find_by_dist(dist_name, version):
            raise DuplicateVersionError(
                f"{dist_name} {version} was published before (or revoked); a name and version "
                "is never reused",
                "Publish a new version",
            )
        artifact = self._fetch_artifact(request.filename)
        actual = sha256_hex(artifact)
        if actual != request.checksum:
            raise HubError(
                f"the index serves {request.filename} with sha256 {actual}, not the claimed "
                f"{request.checksum}",
                "Upload the file again; nothing was recorded",
            )
        bundle = request.signature_bundle or self.signer.sign(artifact)
        identity = self.verifier.verify(artifact, bundle)
        record = PluginRecord(
            capability=request.capability,
            version=version,
            dist_name=dist_name,
            filename=request.filename,
            checksum=actual,
            trust_tier=request.tier,
            owner=request.owner,
            signer_identity=identity,
            signature_bundle=bundle,
            summary=request.summary,
        )
        record = self.db.add_plugin(record)
        if request.report_json is not None:
            self.db.add_test_report(
                TestReportRecord(
                    plugin_id=record.plugin_id,
                    pass_rate=request.pass_rate if request.pass_rate is not None else 0.0,
                    report_json=request.report_json,
                )
            )
        return record

    def find(self, capability: str, include_revoked: bool = False) -> list[PluginRecord]:
        return self.db.find_plugins(capability, include_revoked=include_revoked)

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
        """``wanted`` if never used, else the next patch version above every used one."""
        used = self.db.versions_of(canonicalize_name(dist_name))
        if wanted not in used:
            return wanted
        parsed = []
        for v in used:
            try:
                parsed.append(Version(v))
            except InvalidVersion:
                continue
        top = max(parsed, default=Version(wanted))
        return f"{top.major}.{top.minor}.{top.micro + 1}"

    def promote(self, plugin_id: str, tier: Tier) -> PluginRecord:
        return self.db.set_tier(plugin_id, tier)

    def revoke(self, plugin_id: str, reason: str, by: str) -> PluginRecord:
        return self.db.revoke(plugin_id, reason, by)

    def record_usage(self, usage: UsageRecord) -> None:
        self.db.record_usage(usage)

    def claim(self, capability: str, holder: str, ttl_s: float) -> bool:
        """Claim ``capability`` for ``holder`` for ``ttl_s`` (at most ``MAX_CLAIM_TTL_S``)."""
        return self.db.claim(validate_capability_name(capability), check_holder(holder), ttl_s)

    def heartbeat(self, capability: str, holder: str, ttl_s: float) -> bool:
        """Keep ``holder``'s claim alive ``ttl_s`` longer; False if it is no longer theirs."""
        return self.db.heartbeat(validate_capability_name(capability), check_holder(holder), ttl_s)

    def release(self, capability: str, holder: str) -> None:
        self.db.release(validate_capability_name(capability), check_holder(holder))


def check_holder(holder: str) -> str:
    """``holder`` if it names a claim holder: 1 to ``MAX_HOLDER_CHARS`` printable characters."""
    if not isinstance(holder, str) or not 0 < len(holder) <= MAX_HOLDER_CHARS:
        raise ValueError(f"a claim holder must be 1 to {MAX_HOLDER_CHARS} characters")
    if not holder.isprintable():
        raise ValueError("a claim holder must be printable characters only (no control characters)")
    return holder
