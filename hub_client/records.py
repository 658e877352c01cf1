"""The hub's records as they cross its boundary: validated pydantic models.

``HubDatabase`` takes and returns these; the tables in ``hub_index.db`` store the same fields.
Distribution names are stored in their normalized form (PEP 503) and versions in their
normalized PEP 440 form, so one plugin release has exactly one spelling in the hub. Every
timestamp is timezone-aware UTC; a naive timestamp given to a model is taken as UTC.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from plan_pipeline.capability_names import CAPABILITY_PATTERN, MAX_LENGTH, is_valid_capability_name
from plan_pipeline.trust import Tier
from plan_pipeline.usage import Resolution

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def new_plugin_id() -> str:
    """A fresh plugin id: 32 lowercase hex characters."""
    return uuid.uuid4().hex


def normalize_version(value: str) -> str:
    """The normalized PEP 440 spelling of ``value``; ``ValueError`` if it is not a version."""
    try:
        return str(Version(value))
    except InvalidVersion as exc:
        raise ValueError(f"{value!r} is not a PEP 440 version such as '1.0.2'") from exc


def normalize_dist_name(value: str) -> str:
    """The normalized (PEP 503) distribution name; ``ValueError`` if it is empty."""
    if not value.strip():
        raise ValueError("a distribution name cannot be empty")
    return canonicalize_name(value)


def _sha256_hex(value: str) -> str:
    if not _SHA256_HEX.fullmatch(value):
        raise ValueError("must be a SHA-256 digest: 64 lowercase hexadecimal characters")
    return value


def _capability(value: str) -> str:
    if not is_valid_capability_name(value):
        raise ValueError(
            f"invalid capability name {value[:80]!r}: use dotted lowercase segments "
            "such as 'risk.score_matrix' (at most 64 characters)"
        )
    return value


Sha256Hex = Annotated[str, AfterValidator(_sha256_hex)]
CapabilityName = Annotated[
    str,
    AfterValidator(_capability),
    WithJsonSchema({"type": "string", "pattern": CAPABILITY_PATTERN, "maxLength": MAX_LENGTH}),
]
DistName = Annotated[str, AfterValidator(normalize_dist_name)]
VersionText = Annotated[str, AfterValidator(normalize_version)]
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
NonEmpty = Annotated[str, Field(min_length=1)]


class PluginStatus(StrEnum):
    """Whether a plugin may still be served. A revoked plugin stays on record forever."""

    ACTIVE = "active"
    REVOKED = "revoked"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class PluginRecord(_Record):
    """One published plugin wheel: what it provides, where it is, who signed it, its trust."""

    plugin_id: NonEmpty = Field(default_factory=new_plugin_id)
    capability: CapabilityName
    version: VersionText
    dist_name: DistName
    filename: NonEmpty
    checksum: Sha256Hex
    trust_tier: Tier
    owner: NonEmpty
    signer_identity: NonEmpty
    signature_bundle: str = ""
    """Sigstore bundle (JSON); empty only for a damaged record, which verification refuses."""
    summary: str = ""
    created_at: UtcDatetime = Field(default_factory=utc_now)
    status: PluginStatus = PluginStatus.ACTIVE
    revoked_reason: str | None = None


class UsageRecord(_Record):
    """One use of a capability in a pipeline run (``plugin_id`` is None when none provided it)."""

    plugin_id: Annotated[str, Field(max_length=64)] | None
    capability: CapabilityName
    run_id: Annotated[str, Field(min_length=1, max_length=200)]
    success: bool
    latency_ms: float = Field(ge=0, le=10**9)
    error_type: Annotated[str, Field(max_length=200)] | None = None
    time_to_capability_ms: float | None = Field(default=None, ge=0, le=10**9)
    created_at: UtcDatetime = Field(default_factory=utc_now)
    resolution: Resolution | None = None
    """How the stage got its capability: ``installed`` (it was there), ``synthesized`` (made
    in this run), ``reused`` (a miss the hub's published plugin answered) or ``missed`` (a
    miss nothing answered); ``None`` from clients that do not say."""
    violation: Annotated[str, Field(max_length=500)] | None = None
    """What of its stage contract the plugin's answer broke, when the run-time check stopped
    it (a report against the plugin: the hub shows it on the plugin's page)."""


class TestReportRecord(_Record):
    """The synthesizer's test report for one plugin: pass rate and the full report as JSON."""

    __test__ = False

    plugin_id: NonEmpty
    pass_rate: float = Field(ge=0, le=1)
    report_json: str
    publisher_synthesis_json: str | None = None
    """What the publisher said its synthesis cost (``SynthesisCost``); its word, unsigned."""
    created_at: UtcDatetime = Field(default_factory=utc_now)


class PromotionCandidate(_Record):
    """A generated plugin that earned an admin's review (``plugin-hub promote`` stays the
    admin's signed act)."""

    plugin_id: str
    capability: CapabilityName
    dist_name: DistName
    version: VersionText
    successful_runs: int
    tokens: int
    """Distinct API tokens with a successful run of it."""


class DuplicatePair(_Record):
    """Two plugins of which each passed every gate of the other's contract."""

    first: PluginRecord
    second: PluginRecord
    checked_at: UtcDatetime = Field(default_factory=utc_now)
