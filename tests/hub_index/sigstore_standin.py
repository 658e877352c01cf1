"""A loopback stand-in for the Sigstore services that keyless signing talks to.

``SigstoreStandin`` serves, on one 127.0.0.1 port:

- Fulcio v2 ``POST /api/v2/signingCert``: checks the bearer token (an ES256 JWT from the
  stand-in OIDC issuer, audience ``sigstore``) and the CSR's proof of possession, then issues a
  short-lived code-signing leaf from the stand-in root CA with the token's identity as SAN,
  the OIDC issuer extensions (1.3.6.1.4.1.57264.1.1 and .1.8) and an embedded SCT signed by
  the stand-in CT log key over the precertificate TBS (RFC 6962).
- Rekor v1 ``POST /api/v1/log/entries`` for ``hashedrekord`` 0.0.1 entries: checks the
  entry's signature, appends it to an RFC 6962 Merkle tree and answers with the integrated
  time, a signed entry timestamp and an inclusion proof whose checkpoint is a signed note.

``mint_token`` issues OIDC identity tokens and ``write_trust_config`` writes a
ClientTrustConfig whose trusted root holds the stand-in CA, CT log key and log key, and whose
signing config points sigstore-python at this server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import jwt
import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat import asn1
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OID_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
OID_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
OID_SCT_LIST = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")

TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
P256_DETAILS = "PKIX_ECDSA_P256_SHA_256"
OPERATOR = "sigstore-standin"
LEAF_LIFETIME = timedelta(minutes=10)


class StandinRequestError(Exception):
    """A request a real Sigstore service would refuse; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# -- encodings -------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    """Standard base64 of ``data`` as text."""
    return base64.b64encode(data).decode()


def spki_der(key: ec.EllipticCurvePublicKey) -> bytes:
    """The DER SubjectPublicKeyInfo of ``key``."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    """The RFC 6962 key ID (SHA-256 of the DER SubjectPublicKeyInfo) Sigstore uses as log ID."""
    return hashlib.sha256(spki_der(key)).digest()


def _u16_prefixed(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def _u24_prefixed(data: bytes) -> bytes:
    return struct.pack("!I", len(data))[1:] + data


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the OIDC issuer -------------------------------------------------------------------------


@dataclass
class OidcIssuer:
    """Mints and checks ES256 identity tokens for the audience ``sigstore``."""

    url: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def mint(self, identity: str, issuer: str | None = None, lifetime: int = 600) -> str:
        """A token for ``identity``: an email identity also goes into the ``email`` claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer or self.url,
            "sub": identity,
            "aud": "sigstore",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
        }
        if "@" in identity:
            claims.update(email=identity, email_verified=True)
        return jwt.encode(claims, self.key, algorithm="ES256")

    def claims(self, token: str) -> dict[str, Any]:
        """The token's claims once its signature, audience and validity period check out."""
        try:
            return jwt.decode(
                token,
                self.key.public_key(),
                algorithms=["ES256"],
                audience="sigstore",
                options={"require": ["iss", "sub", "aud", "iat", "exp"]},
            )
        except jwt.PyJWTError as exc:
            raise StandinRequestError(401, f"invalid identity token: {exc}") from None


def token_san(claims: dict[str, Any]) -> x509.GeneralName:
    """The SAN Fulcio binds to a token: the verified email, else the subject as a URI."""
    if claims.get("email") and claims.get("email_verified"):
        return x509.RFC822Name(str(claims["email"]))
    return x509.UniformResourceIdentifier(str(claims["sub"]))


# -- the CT log ------------------------------------------------------------------------------


@dataclass
class CtLog:
    """Signs RFC 6962 v1 precertificate SCTs."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def sct(self, tbs_precertificate: bytes, issuer_key_id: bytes) -> bytes:
        """The TLS-encoded SCT for a precertificate entry."""
        timestamp_ms = int(time.time() * 1000)
        extensions = b""
        # digitally-signed: version v1, certificate_timestamp, timestamp, precert_entry, ...
        signed = (
            struct.pack("!BBQH", 0, 0, timestamp_ms, 1)
            + issuer_key_id
            + _u24_prefixed(tbs_precertificate)
            + _u16_prefixed(extensions)
        )
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return (
            struct.pack("!B", 0)
            + key_id(self.key.public_key())
            + struct.pack("!Q", timestamp_ms)
            + _u16_prefixed(extensions)
            + struct.pack("!BB", 4, 3)  # SHA-256, ECDSA
            + _u16_prefixed(signature)
        )

    def sct_list_extension(self, tbs_precertificate: bytes, issuer_key_id: bytes) -> bytes:
        """The extension value: a DER OCTET STRING wrapping the TLS SCT list of one SCT."""
        sct_list = _u16_prefixed(_u16_prefixed(self.sct(tbs_precertificate, issuer_key_id)))
        return asn1.encode_der(sct_list)


# -- the certificate authority (Fulcio) ------------------------------------------------------


def _root_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, OPERATOR),
            x509.NameAttribute(NameOID.COMMON_NAME, "sigstore-standin-root"),
        ]
    )
    now = datetime.now(UTC).replace(microsecond=0)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


class CertificateAuthority:
    """A root CA that issues Fulcio-style leaf certificates with an embedded SCT."""

    def __init__(self, ct_log: CtLog) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.root = _root_certificate(self.key)
        self.ct_log = ct_log

    def issue(
        self, public_key: ec.EllipticCurvePublicKey, san: x509.GeneralName, issuer: str
    ) -> x509.Certificate:
        """A leaf for ``public_key`` naming ``san`` and ``issuer``, with an embedded SCT.

        The SCT signs the TBS of the certificate built without the SCT extension; the
        extension goes last, so that TBS is exactly the final certificate's precertificate TBS.
        """
        builder = self._leaf_builder(public_key, san, issuer)
        precertificate = builder.sign(self.key, hashes.SHA256())
        sct_list = self.ct_log.sct_list_extension(
            precertificate.tbs_certificate_bytes, key_id(self.key.public_key())
        )
        leaf = builder.add_extension(
            x509.UnrecognizedExtension(OID_SCT_LIST, sct_list), critical=False
        ).sign(self.key, hashes.SHA256())
        if leaf.tbs_precertificate_bytes != precertificate.tbs_certificate_bytes:
            raise AssertionError("the SCT does not cover the issued certificate's TBS")
        return leaf

    def _leaf_builder(
        self, public_key: ec.EllipticCurvePublicKey, san: x509.GeneralName, issuer: str
    ) -> x509.CertificateBuilder:
        now = datetime.now(UTC).replace(microsecond=0)
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.root.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + LEAF_LIFETIME)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(
                x509.UnrecognizedExtension(OID_ISSUER_V1, issuer.encode()), critical=False
            )
            .add_extension(
                x509.UnrecognizedExtension(OID_ISSUER_V2, asn1.encode_der(issuer)),
                critical=False,
            )
        )


def csr_public_key(request_body: bytes) -> ec.EllipticCurvePublicKey:
    """The public key of the JSON CSR request, once the CSR's own signature proves possession."""
    try:
        pem = base64.b64decode(json.loads(request_body)["certificateSigningRequest"])
        csr = x509.load_pem_x509_csr(pem)
    except (ValueError, KeyError, TypeError) as exc:
        raise StandinRequestError(400, f"malformed certificate request: {exc}") from None
    key = csr.public_key()
    if not csr.is_signature_valid or not isinstance(key, ec.EllipticCurvePublicKey):
        raise StandinRequestError(400, "the CSR does not prove possession of an ECDSA key")
    return key


# -- the transparency log (Rekor v1) ---------------------------------------------------------


def leaf_hash(entry: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (``size`` > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash of the leaf hashes ``leaves``."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def inclusion_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 audit path for leaf ``index``, lowest level first."""
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_path(index, leaves[:k]), merkle_root(leaves[k:])]
    return [*inclusion_path(index - k, leaves[k:]), merkle_root(leaves[:k])]


def verify_hashedrekord(entry: dict[str, Any]) -> None:
    """Refuse a hashedrekord 0.0.1 entry whose signature does not match its digest and key."""
    try:
        if (entry["kind"], entry["apiVersion"]) != ("hashedrekord", "0.0.1"):
            raise StandinRequestError(400, "only hashedrekord 0.0.1 entries are accepted")
        spec = entry["spec"]
        signature = base64.b64decode(spec["signature"]["content"])
        pem = base64.b64decode(spec["signature"]["publicKey"]["content"])
        digest = bytes.fromhex(spec["data"]["hash"]["value"])
        algorithm = spec["data"]["hash"]["algorithm"]
        key = x509.load_pem_x509_certificate(pem).public_key()
    except (KeyError, TypeError, ValueError) as exc:
        raise StandinRequestError(400, f"malformed hashedrekord entry: {exc}") from None
    if algorithm != "sha256" or not isinstance(key, ec.EllipticCurvePublicKey):
        raise StandinRequestError(400, "only ECDSA signatures over SHA-256 digests are accepted")
    try:
        key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except InvalidSignature:
        raise StandinRequestError(400, "the entry's signature does not verify") from None


class TransparencyLog:
    """An append-only Rekor v1 log over an RFC 6962 Merkle tree."""

    def __init__(self, origin: str = "rekor.standin") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.log_id = key_id(self.key.public_key())
        self.origin = origin
        self.leaves: list[bytes] = []
        self._lock = threading.Lock()

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Integrate ``entry`` and return Rekor's ``{uuid: LogEntry}`` response."""
        verify_hashedrekord(entry)
        body = rfc8785.dumps(entry)
        with self._lock:
            self.leaves.append(leaf_hash(body))
            index = len(self.leaves) - 1
            leaves = list(self.leaves)
        root = merkle_root(leaves)
        log_entry: dict[str, Any] = {
            "body": b64(body),
            "integratedTime": int(time.time()),
            "logID": self.log_id.hex(),
            "logIndex": index,
        }
        # The signed entry timestamp covers exactly these four fields (RFC 8785 JSON).
        promise = self._sign(rfc8785.dumps(log_entry))
        log_entry["verification"] = {
            "inclusionProof": {
                "logIndex": index,
                "rootHash": root.hex(),
                "treeSize": len(leaves),
                "hashes": [h.hex() for h in inclusion_path(index, leaves)],
                "checkpoint": self.checkpoint(len(leaves), root),
            },
            "signedEntryTimestamp": b64(promise),
        }
        return {leaves[index].hex(): log_entry}

    def checkpoint(self, size: int, root: bytes) -> str:
        """The signed-note checkpoint for a tree of ``size`` leaves with root hash ``root``."""
        note = f"{self.origin}\n{size}\n{b64(root)}\n"
        signature = self.log_id[:4] + self._sign(note.encode())
        return f"{note}\n\u2014 {self.origin} {b64(signature)}\n"

    def _sign(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))


# -- the trust config ------------------------------------------------------------------------


def _log_instance(url: str, key: ec.EllipticCurvePublicKey, start: datetime) -> dict[str, Any]:
    return {
        "baseUrl": url,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": b64(spki_der(key)),
            "keyDetails": P256_DETAILS,
            "validFor": {"start": _iso(start)},
        },
        "logId": {"keyId": b64(key_id(key))},
    }


def _service(url: str, version: int, start: datetime) -> dict[str, Any]:
    return {
        "url": url,
        "majorApiVersion": version,
        "validFor": {"start": _iso(start)},
        "operator": OPERATOR,
    }


# -- the HTTP server -------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: SigstoreStandin


class _Handler(BaseHTTPRequestHandler):
    """Routes POSTs to the stand-in's Fulcio and Rekor endpoints."""

    server: _Server

    def do_POST(self) -> None:
        standin = self.server.standin
        routes: dict[str, Callable[[bytes, str], dict[str, Any]]] = {
            "/api/v2/signingCert": standin.signing_cert,
            "/api/v1/log/entries": standin.log_entry,
        }
        route = routes.get(self.path)
        if route is None:
            self._reply(404, {"code": 404, "message": f"no route {self.path}"})
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            self._reply(201, route(body, self.headers.get("Authorization", "")))
        except StandinRequestError as exc:
            self._reply(exc.status, {"code": exc.status, "message": str(exc)})

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class SigstoreStandin:
    """Fulcio, a CT log, Rekor and an OIDC issuer on 127.0.0.1, for one ``with`` block."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.standin = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.oidc = OidcIssuer(f"{self.url}/oauth2")
        self.ct_log = CtLog()
        self.ca = CertificateAuthority(self.ct_log)
        self.log = TransparencyLog()
        self.requests: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> SigstoreStandin:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def issuer(self) -> str:
        """The stand-in OIDC issuer's URL, the default ``iss`` of minted tokens."""
        return self.oidc.url

    def mint_token(self, identity: str, issuer: str | None = None) -> str:
        """An identity token for ``identity`` from ``issuer`` (default: the stand-in issuer)."""
        return self.oidc.mint(identity, issuer)

    def signing_cert(self, body: bytes, authorization: str) -> dict[str, Any]:
        """Fulcio ``signingCert``: a leaf for the CSR's key and the token's identity."""
        self._count("fulcio")
        token = authorization.removeprefix("Bearer ").strip()
        claims = self.oidc.claims(token)
        leaf = self.ca.issue(csr_public_key(body), token_san(claims), str(claims["iss"]))
        chain = [
            cert.public_bytes(serialization.Encoding.PEM).decode() for cert in (leaf, self.ca.root)
        ]
        return {"signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}}

    def log_entry(self, body: bytes, authorization: str) -> dict[str, Any]:
        """Rekor ``createLogEntry``: integrate the proposed entry."""
        self._count("rekor")
        try:
            entry = json.loads(body)
        except ValueError:
            raise StandinRequestError(400, "the proposed entry is not JSON") from None
        return self.log.append(entry)

    def _count(self, service: str) -> None:
        with self._count_lock:
            self.requests[service] += 1

    def trust_config(self) -> dict[str, Any]:
        """A ClientTrustConfig for this stand-in (Rekor v1, no timestamp authority)."""
        start = datetime.now(UTC) - timedelta(minutes=5)
        root = self.ca.root
        trusted_root = {
            "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
            "tlogs": [_log_instance(self.url, self.log.key.public_key(), start)],
            "certificateAuthorities": [
                {
                    "subject": {"organization": OPERATOR, "commonName": "sigstore-standin-root"},
                    "uri": self.url,
                    "certChain": {
                        "certificates": [
                            {"rawBytes": b64(root.public_bytes(serialization.Encoding.DER))}
                        ]
                    },
                    "validFor": {"start": _iso(root.not_valid_before_utc)},
                }
            ],
            "ctlogs": [_log_instance(self.url, self.ct_log.key.public_key(), start)],
            "timestampAuthorities": [],
        }
        signing_config = {
            "mediaType": SIGNING_CONFIG_MEDIA_TYPE,
            "caUrls": [_service(self.url, 1, start)],
            "oidcUrls": [_service(self.issuer, 1, start)],
            "rekorTlogUrls": [_service(self.url, 1, start)],
            "tsaUrls": [],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaConfig": {"selector": "ANY"},
        }
        return {
            "mediaType": TRUST_CONFIG_MEDIA_TYPE,
            "trustedRoot": trusted_root,
            "signingConfig": signing_config,
        }

    def write_trust_config(self, path: Path) -> Path:
        """Write ``trust_config()`` as JSON to ``path`` and return ``path``."""
        path.write_text(json.dumps(self.trust_config(), indent=2), encoding="utf-8")
        return path
