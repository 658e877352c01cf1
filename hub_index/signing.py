"""Signing and verifying plugin wheels with Sigstore bundles.

Signers and verifiers are separate objects (as in sigstore-python):

- ``HubKeySigner`` / ``HubKeyVerifier``: the offline default. The hub's own ECDSA P-256 key
  signs the wheel; the result is a Sigstore bundle v0.3 with a ``messageSignature`` (SHA2-256
  digest of the wheel and the signature) and ``verificationMaterial.publicKey.hint`` naming the
  key. No transparency log: trust comes from the pinned public key in the trust policy.
- ``SigstoreVerifier``: keyless bundles (Fulcio certificate + Rekor entry) verified with
  sigstore-python against a trust root (the public-good instance's embedded one, offline, or
  a trust config of a private deployment) and an identity policy.
- ``SigstoreSigner``: keyless signing through sigstore-python with a chosen trust config and an
  OIDC identity token.

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
from securesystemslib.signer import CryptoSigner

from hub_index.errors import SigningError, VerificationError

if TYPE_CHECKING:  # sigstore's models come with the hub extra: imported where bundles are used
    from sigstore_models.bundle.v1 import Bundle as BundleModel

BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
HUB_KEY_PREFIX = "hub-key:"


class ArtifactSigner(Protocol):
    """Signs an artifact; ``identity`` is what a verifier will report."""

    identity: str

    def sign(self, artifact: bytes) -> str:
        """The Sigstore bundle (JSON) for ``artifact``."""
        ...


class ArtifactVerifier(Protocol):
    def verify(self, artifact: bytes, bundle_json: str) -> str:
        """The proven signer identity, or ``VerificationError``."""
        ...


# -- the hub key -----------------------------------------------------------------------------


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


def generate_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """Create a P-256 signing key, write it (PKCS#8 PEM, mode 600) and its public key."""
    key = ec.generate_private_key(ec.SECP256R1())
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.touch(mode=0o600)
    path.write_bytes(pem)
    public_path(path).write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key


def public_path(private: Path) -> Path:
    return private.with_name(private.stem + ".pub.pem")


def load_public_key(path: Path) -> ec.EllipticCurvePublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise VerificationError(f"{path} is not an ECDSA public key")
    return key


class HubKeySigner:
    """Signs with the hub's private key (offline default)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        self._key = private_key
        self.identity = key_identity(private_key.public_key())

    @classmethod
    def from_file(cls, path: Path) -> HubKeySigner:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise VerificationError(f"{path} is not an ECDSA private key")
        return cls(key)

    def tuf_signer(self) -> CryptoSigner:
        """The same key as the signer of the hub's online metadata roles."""
        from hub_index.release_metadata import tuf_signer

        return tuf_signer(self._key)

    def sign(self, artifact: bytes) -> str:
        digest = hashlib.sha256(artifact).digest()
        from sigstore_models.bundle.v1 import Bundle as BundleModel

        signature = self._key.sign(artifact, ec.ECDSA(hashes.SHA256()))
        bundle = BundleModel.from_json(
            json.dumps(
                {
                    "mediaType": BUNDLE_V03,
                    "verificationMaterial": {
                        "publicKey": {"hint": key_hint(self._key.public_key())},
                        "tlogEntries": [],
                    },
                    "messageSignature": {
                        "messageDigest": {"algorithm": "SHA2_256", "digest": _b64(digest)},
                        "signature": _b64(signature),
                    },
                }
            )
        )
        return bundle.to_json()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


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


# -- keyless Sigstore ------------------------------------------------------------------------


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


class SigstoreSigner:
    """Keyless signing through sigstore-python: a Fulcio certificate for ``token``'s identity,
    a Rekor entry, a bundle. ``trust_config`` is ``production``, ``staging`` or a path to a
    ClientTrustConfig JSON (a private deployment, or a loopback stand-in in tests)."""

    def __init__(self, token: str, trust_config: str = "production") -> None:
        from sigstore.oidc import IdentityToken

        self._token = IdentityToken(token)
        self.identity = str(self._token.identity)
        self.trust_config = trust_config

    def sign(self, artifact: bytes) -> str:
        from sigstore.models import ClientTrustConfig
        from sigstore.sign import SigningContext

        if self.trust_config == "production":
            config = ClientTrustConfig.production()
        elif self.trust_config == "staging":
            config = ClientTrustConfig.staging()
        else:
            config = ClientTrustConfig.from_json(Path(self.trust_config).read_text("utf-8"))
        context = SigningContext.from_trust_config(config)
        try:
            with context.signer(self._token, cache=True) as signer:
                return str(signer.sign_artifact(artifact).to_json())
        except Exception as exc:  # sigstore's client errors have no common root
            raise SigningError(
                f"keyless signing as {self.identity} failed: {type(exc).__name__}: {exc}",
                "Check the identity token and the signing services of the trust config",
            ) from exc


# -- dispatch --------------------------------------------------------------------------------


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
