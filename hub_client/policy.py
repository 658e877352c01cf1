"""The trust policy: which tiers install automatically, which signers and capabilities count.

Kept in the hub home as ``policy.yaml``::

    metadata_root: keys/root.json       # the hub's TUF root (relative to this file): the only
                                        # keys whose signed metadata this client acts on
    auto_install_tiers: [core, verified, generated]
    capability_patterns: ["*"]          # fnmatch patterns of capabilities that may be installed
    publish_tier: verified              # tier of plugins maintainers publish by hand (or core)
    in_process_tiers: [core, verified]  # tiers that run in the pipeline's process; every other
                                        # tier runs in a sandboxed plugin worker
    signers:
      - kind: hub-key
        public_key: keys/hub-signing.pub.pem
      - kind: sigstore                  # keyless: certificate identity and OIDC issuer
        identity: https://github.com/acme/plugins/.github/workflows/release.yml@refs/heads/main
        issuer: https://token.actions.githubusercontent.com
        trust: production               # production, staging, or a trust-config JSON path
                                        # (relative to this file)
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hub_client.bundles import (
    BundleVerifier,
    HubKeyVerifier,
    SigstoreIdentity,
    SigstoreVerifier,
    load_public_key,
)
from hub_client.errors import HubConfigError, PolicyError, VerificationError
from plan_pipeline.trust import IN_PROCESS_TIERS, Tier

_BUILTIN_TRUST = ("production", "staging")
"""Trust roots sigstore-python embeds; any other ``trust`` is a path relative to the policy."""


class SignerRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["hub-key", "sigstore"]
    public_key: str | None = None
    identity: str | None = None
    issuer: str | None = None
    trust: str = "production"

    @model_validator(mode="after")
    def _complete(self) -> SignerRule:
        if self.kind == "hub-key" and not self.public_key:
            raise ValueError("a hub-key signer needs public_key")
        if self.kind == "sigstore" and not (self.identity and self.issuer):
            raise ValueError("a sigstore signer needs identity and issuer")
        return self


class TrustPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metadata_root: str | None = None
    auto_install_tiers: list[Tier] = Field(
        default_factory=lambda: [Tier.CORE, Tier.VERIFIED, Tier.GENERATED]
    )
    capability_patterns: list[str] = Field(default_factory=lambda: ["*"])
    publish_tier: Tier = Tier.VERIFIED
    in_process_tiers: list[Tier] = Field(default_factory=lambda: sorted(IN_PROCESS_TIERS))
    signers: list[SignerRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_quarantined_in_process(self) -> TrustPolicy:
        if Tier.QUARANTINED in self.in_process_tiers:
            raise ValueError("in_process_tiers cannot name quarantined: it never runs")
        return self

    @classmethod
    def load(cls, path: Path) -> TrustPolicy:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            return cls.model_validate(data)
        except FileNotFoundError:
            raise HubConfigError(
                f"trust policy {path} does not exist",
                "Point PLANEXE_HUB_POLICY at the policy.yaml that 'plugin-hub export-client' "
                "wrote (or create a hub home with 'plugin-hub init')",
            ) from None
        except (OSError, UnicodeError) as exc:
            raise HubConfigError(
                f"trust policy {path} cannot be read: {getattr(exc, 'strerror', None) or exc}",
                "Point PLANEXE_HUB_POLICY at the policy.yaml that 'plugin-hub export-client' wrote",
            ) from None
        except (yaml.YAMLError, ValidationError) as exc:
            first = str(exc).splitlines()
            raise HubConfigError(
                f"trust policy {path} is invalid: {' '.join(first[:3])[:300]}",
                "Fix the policy file, or export it again with 'plugin-hub export-client'",
            ) from None

    def dump(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    def check_tier(self, tier: Tier) -> None:
        if tier is Tier.QUARANTINED:
            raise PolicyError("the plugin is quarantined (revoked) and is never installed")
        if tier not in self.auto_install_tiers:
            allowed = ", ".join(t.value for t in self.auto_install_tiers)
            raise PolicyError(
                f"the trust policy does not install tier '{tier.value}' automatically "
                f"(allowed: {allowed})",
                "Promote the plugin after review, or widen auto_install_tiers in the policy",
            )

    def check_capability(self, capability: str) -> None:
        if not any(fnmatchcase(capability, p) for p in self.capability_patterns):
            raise PolicyError(
                f"the trust policy does not allow capability '{capability}' "
                f"(patterns: {', '.join(self.capability_patterns)})",
                "Add a matching pattern to capability_patterns in the policy",
            )

    def root_bytes(self, base: Path) -> bytes:
        """The trusted root of the hub's signed metadata (path relative to ``base``)."""
        if not self.metadata_root:
            raise HubConfigError(
                "the trust policy names no metadata_root: this client cannot check what the "
                "hub says about tiers, revocations and capabilities",
                "Export the client files again with 'plugin-hub export-client' on the hub's "
                "machine",
            )
        path = base / self.metadata_root
        try:
            return path.read_bytes()
        except OSError as exc:
            raise HubConfigError(
                f"the policy's metadata root {path} cannot be read: {exc.strerror}",
                "Copy the hub's keys/root.json there, or export the client files again with "
                "'plugin-hub export-client' on the hub's machine",
            ) from None

    def verifier(self, base: Path) -> BundleVerifier:
        """The verifier for every signer this policy accepts (key paths relative to ``base``)."""
        keys = [
            _public_key(base / rule.public_key)
            for rule in self.signers
            if rule.kind == "hub-key" and rule.public_key
        ]
        by_trust: dict[str, list[SigstoreIdentity]] = {}
        for rule in self.signers:
            if rule.kind == "sigstore":
                identity = SigstoreIdentity(str(rule.identity), str(rule.issuer))
                by_trust.setdefault(rule.trust, []).append(identity)
        keyless = [
            SigstoreVerifier(ids, trust if trust in _BUILTIN_TRUST else str(base / trust))
            for trust, ids in by_trust.items()
        ]
        return BundleVerifier(HubKeyVerifier(keys), keyless)


def _public_key(path: Path) -> ec.EllipticCurvePublicKey:
    try:
        return load_public_key(path)
    except OSError as exc:
        raise HubConfigError(
            f"the policy's signer key {path} cannot be read: {exc.strerror}",
            "Copy the hub's public key there, or export the client files again with "
            "'plugin-hub export-client' on the hub's machine",
        ) from None
    except (ValueError, VerificationError):
        raise HubConfigError(
            f"the policy's signer key {path} is not an ECDSA P-256 public key in PEM",
            "Export the client files again with 'plugin-hub export-client' on the hub's machine",
        ) from None
