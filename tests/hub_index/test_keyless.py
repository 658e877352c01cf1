"""Keyless signing end to end: ``SigstoreSigner`` and ``SigstoreVerifier`` run sigstore-python's
real client and verifier against loopback stand-ins of Fulcio, the CT log and Rekor."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from hub_client.bundles import SigstoreIdentity, SigstoreVerifier
from hub_client.errors import VerificationError
from hub_index.errors import SigningError
from hub_index.signing import SigstoreSigner
from tests.hub_index.sigstore_standin import (
    OID_ISSUER_V1,
    OidcIssuer,
    SigstoreStandin,
    leaf_hash,
)

WHEEL = (
    Path(__file__).parents[1] / "data" / "sigstore-production" / "rfc8785-0.1.2-py3-none-any.whl"
)
IDENTITY = "maintainer@example.com"


@dataclass(frozen=True)
class Signed:
    """One wheel signed against a stand-in that has since been stopped."""

    wheel: bytes
    bundle: str
    trust_config: str
    issuer: str
    signer_identity: str
    url: str
    requests: Counter[str]
    log_leaves: list[bytes]


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Signed:
    wheel = WHEEL.read_bytes()
    config_path = tmp_path_factory.mktemp("standin") / "trust_config.json"
    with SigstoreStandin() as standin:
        config = str(standin.write_trust_config(config_path))
        signer = SigstoreSigner(standin.mint_token(IDENTITY), config)
        bundle = signer.sign(wheel)
    return Signed(
        wheel=wheel,
        bundle=bundle,
        trust_config=config,
        issuer=standin.issuer,
        signer_identity=signer.identity,
        url=standin.url,
        requests=Counter(standin.requests),
        log_leaves=list(standin.log.leaves),
    )


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[tuple[SigstoreStandin, str]]:
    """A running stand-in and the path of its trust config."""
    with SigstoreStandin() as running:
        yield running, str(running.write_trust_config(tmp_path / "trust_config.json"))


def verifier(signed: Signed, *identities: SigstoreIdentity) -> SigstoreVerifier:
    accepted = identities or (SigstoreIdentity(IDENTITY, signed.issuer),)
    return SigstoreVerifier(list(accepted), signed.trust_config)


def leaf_certificate(bundle: str) -> x509.Certificate:
    raw = json.loads(bundle)["verificationMaterial"]["certificate"]["rawBytes"]
    return x509.load_der_x509_certificate(base64.b64decode(raw))


def tlog_entry(bundle: str) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(bundle)["verificationMaterial"]["tlogEntries"][0]
    return entry


def test_signing_returns_a_keyless_bundle_for_the_token_identity(signed: Signed) -> None:
    assert signed.signer_identity == IDENTITY
    document = json.loads(signed.bundle)
    assert document["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    digest = document["messageSignature"]["messageDigest"]
    assert base64.b64decode(digest["digest"]) == hashlib.sha256(signed.wheel).digest()
    leaf = leaf_certificate(signed.bundle)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == [IDENTITY]
    issuer = leaf.extensions.get_extension_for_oid(OID_ISSUER_V1).value
    assert isinstance(issuer, x509.UnrecognizedExtension)
    assert issuer.value.decode() == signed.issuer
    scts = leaf.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps)
    assert len(scts.value) == 1
    entry = tlog_entry(signed.bundle)
    assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.1"}
    assert entry["inclusionPromise"]["signedEntryTimestamp"]
    assert entry["inclusionProof"]["checkpoint"]["envelope"].startswith("rekor.standin\n1\n")


def test_the_standin_served_one_certificate_and_one_log_entry(signed: Signed) -> None:
    assert signed.requests == Counter({"fulcio": 1, "rekor": 1})
    body = base64.b64decode(tlog_entry(signed.bundle)["canonicalizedBody"])
    assert signed.log_leaves == [leaf_hash(body)]


def test_bundle_verifies_offline_with_only_the_trust_config(signed: Signed) -> None:
    host, port = signed.url.removeprefix("http://").split(":")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=2).close()
    assert verifier(signed).verify(signed.wheel, signed.bundle) == IDENTITY


def test_any_accepted_identity_may_match(signed: Signed) -> None:
    other = SigstoreIdentity("someone@example.com", signed.issuer)
    right = SigstoreIdentity(IDENTITY, signed.issuer)
    assert verifier(signed, other, right).verify(signed.wheel, signed.bundle) == IDENTITY


@pytest.mark.parametrize(
    ("identity", "issuer", "problem"),
    [
        ("someone@example.com", None, "SANs do not match"),
        (IDENTITY, "https://accounts.example.com", "OIDCIssuer does not match"),
    ],
)
def test_other_identity_or_issuer_is_rejected(
    signed: Signed, identity: str, issuer: str | None, problem: str
) -> None:
    policy = verifier(signed, SigstoreIdentity(identity, issuer or signed.issuer))
    with pytest.raises(VerificationError, match=problem):
        policy.verify(signed.wheel, signed.bundle)


def test_changed_artifact_is_rejected(signed: Signed) -> None:
    changed = signed.wheel[:-1] + bytes([signed.wheel[-1] ^ 1])
    with pytest.raises(VerificationError, match="digest mismatch"):
        verifier(signed).verify(changed, signed.bundle)


def _bump_integrated_time(entry: dict[str, Any]) -> None:
    entry["integratedTime"] = str(int(entry["integratedTime"]) + 1)


def _rename_checkpoint_origin(entry: dict[str, Any]) -> None:
    checkpoint = entry["inclusionProof"]["checkpoint"]
    checkpoint["envelope"] = checkpoint["envelope"].replace("rekor.standin\n", "forged\n", 1)


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (_bump_integrated_time, "SET: invalid inclusion promise"),
        (_rename_checkpoint_origin, "checkpoint: invalid signature"),
    ],
)
def test_altered_log_entry_is_rejected(
    signed: Signed, tamper: Callable[[dict[str, Any]], None], problem: str
) -> None:
    document = json.loads(signed.bundle)
    tamper(document["verificationMaterial"]["tlogEntries"][0])
    with pytest.raises(VerificationError, match=problem):
        verifier(signed).verify(signed.wheel, json.dumps(document))


def test_another_deployments_trust_config_rejects_the_bundle(
    signed: Signed, standin: tuple[SigstoreStandin, str]
) -> None:
    _, other_config = standin
    policy = SigstoreVerifier([SigstoreIdentity(IDENTITY, signed.issuer)], other_config)
    with pytest.raises(VerificationError, match="certificate chain"):
        policy.verify(signed.wheel, signed.bundle)


def test_uri_identities_and_a_growing_log(standin: tuple[SigstoreStandin, str]) -> None:
    running, config = standin
    workflow = "https://ci.example.com/plugins/.ci/release.yml@refs/tags/v1.0.0"
    signer = SigstoreSigner(running.mint_token(workflow), config)
    artifacts = [f"plugin wheel {n}".encode() for n in range(4)]
    bundles = [signer.sign(artifact) for artifact in artifacts]
    assert running.requests == Counter({"fulcio": 4, "rekor": 4})
    policy = SigstoreVerifier([SigstoreIdentity(workflow, running.issuer)], config)
    for index, (artifact, bundle) in enumerate(zip(artifacts, bundles, strict=True)):
        assert policy.verify(artifact, bundle) == workflow
        proof = tlog_entry(bundle)["inclusionProof"]
        assert (int(proof["logIndex"]), int(proof["treeSize"])) == (index, index + 1)
    assert len(tlog_entry(bundles[3])["inclusionProof"]["hashes"]) == 2


def test_fulcio_refuses_a_token_the_issuer_did_not_sign(
    standin: tuple[SigstoreStandin, str],
) -> None:
    running, config = standin
    forged = OidcIssuer(running.issuer).mint(IDENTITY)
    with pytest.raises(SigningError, match=r"keyless signing as .* failed: FulcioClientError"):
        SigstoreSigner(forged, config).sign(b"artifact")
    assert running.requests == Counter({"fulcio": 1})
