"""Verifying plugin wheels' Sigstore bundles: what a client checks before it installs.

Verifiers are separate objects from signers (as in sigstore-python; the hub's signers are in
``hub_index/signing.py``):

- ``HubKeyVerifier``: bundles signed with a hub's own ECDSA P-256 key: a Sigstore bundle v0.3
  with a ``messageSignature`` (SHA2-256 digest of the wheel and the signature) and
  ``verificationMaterial.publicKey.hint`` naming the key. No transparency log: trust comes from
  the pinned public key in the trust policy.
- ``SigstoreVerifier``: keyless bundles (Fulcio certificate + Rekor entry) verified with
  sigstore-python against a trust root (the public-good instance's embedded one, offline, or
  a trust config of a private deployment) and an identity policy.

``BundleVerifier`` picks the verifier by the bundle's verification material. Every verifier
returns the signer identity it proved, or raises ``VerificationError`` naming what failed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from hub_client.errors import VerificationError

if TYPE_CHECKING:  # imported where bundles are read: a run that verifies none never loads it
    from sigstore_models.bundle.v1 import Bundle as BundleModel

BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
HUB_KEY_PREFIX = "hub-key:"


class ArtifactVerifier(Protocol):
    def verify(self, artifact: bytes, bundle_json: str) -> str:
        """The proven signer identity, or ``VerificationError``."""
        ...


def key_hint(public_key: ec.EllipticCurvePublicKey) -> str:
    """The key's hint: base64 of the SHA-256 of its DER SubjectPublicKeyInfo."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def key_identity(public_key: ec.EllipticCurvePublicKey) -> str:
    """``hub-key:<hex fingerprint>``, the identity a hub-key signature proves."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return HUB_KEY_PREFIX + hashlib.sha256(der).hexdigest()[:32]


def public_path(private: Path) -> Path:
    return private.with_name(private.stem + ".pub.pem")


def load_public_key(path: Path) -> ec.EllipticCurvePublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise VerificationError(f"{path} is not an ECDSA public key")
    return key


def _parse(bundle_json: str) -> BundleModel:
    from sigstore_models.bundle.v1 import Bundle as BundleModel

    try:
        return BundleModel.from_json(bundle_json)
    except (ValidationError, ValueError) as exc:
        first = str(exc).splitlines()[0][:200]
        raise VerificationError(
            f"the signature bundle is not a valid Sigstore bundle: {first}"
        ) from None


class HubKeyVerifier:
    """Verifies hub-key bundles against pinned public keys."""

    def __init__(self, keys: Iterable[ec.EllipticCurvePublicKey]) -> None:
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {key_hint(k): k for k in keys}

    def verify(self, artifact: bytes, bundle_json: str) -> str:
        bundle = _parse(bundle_json)
        if bundle.media_type != BUNDLE_V03:
            raise VerificationError(f"unexpected bundle media type {bundle.media_type!r}")
        material = bundle.verification_material
        signed = bundle.message_signature
        if material.public_key is None or signed is None or material.public_key.hint is None:
            raise VerificationError("the bundle is not a hub-key bundle (no public key hint)")
        key = self._keys.get(material.public_key.hint)
        if key is None:
            raise VerificationError(
                f"the bundle was signed by a key the trust policy does not accept "
                f"(hint {material.public_key.hint})"
            )
        digest = hashlib.sha256(artifact).digest()
        if signed.message_digest is not None and signed.message_digest.digest != digest:
            raise VerificationError("the bundle was made for a different artifact (digest differs)")
        try:
            key.verify(signed.signature, artifact, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise VerificationError("the signature does not match the artifact") from None
        return key_identity(key)


@dataclass(frozen=True)
class SigstoreIdentity:
    """A keyless signer the policy accepts: certificate identity (SAN) and OIDC issuer."""

    identity: str
    issuer: str


class SigstoreVerifier:
    """Verifies keyless Sigstore bundles with sigstore-python, offline against a trust root."""

    def __init__(self, identities: Iterable[SigstoreIdentity], trust: str = "production") -> None:
        self.identities = list(identities)
        self.trust = trust

    def _verifier(self) -> object:
        from sigstore.verify import Verifier

        if self.trust == "production":
            return Verifier.production(offline=True)
        if self.trust == "staging":
            return Verifier.staging(offline=True)
        from sigstore.models import ClientTrustConfig

        config = ClientTrustConfig.from_json(Path(self.trust).read_text(encoding="utf-8"))
        return Verifier(trusted_root=config.trusted_root)

    def verify(self, artifact: bytes, bundle_json: str) -> str:
        from sigstore.errors import Error as SigstoreError
        from sigstore.models import Bundle
        from sigstore.verify import policy

        if not self.identities:
            raise VerificationError("the trust policy accepts no keyless signer identity")
        try:
            bundle = Bundle.from_json(bundle_json)
        except (SigstoreError, ValueError) as exc:
            raise VerificationError(f"the signature bundle is not valid: {exc}") from None
        verifier = self._verifier()
        problems = []
        for allowed in self.identities:
            try:
                verifier.verify_artifact(  # type: ignore[attr-defined]
                    artifact,
                    bundle,
                    policy.Identity(identity=allowed.identity, issuer=allowed.issuer),
                )
                return allowed.identity
            except SigstoreError as exc:
                problems.append(str(exc).splitlines()[0][:200])
        raise VerificationError(
            f"the keyless signature is not from an accepted identity: {problems[0]}"
        )


class BundleVerifier:
    """Verifies any bundle the policy allows: hub-key bundles and keyless ones."""

    def __init__(self, hub_keys: HubKeyVerifier, keyless: Sequence[SigstoreVerifier] = ()) -> None:
        self.hub_keys = hub_keys
        self.keyless = list(keyless)
        """One verifier per trust root: an identity counts only under its own root."""

    def verify(self, artifact: bytes, bundle_json: str) -> str:
        if not bundle_json.strip():
            raise VerificationError("the plugin record has no signature bundle")
        try:
            material: Mapping[str, object] = json.loads(bundle_json).get("verificationMaterial", {})
        except (ValueError, AttributeError):
            raise VerificationError("the signature bundle is not JSON") from None
        if "publicKey" in material:
            return self.hub_keys.verify(artifact, bundle_json)
        if not self.keyless:
            raise VerificationError("keyless bundles are not accepted by this trust policy")
        problems = []
        for verifier in self.keyless:
            try:
                return verifier.verify(artifact, bundle_json)
            except VerificationError as exc:
                problems.append(exc.problem)
        raise VerificationError(problems[0] if len(problems) == 1 else "; ".join(problems))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
