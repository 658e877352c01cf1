"""Signing plugin wheels with Sigstore bundles: the hub's side.

- ``HubKeySigner``: the offline default. The hub's own ECDSA P-256 key signs the wheel; the
  result is a Sigstore bundle v0.3 that ``hub_client.bundles.HubKeyVerifier`` checks against
  the public key pinned in a client's trust policy.
- ``SigstoreSigner``: keyless signing through sigstore-python with a chosen trust config and an
  OIDC identity token.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from securesystemslib.signer import CryptoSigner

from hub_client.bundles import BUNDLE_V03, key_hint, key_identity, public_path
from hub_client.errors import VerificationError
from hub_index.errors import SigningError


class ArtifactSigner(Protocol):
    """Signs an artifact; ``identity`` is what a verifier will report."""

    identity: str

    def sign(self, artifact: bytes) -> str:
        """The Sigstore bundle (JSON) for ``artifact``."""
        ...


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
        from hub_client.release_metadata import tuf_signer

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
