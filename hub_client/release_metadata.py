"""What the hub's signed metadata says about one plugin release, and who may say it.

The hub publishes TUF metadata (python-tuf): ``root`` names the keys, ``targets`` is signed by
the admin key (maintainers, kept off the serving process), and delegates every path of the
generated namespace (``planexe-gen-*/*``) to the role ``generated``, signed by the hub's
online key, like ``snapshot`` and ``timestamp``. Each target is one release, at the path
``<dist_name>/<canonical version>``; its ``custom`` field binds the capability, the wheel's
file name, the tier, the status, the digest of the hub's own test report and the digest of
the files the wheel installs (``plan_pipeline/installed_files.py``), and the target's length and
sha256 are the wheel's.

Who may say what:

- an entry of ``targets`` (admin-signed) may carry any tier and either status: a maintainer's
  release, a promotion, a revocation. Clients look there first, so an admin statement about a
  generated release (promoted, revoked) overrides the online key's;
- an entry of ``generated`` (online key) is always tier ``generated`` and names a
  ``planexe-gen-*`` distribution; a client refuses anything else from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ec
from packaging.utils import canonicalize_version
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from securesystemslib.signer import CryptoSigner, Signer, SSlibKey
from tuf.api.metadata import Metadata, TargetFile, Targets

from hub_client.errors import VerificationError
from hub_client.records import (
    CapabilityName,
    DistName,
    PluginStatus,
    Sha256Hex,
    VersionText,
    normalize_dist_name,
    normalize_version,
)
from plan_pipeline.capability_names import GENERATED_DIST_PREFIX, generated_dist_name
from plan_pipeline.trust import Tier

GENERATED_ROLE = "generated"
GENERATED_PREFIX = GENERATED_DIST_PREFIX
GENERATED_PATHS = [f"{GENERATED_PREFIX}*/*"]
ONLINE_ROLES = ("snapshot", "timestamp", GENERATED_ROLE)


class Lifetimes(BaseModel):
    """How long each role's metadata stays valid. Short lifetimes bound a freeze attack: a
    client refuses expired metadata, so a hub (or a path) that replays an old state is caught
    within ``timestamp_s``."""

    model_config = ConfigDict(extra="forbid")

    root_s: int = 365 * 86400
    targets_s: int = 365 * 86400
    generated_s: int = 7 * 86400
    snapshot_s: int = 7 * 86400
    timestamp_s: int = 3600

    def of(self, role: str) -> timedelta:
        seconds = {
            "root": self.root_s,
            "targets": self.targets_s,
            GENERATED_ROLE: self.generated_s,
            "snapshot": self.snapshot_s,
            "timestamp": self.timestamp_s,
        }[role]
        return timedelta(seconds=seconds)


def expiry(role: str, lifetimes: Lifetimes, now: datetime | None = None) -> datetime:
    """When a document of ``role`` signed now expires (whole seconds, UTC, as TUF stores it)."""
    start = (now or datetime.now(UTC)).replace(microsecond=0)
    return start + lifetimes.of(role)


class PluginRelease(BaseModel):
    """One release as the signed metadata states it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dist_name: DistName
    version: VersionText
    capability: CapabilityName
    filename: str
    sha256: Sha256Hex
    length: int
    tier: Tier
    status: PluginStatus = PluginStatus.ACTIVE
    report_sha256: str | None = None
    revoked_reason: str | None = None
    files_sha256: Sha256Hex | None = None
    """The digest of the files the wheel installs (``plan_pipeline/installed_files.py``): an
    installed copy ranks above ``generated`` only if its files on disk give this digest."""
    alias_of: str | None = Field(default=None, max_length=300)
    """For a release retired as a duplicate: ``dist==version`` of the plugin that serves its
    capability instead (a miss of it goes to that plugin first, as a near match)."""

    @property
    def path(self) -> str:
        return release_path(self.dist_name, self.version)

    @property
    def is_generated_name(self) -> bool:
        """Whether the release is named as the generated plugin of its own capability."""
        return self.dist_name == generated_dist_name(self.capability)

    def to_target(self) -> TargetFile:
        custom = self.model_dump(mode="json", exclude={"sha256", "length"}, exclude_none=True)
        return TargetFile(
            length=self.length,
            hashes={"sha256": self.sha256},
            path=self.path,
            unrecognized_fields={"custom": custom},
        )

    @classmethod
    def from_target(cls, target: TargetFile) -> PluginRelease:
        """The release a verified target states; ``VerificationError`` if it is malformed."""
        custom = target.custom if isinstance(target.custom, dict) else {}
        try:
            release = cls.model_validate(
                {**custom, "sha256": target.hashes.get("sha256", ""), "length": target.length}
            )
        except ValidationError as exc:
            raise VerificationError(
                f"the signed entry {target.path!r} is malformed: {_first_error(exc)}"
            ) from None
        if release.path != target.path:
            raise VerificationError(
                f"the signed entry {target.path!r} describes {release.path}, not itself"
            )
        if not _wheel_of(release.filename, release.dist_name, release.version):
            raise VerificationError(
                f"the signed entry {target.path!r} names the file {release.filename!r}, "
                f"which is not a wheel of {release.dist_name} {release.version}"
            )
        return release


def release_path(dist_name: str, version: str) -> str:
    """The target path of a release: normalized name, ``/``, canonical version (trailing
    zeros dropped, so every spelling PEP 440 makes equal, such as 1.0 and 1.0.0, has one
    path)."""
    return f"{normalize_dist_name(dist_name)}/{canonicalize_version(normalize_version(version))}"


def _wheel_of(filename: str, dist_name: str, version: str) -> bool:
    stem = re.escape(dist_name.replace("-", "_"))
    tag = r"[A-Za-z0-9_.]+"
    return (
        re.fullmatch(rf"{stem}-{re.escape(version)}-{tag}-{tag}-{tag}\.whl", filename) is not None
    )


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def tuf_key(public_key: ec.EllipticCurvePublicKey) -> SSlibKey:
    """The TUF key of one of the hub's ECDSA P-256 public keys."""
    return SSlibKey.from_crypto(public_key, scheme="ecdsa-sha2-nistp256")


def tuf_signer(private_key: ec.EllipticCurvePrivateKey) -> CryptoSigner:
    """A TUF signer over one of the hub's ECDSA P-256 private keys."""
    return CryptoSigner(private_key, tuf_key(private_key.public_key()))


def signed_targets_change(
    current: bytes,
    releases: Iterable[PluginRelease],
    admin: Signer,
    lifetimes: Lifetimes | None = None,
) -> bytes:
    """The next ``targets`` document: ``current`` (verified by the caller) with ``releases``
    stated, its version raised and signed by the admin key. Run where the admin key is."""
    doc = Metadata[Targets].from_bytes(current)
    for release in releases:
        doc.signed.targets[release.path] = release.to_target()
    doc.signed.version += 1
    doc.signed.expires = expiry("targets", lifetimes or Lifetimes())
    doc.sign(admin)
    return doc.to_bytes()
