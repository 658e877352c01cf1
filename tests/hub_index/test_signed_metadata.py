"""The hub's signed metadata (TUF): the repository signs, the client trusts only what the keys of
its own root signed. The loopback server here serves whatever documents a test gives it, so
it is also the spoofed hub: lying about tier, revocation or capability, or replaying old
metadata."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from tuf.api.metadata import Metadata

from hub_client import metadata_client
from hub_client.errors import HubUnavailableError, PolicyError, VerificationError
from hub_client.metadata_client import TrustedReleases
from hub_client.records import PluginStatus
from hub_client.release_metadata import (
    GENERATED_ROLE,
    Lifetimes,
    PluginRelease,
    signed_targets_change,
    tuf_signer,
)
from hub_index.db import HubDatabase
from hub_index.metadata_repository import MetadataConflictError, MetadataRepository, _State
from plan_pipeline.trust import Tier
from tests.hub_index.conftest import dripping_server

SHA = "ab" * 32


def _release(
    name: str = "planexe-gen-geometry-area", version: str = "1.0.0", **kw: Any
) -> PluginRelease:
    fields: dict[str, Any] = {
        "dist_name": name,
        "version": version,
        "capability": "geometry.area",
        "filename": f"{name.replace('-', '_')}-{version}-py3-none-any.whl",
        "sha256": SHA,
        "length": 1234,
        "tier": Tier.GENERATED,
        "report_sha256": "cd" * 32,
    }
    return PluginRelease.model_validate(fields | kw)


@dataclass
class _Served:
    """What the loopback server answers: the repository's documents, or a replacement."""

    repo: MetadataRepository
    override: dict[str, bytes] = field(default_factory=dict)

    def get(self, name: str) -> bytes | None:
        if name in self.override:
            return self.override[name]
        return self.repo.document(name)


@dataclass
class _Hub:
    repo: MetadataRepository
    admin: Any
    online: Any
    url: str
    served: _Served
    root: bytes
    tmp: Path

    def client(
        self, cache: str = "cache", offline: bool = False, root: bytes | None = None
    ) -> TrustedReleases:
        return TrustedReleases(self.url, root or self.root, self.tmp / cache, offline=offline)

    def admin_sign(self, *releases: PluginRelease, on: TrustedReleases | None = None) -> bytes:
        current = (on or self.client("admin-cache")).admin_targets()
        return signed_targets_change(current, releases, self.admin)


def _serve(get: Callable[[str], bytes | None]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def do_GET(self) -> None:
            name = self.path.rsplit("/", 1)[-1].removesuffix(".json")
            body = get(name)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/metadata/"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[_Hub]:
    db = HubDatabase(f"sqlite:///{tmp_path / 'hub.db'}")
    db.upgrade()
    admin = tuf_signer(ec.generate_private_key(ec.SECP256R1()))
    online = tuf_signer(ec.generate_private_key(ec.SECP256R1()))
    repo = MetadataRepository(db.metadata_store(), online)
    repo.store_initial(MetadataRepository.initial_documents(admin, online))
    served = _Served(repo)
    server, url = _serve(served.get)
    try:
        yield _Hub(repo, admin, online, url, served, repo.store.document("root") or b"", tmp_path)
    finally:
        server.shutdown()
        server.server_close()
        db.close()


def test_generated_release_is_stated_by_the_online_key(hub: _Hub) -> None:
    hub.repo.add_generated(_release())
    found = hub.client().release("planexe-gen-geometry-area", "1.0")
    assert found is not None
    assert found.release == _release()
    assert (found.tier, found.admin_signed) == (Tier.GENERATED, False)
    assert hub.client("other").release("planexe-gen-geometry-area", "1.0.1") is None


def test_the_online_key_states_only_generated_names_and_tier(hub: _Hub) -> None:
    with pytest.raises(PolicyError, match="only generated releases"):
        hub.repo.add_generated(_release(tier=Tier.CORE))
    with pytest.raises(PolicyError, match="only generated releases"):
        hub.repo.add_generated(_release("planexe-plugin-hub", "0.1.0"))
    with pytest.raises(PolicyError, match="only generated releases"):  # another capability's name
        hub.repo.add_generated(_release("planexe-gen-budget-rollup"))


def test_a_forged_tier_in_the_online_role_is_refused_by_the_client(hub: _Hub) -> None:
    """A hub (it holds the online key) that signs a generated release as core."""
    forged = Metadata.from_bytes(hub.repo.document(f"1.{GENERATED_ROLE}") or b"")
    forged.signed.targets[_release().path] = _release(tier=Tier.CORE).to_target()
    forged.signed.version = 2
    forged.sign(hub.online)
    with hub.repo.store.transaction() as tx:
        tx.save(GENERATED_ROLE, 2, forged.to_bytes(), forged.signed.expires)
    hub.repo.add_generated(_release("planexe-gen-other-thing", capability="other.thing"))
    with pytest.raises(VerificationError, match="only the admin key may state that tier"):
        hub.client().release("planexe-gen-geometry-area", "1.0.0")


def test_an_online_key_entry_naming_another_capability_is_refused(hub: _Hub) -> None:
    """A hub holding the online key states a generated release under another capability."""
    forged = Metadata.from_bytes(hub.repo.document(f"1.{GENERATED_ROLE}") or b"")
    squatter = _release("planexe-gen-budget-rollup")  # capability geometry.area
    forged.signed.targets[squatter.path] = squatter.to_target()
    forged.signed.version = 2
    forged.sign(hub.online)
    with hub.repo.store.transaction() as tx:
        tx.save(GENERATED_ROLE, 2, forged.to_bytes(), forged.signed.expires)
    hub.repo.add_generated(_release("planexe-gen-other-thing", capability="other.thing"))
    with pytest.raises(VerificationError, match="only the admin key may state that"):
        hub.client().release("planexe-gen-budget-rollup", "1.0.0")


def test_admin_promotion_and_revocation_override_the_online_key(hub: _Hub) -> None:
    hub.repo.add_generated(_release())
    promoted = _release(tier=Tier.VERIFIED)
    changed = hub.repo.accept_targets(hub.admin_sign(promoted))
    assert changed == [promoted]
    client = hub.client()
    found = client.release("planexe-gen-geometry-area", "1.0.0")
    assert found is not None and (found.tier, found.admin_signed) == (Tier.VERIFIED, True)

    revoked = _release(status=PluginStatus.REVOKED, revoked_reason="CVE-1")
    hub.repo.accept_targets(hub.admin_sign(revoked))
    found = hub.client("fresh").release("planexe-gen-geometry-area", "1.0.0")
    assert found is not None and found.tier is Tier.QUARANTINED


def test_the_hub_accepts_targets_only_from_the_admin_key_in_order(hub: _Hub) -> None:
    hub.repo.add_generated(_release())
    current = hub.client("admin-cache").admin_targets()
    stranger = tuf_signer(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(PolicyError, match="not signed by the admin key"):
        hub.repo.accept_targets(
            signed_targets_change(current, [_release(tier=Tier.CORE)], stranger)
        )
    with pytest.raises(PolicyError, match="not signed by the admin key"):
        hub.repo.accept_targets(
            signed_targets_change(current, [_release(tier=Tier.CORE)], hub.online)
        )
    first = signed_targets_change(current, [_release(tier=Tier.VERIFIED)], hub.admin)
    second = signed_targets_change(current, [_release(tier=Tier.CORE)], hub.admin)
    hub.repo.accept_targets(first)
    with pytest.raises(MetadataConflictError, match="changed meanwhile"):
        hub.repo.accept_targets(second)


def test_a_spoofed_hub_with_its_own_keys_is_refused(hub: _Hub, tmp_path: Path) -> None:
    db = HubDatabase(f"sqlite:///{tmp_path / 'spoof.db'}")
    db.upgrade()
    evil_admin = tuf_signer(ec.generate_private_key(ec.SECP256R1()))
    evil_online = tuf_signer(ec.generate_private_key(ec.SECP256R1()))
    evil = MetadataRepository(db.metadata_store(), evil_online)
    evil.store_initial(MetadataRepository.initial_documents(evil_admin, evil_online))
    evil.accept_targets(
        signed_targets_change(
            evil.document("1.targets") or b"", [_release(tier=Tier.CORE)], evil_admin
        )
    )
    server, url = _serve(evil.document)
    try:
        with pytest.raises(VerificationError, match="not signed by the keys of the local policy"):
            TrustedReleases(url, hub.root, tmp_path / "cache").release(
                "planexe-gen-geometry-area", "1.0.0"
            )
    finally:
        server.shutdown()
        server.server_close()
        db.close()


def test_an_oversized_document_from_the_hub_is_cut_off_and_refused(hub: _Hub) -> None:
    """ngclient's length limit holds with the client's in-memory fetcher: a hub streaming an
    endless timestamp is refused, not read into memory."""
    hub.served.override["timestamp"] = b"{" + b" " * (2 * 1024**2)
    with pytest.raises(VerificationError, match="longer than allowed"):
        hub.client().release("planexe-gen-geometry-area", "1.0.0")


def test_a_rollback_to_before_a_revocation_is_refused(hub: _Hub) -> None:
    hub.repo.add_generated(_release())
    before = {
        name: hub.repo.document(name) or b""
        for name in ("timestamp", "2.snapshot", "2.generated", "1.targets")
    }
    revoked = _release(status=PluginStatus.REVOKED, revoked_reason="CVE-1")
    hub.repo.accept_targets(hub.admin_sign(revoked))
    seen = hub.client().release("planexe-gen-geometry-area", "1.0.0")
    assert seen is not None and seen.tier is Tier.QUARANTINED
    hub.served.override.update(before)  # the hub replays the state before the revocation
    with pytest.raises(VerificationError, match="rollback"):
        hub.client().release("planexe-gen-geometry-area", "1.0.0")


def test_frozen_metadata_expires(hub: _Hub, tmp_path: Path) -> None:
    """A replay of metadata the client never saw newer is caught by its expiry."""
    db = HubDatabase(f"sqlite:///{tmp_path / 'old.db'}")
    db.upgrade()
    old = MetadataRepository(db.metadata_store(), hub.online, Lifetimes(timestamp_s=-60))
    docs = MetadataRepository.initial_documents(hub.admin, hub.online, Lifetimes(timestamp_s=-60))
    old.store_initial(docs)
    hub.served.override.update({"timestamp": docs["timestamp"].to_bytes()})
    try:
        with pytest.raises(VerificationError, match="expired"):
            hub.client().release("planexe-gen-geometry-area", "1.0.0")
    finally:
        db.close()


def test_expiring_online_roles_are_resigned_when_served(hub: _Hub) -> None:
    """Stored with a day to live; under a ten-day lifetime that is past half: re-signed once."""
    longer = MetadataRepository(hub.repo.store, hub.online, Lifetimes(timestamp_s=10 * 86400))

    def version() -> int:
        return int(Metadata.from_bytes(longer.document("timestamp") or b"").signed.version)

    assert [version(), version()] == [2, 2]
    assert hub.client().release("planexe-gen-geometry-area", "1.0.0") is None  # still verifies


def test_offline_answers_from_the_verified_cache(hub: _Hub) -> None:
    hub.repo.add_generated(_release())
    assert hub.client().release("planexe-gen-geometry-area", "1.0.0") is not None
    hub.served.override.update({"timestamp": b"", "2.snapshot": b""})
    offline = hub.client(offline=True)
    found = offline.release("planexe-gen-geometry-area", "1.0.0")
    assert found is not None and found.release == _release()
    with pytest.raises((VerificationError, HubUnavailableError)):
        hub.client("never-online", offline=True).release("planexe-gen-geometry-area", "1.0.0")


def test_an_unreachable_hub_falls_back_to_the_verified_cache_until_it_expires(
    hub: _Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.repo.add_generated(_release())
    assert hub.client().release("planexe-gen-geometry-area", "1.0.0") is not None
    gone = "http://127.0.0.1:9/metadata/"  # nothing listens there

    def unreachable(cache: str = "cache", fall_back: bool = True) -> TrustedReleases:
        return TrustedReleases(gone, hub.root, tmp_path / cache, fall_back_offline=fall_back)

    with pytest.raises(HubUnavailableError, match="cannot fetch the hub's signed metadata"):
        unreachable(fall_back=False).release("planexe-gen-geometry-area", "1.0.0")
    found = unreachable().release("planexe-gen-geometry-area", "1.0.0")
    assert found is not None and found.release == _release()
    assert "using the hub's signed metadata verified here before (valid until" in (
        capsys.readouterr().err
    )
    with pytest.raises(HubUnavailableError, match="no signed metadata of this hub was verified"):
        unreachable("never-online").release("planexe-gen-geometry-area", "1.0.0")

    # the cached timestamp expires: a hub gone for longer than that is not trusted
    short = MetadataRepository(hub.repo.store, hub.online, Lifetimes(timestamp_s=1))
    short.add_generated(_release(version="2.0.0"))
    hub.served.repo = short
    assert hub.client("short-lived").release("planexe-gen-geometry-area", "2.0.0") is not None
    time.sleep(1.5)
    with pytest.raises(VerificationError, match="expired"):
        unreachable("short-lived").release("planexe-gen-geometry-area", "2.0.0")


def _online_key_drops(hub: _Hub, path: str) -> None:
    """What the online key alone can sign: a newer ``generated`` document without ``path``
    (then a snapshot and a timestamp over it), as a compromised hub would."""
    with hub.repo.store.transaction() as tx:
        state = _State.load(tx)
        del state.targets(GENERATED_ROLE).targets[path]
        hub.repo._resign(state, GENERATED_ROLE)
        hub.repo._commit(state, [GENERATED_ROLE])


def test_the_online_key_alone_cannot_hide_a_release_a_client_has_seen(hub: _Hub) -> None:
    """The newer 1.0.1 is dropped from a validly signed, newer ``generated`` document: a
    client that saw 1.0.1 refuses that metadata rather than taking 1.0.0."""
    hub.repo.add_generated(_release())
    hub.repo.add_generated(_release(version="1.0.1"))
    client = hub.client()
    assert sorted(s.release.version for s in client.releases()) == ["1.0.0", "1.0.1"]
    _online_key_drops(hub, "planexe-gen-geometry-area/1.0.1")
    for again in (client, hub.client()):  # this process, and a later one with the same cache
        with pytest.raises(VerificationError, match=r"no longer states .*1\.0\.1.*no key revoked"):
            again.releases()
    # a revocation is a statement, not an omission: it keeps the entry, and is accepted
    revoked = _release(version="1.0.0", status=PluginStatus.REVOKED, revoked_reason="bad")
    fresh = hub.client("after-revocation")
    hub.repo.accept_targets(hub.admin_sign(revoked, on=fresh))
    states = {s.release.version: s.tier for s in fresh.releases()}
    assert states == {"1.0.0": Tier.QUARANTINED}


def test_the_memory_of_seen_releases_starts_afresh_with_a_new_root(hub: _Hub) -> None:
    """What a compromised online key once showed (a release that is gone after the keys were
    rotated) must not lock the client out for good: the memory belongs to one version of the
    root, and the rotation is a new root."""
    hub.repo.add_generated(_release())
    client = hub.client()
    client.releases()
    memory = client.cache / "seen-releases.json"
    kept = json.loads(memory.read_text())
    assert kept["root"] == 1 and "planexe-gen-geometry-area/1" in kept["seen"]
    shown = {"planexe-gen-geometry-area/6.6.6": "ee" * 32}  # once shown by the stolen key
    memory.write_text(json.dumps({"root": 1, "seen": kept["seen"] | shown}))
    with pytest.raises(VerificationError, match="no longer states"):
        hub.client().releases()
    memory.write_text(json.dumps({"root": 0, "seen": kept["seen"] | shown}))  # an older root
    assert [s.release.version for s in hub.client().releases()] == ["1.0.0"]
    assert json.loads(memory.read_text()) == kept


def test_a_fresh_client_fed_metadata_from_before_a_revocation_is_caught_by_its_expiry(
    hub: _Hub, tmp_path: Path
) -> None:
    """A client with no cache cannot know it is shown an old state; the timestamp's lifetime
    bounds the window (an hour by default). Here it lives a second: the replay after it is
    refused as expired, never installed."""
    assert Lifetimes().timestamp_s <= 3600
    short = MetadataRepository(hub.repo.store, hub.online, Lifetimes(timestamp_s=1))
    short.add_generated(_release())
    before = {
        name: short.document(name) or b""
        for name in ("timestamp", "2.snapshot", "2.generated", "1.targets")
    }
    revoked = _release(status=PluginStatus.REVOKED, revoked_reason="CVE-1")
    short.accept_targets(hub.admin_sign(revoked))
    time.sleep(1.5)
    hub.served.override.update(before)
    with pytest.raises(VerificationError, match="expired"):
        hub.client("fresh").release("planexe-gen-geometry-area", "1.0.0")


def test_a_hub_dripping_its_metadata_is_given_up_at_the_deadline(
    hub: _Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each byte comes well within any socket timeout; the refresh as a whole has a deadline
    (here 2 s), and the client says the hub is unavailable instead of waiting."""
    monkeypatch.setattr(metadata_client, "METADATA_DEADLINE_S", 2.0)
    server, url = dripping_server()
    try:
        started = time.monotonic()
        with pytest.raises(HubUnavailableError, match=r"did not send \S+ within 2 s"):
            TrustedReleases(url, hub.root, hub.tmp / "dripped").refresh()
        assert time.monotonic() - started < 10
    finally:
        server.shutdown()
        server.server_close()
