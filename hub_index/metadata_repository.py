"""The hub's side of its signed metadata (TUF, with python-tuf's metadata API).

The hub holds only the online key: it signs ``generated`` (its own releases), ``snapshot`` and
``timestamp``. ``root`` and ``targets`` come signed by the admin key; the hub verifies them
against the current root and stores them as they came. Every change writes new versions of
the roles it touches, then a new snapshot and timestamp, in one store transaction, so
concurrent publishes (threads, processes, machines over PostgreSQL) never interleave.
Documents of the online roles are re-signed when half their lifetime has passed.

Consistent snapshots are on: clients fetch ``<version>.<role>.json`` for every role but the
timestamp, so a change between two of their requests never mixes two states.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from securesystemslib.signer import Signer, SSlibKey
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    Targets,
    Timestamp,
)
from tuf.api.serialization import DeserializationError

from hub_client.errors import DuplicateVersionError, HubError, PolicyError
from hub_client.release_metadata import (
    GENERATED_PATHS,
    GENERATED_ROLE,
    ONLINE_ROLES,
    Lifetimes,
    PluginRelease,
    expiry,
)
from plan_pipeline.trust import Tier

ROLES = ("root", "targets", GENERATED_ROLE, "snapshot", "timestamp")


class MetadataTransaction(Protocol):
    def latest(self, role: str) -> bytes | None:
        """The newest stored document of ``role``."""
        ...

    def save(self, role: str, version: int, body: bytes, expires: datetime) -> None:
        """Store a new version of ``role``."""
        ...


class MetadataStore(Protocol):
    def transaction(self) -> AbstractContextManager[MetadataTransaction]:
        """A write transaction: nothing else changes the metadata until it ends."""
        ...

    def document(self, role: str, version: int | None = None) -> bytes | None:
        """A stored document: ``version`` of ``role``, or its newest."""
        ...

    def expires(self, role: str) -> datetime | None:
        """When the newest document of ``role`` expires."""
        ...


class MetadataConflictError(HubError):
    """The admin signed a change against metadata that changed meanwhile."""

    exit_code = 2


@dataclass
class _State:
    """The newest documents, parsed, inside one transaction."""

    tx: MetadataTransaction
    docs: dict[str, Metadata[Any]]

    @classmethod
    def load(cls, tx: MetadataTransaction) -> _State:
        docs: dict[str, Metadata[Any]] = {}
        for role in ROLES:
            body = tx.latest(role)
            if body is None:
                raise HubError(
                    f"the hub's signed metadata has no '{role}' role",
                    "Create the hub home with 'plugin-hub init' (it writes the first metadata)",
                )
            docs[role] = Metadata.from_bytes(body)
        return cls(tx, docs)

    @property
    def root(self) -> Root:
        return cast(Root, self.docs["root"].signed)

    def targets(self, role: str) -> Targets:
        return cast(Targets, self.docs[role].signed)


class MetadataRepository:
    """Reads and changes the hub's metadata in ``store``, signing with the online key."""

    def __init__(
        self, store: MetadataStore, online: Signer, lifetimes: Lifetimes | None = None
    ) -> None:
        self.store = store
        self._online = online
        self.lifetimes = lifetimes or Lifetimes()

    # -- creation ------------------------------------------------------------------------------

    @staticmethod
    def initial_documents(
        admin: Signer, online: Signer, lifetimes: Lifetimes | None = None
    ) -> dict[str, Metadata[Any]]:
        """Version 1 of every role for a new hub: the admin key holds root and targets, the
        online key snapshot, timestamp and the ``generated`` delegation."""
        lifetimes = lifetimes or Lifetimes()
        admin_key, online_key = _public(admin), _public(online)
        root = Root(expires=expiry("root", lifetimes), consistent_snapshot=True)
        for role in ("root", "targets"):
            root.add_key(admin_key, role)
        for role in ("snapshot", "timestamp"):
            root.add_key(online_key, role)
        delegation = DelegatedRole(
            name=GENERATED_ROLE,
            keyids=[online_key.keyid],
            threshold=1,
            terminating=True,
            paths=list(GENERATED_PATHS),
        )
        targets = Targets(
            expires=expiry("targets", lifetimes),
            delegations=Delegations(keys={online_key.keyid: online_key}, roles={}),
        )
        assert targets.delegations is not None and targets.delegations.roles is not None
        targets.delegations.roles[GENERATED_ROLE] = delegation
        generated = Targets(expires=expiry(GENERATED_ROLE, lifetimes))
        docs: dict[str, Metadata[Any]] = {
            "root": Metadata(root),
            "targets": Metadata(targets),
            GENERATED_ROLE: Metadata(generated),
        }
        docs["root"].sign(admin)
        docs["targets"].sign(admin)
        docs[GENERATED_ROLE].sign(online)
        snapshot = Snapshot(expires=expiry("snapshot", lifetimes))
        snapshot.meta = {"targets.json": MetaFile(1), f"{GENERATED_ROLE}.json": MetaFile(1)}
        docs["snapshot"] = Metadata(snapshot)
        docs["snapshot"].sign(online)
        timestamp = Timestamp(expires=expiry("timestamp", lifetimes), snapshot_meta=MetaFile(1))
        docs["timestamp"] = Metadata(timestamp)
        docs["timestamp"].sign(online)
        return docs

    def store_initial(self, docs: dict[str, Metadata[Any]]) -> None:
        with self.store.transaction() as tx:
            if tx.latest("root") is not None:
                raise HubError("the hub already has signed metadata")
            for role, doc in docs.items():
                tx.save(role, doc.signed.version, doc.to_bytes(), doc.signed.expires)

    # -- reading -------------------------------------------------------------------------------

    def document(self, name: str) -> bytes | None:
        """The document a TUF client asks for: ``timestamp``, or ``<version>.<role>``."""
        version_text, dot, role = name.partition(".")
        if not dot:
            if name != "timestamp":
                return None
            self.refresh_expiring()
            return self.store.document("timestamp")
        if role not in ROLES or role == "timestamp" or not version_text.isdigit():
            return None
        return self.store.document(role, int(version_text))

    def stated_paths(self) -> set[str]:
        """The path of every release the newest targets and generated documents state."""
        paths: set[str] = set()
        for role in ("targets", GENERATED_ROLE):
            body = self.store.document(role)
            if body is not None:
                paths |= set(cast(Targets, Metadata.from_bytes(body).signed).targets)
        return paths

    # -- changes -------------------------------------------------------------------------------

    def add_generated(self, release: PluginRelease) -> None:
        """State a new release of the generated namespace, signed with the online key."""
        if release.tier is not Tier.GENERATED or not release.is_generated_name:
            raise PolicyError(
                f"the online key states only generated releases of planexe-gen-* names, "
                f"not {release.dist_name} as {release.tier.value}"
            )
        with self.store.transaction() as tx:
            state = _State.load(tx)
            for role in ("targets", GENERATED_ROLE):
                if release.path in state.targets(role).targets:
                    raise DuplicateVersionError(
                        f"{release.dist_name} {release.version} is already in the signed "
                        "metadata; a name and version is never reused",
                        "Publish a new version",
                    )
            generated = state.targets(GENERATED_ROLE)
            generated.targets[release.path] = release.to_target()
            self._resign(state, GENERATED_ROLE)
            self._commit(state, [GENERATED_ROLE])

    def accept_targets(
        self, body: bytes, check: Callable[[list[PluginRelease]], None] = lambda _c: None
    ) -> list[PluginRelease]:
        """Store a new ``targets`` document signed by the admin key; the releases it adds or
        changes (passed to ``check`` before anything is stored)."""
        try:
            new = Metadata[Targets].from_bytes(body)
        except (DeserializationError, ValueError, TypeError) as exc:
            raise PolicyError(f"the signed targets document cannot be read: {exc}") from None
        if not isinstance(new.signed, Targets):
            raise PolicyError("the signed document is not a targets document")
        with self.store.transaction() as tx:
            state = _State.load(tx)
            try:
                state.root.verify_delegate("targets", new.signed_bytes, new.signatures)
            except UnsignedMetadataError:
                raise PolicyError(
                    "the targets document is not signed by the admin key of the hub's root",
                    "Sign it with the admin key (plugin-hub promote/revoke/publish do this)",
                ) from None
            old = state.targets("targets")
            if new.signed.version != old.version + 1:
                raise MetadataConflictError(
                    f"the signed targets document has version {new.signed.version}, but the "
                    f"hub's is {old.version}: it was changed meanwhile",
                    "Run the command again: it signs against the newest metadata",
                )
            if new.signed.expires <= datetime.now(UTC):
                raise PolicyError("the signed targets document has already expired")
            if new.signed.delegations != old.delegations:
                raise PolicyError(
                    "the signed targets document changes the delegation to the generated role",
                    "Change releases only; the delegation is fixed when the hub is made",
                )
            gone = sorted(set(old.targets) - set(new.signed.targets))
            if gone:
                raise PolicyError(
                    f"the signed targets document drops {gone[0]}: a release is never "
                    "removed from the metadata",
                    "Revoke it instead",
                )
            changed = [
                PluginRelease.from_target(target)
                for path, target in new.signed.targets.items()
                if old.targets.get(path) != target
            ]
            check(changed)
            state.docs["targets"] = new
            self._commit(state, ["targets"])
        return changed

    def refresh_expiring(self) -> None:
        """Re-sign the online roles whose documents are past half their lifetime."""
        now = datetime.now(UTC)
        if not any(self._half_gone(role, now, self.store.expires(role)) for role in ONLINE_ROLES):
            return
        with self.store.transaction() as tx:
            state = _State.load(tx)
            if not any(self._half_gone(r, now, state.docs[r].signed.expires) for r in ONLINE_ROLES):
                return
            changed = []
            if self._half_gone(GENERATED_ROLE, now, state.docs[GENERATED_ROLE].signed.expires):
                self._resign(state, GENERATED_ROLE)
                changed.append(GENERATED_ROLE)
            self._commit(state, changed)

    def _half_gone(self, role: str, now: datetime, expires: datetime | None) -> bool:
        if expires is None:
            return False
        return expires - now < self.lifetimes.of(role) / 2

    def _resign(self, state: _State, role: str) -> None:
        signed = state.docs[role].signed
        signed.version += 1
        signed.expires = expiry(role, self.lifetimes)
        state.docs[role].sign(self._online)

    def _commit(self, state: _State, changed: list[str]) -> None:
        """Save the changed roles, then a new snapshot and timestamp over them."""
        snapshot = cast(Snapshot, state.docs["snapshot"].signed)
        for role in ("targets", GENERATED_ROLE):
            snapshot.meta[f"{role}.json"] = MetaFile(state.docs[role].signed.version)
        self._resign(state, "snapshot")
        timestamp = cast(Timestamp, state.docs["timestamp"].signed)
        timestamp.snapshot_meta = MetaFile(snapshot.version)
        self._resign(state, "timestamp")
        for role in [*changed, "snapshot", "timestamp"]:
            doc = state.docs[role]
            state.tx.save(role, doc.signed.version, doc.to_bytes(), doc.signed.expires)


def _public(signer: Signer) -> SSlibKey:
    key = signer.public_key
    if not isinstance(key, SSlibKey):
        raise HubError("the metadata signers must hold ECDSA keys")
    return key
