"""The client's side of the hub's signed metadata: python-tuf's ``ngclient``.

``TrustedReleases`` answers one question, "what do the keys of my own policy say about this
release?", and trusts nothing else the hub says. The trusted root comes from the client's
policy (never from the hub); ngclient fetches timestamp, snapshot and targets, checks every
signature against the root's keys, every version against the ones it saw before (rollback)
and every expiry (freeze), and keeps what it verified in a cache folder per root, which is
what makes a later replay detectable. The API's records are hints: a release the signed
metadata does not state, or states differently, is refused. Which releases exist at all
comes from the verified targets too (``releases``), never from the records.

TUF's version checks stop an old document replacing a newer one, but the online key alone
can sign a new ``generated`` document that leaves a release out. So the client keeps, per
root, every release path (and sha256) it ever saw verified (``seen-releases.json``), and
refuses metadata that drops one or changes its sha256: a release leaves only by a signed
revocation, which keeps its entry. A new version of the root (keys rotated after a
compromise) starts that memory afresh.

``offline=True`` answers from that cache alone, still checking expiry, for verification
without a hub. ``fall_back_offline=True`` does so only when the hub cannot be reached (and
says so once on standard error): a pipeline keeps running the plugins it has, under metadata
it verified before, until that metadata expires (the timestamp lives an hour), which bounds
how long an unreachable hub can hide a revocation.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Metadata, TargetFile, Targets
from tuf.ngclient import FetcherInterface, Updater

from hub_client.errors import HubUnavailableError, VerificationError
from hub_client.http_deadline import DeadlinePassedError, TooLargeError, get_within
from hub_client.records import PluginStatus
from hub_client.release_metadata import (
    GENERATED_PREFIX,
    GENERATED_ROLE,
    PluginRelease,
    release_path,
)
from plan_pipeline.trust import Tier


@dataclass(frozen=True)
class SignedRelease:
    """A release as verified metadata states it, and whether the admin key stated it."""

    release: PluginRelease
    admin_signed: bool

    @property
    def tier(self) -> Tier:
        if self.release.status is PluginStatus.REVOKED:
            return Tier.QUARANTINED
        return self.release.tier


class TrustedReleases:
    """Releases stated by a hub's metadata, verified against ``root`` (the policy's)."""

    def __init__(
        self,
        metadata_url: str,
        root: bytes,
        cache_dir: Path,
        *,
        offline: bool = False,
        fall_back_offline: bool = False,
    ) -> None:
        self.metadata_url = metadata_url.rstrip("/") + "/"
        self._root = root
        self.offline = offline
        self.fall_back_offline = fall_back_offline
        self.cache = cache_dir / hashlib.sha256(root).hexdigest()[:24]
        self._updater: Updater | None = None
        self._admin_paths: frozenset[str] = frozenset()
        self._stated: dict[str, TargetFile] = {}
        self._fetcher = _DeadlineFetcher()

    def refresh(self, again: bool = False) -> None:
        """Fetch and verify the newest metadata: once, or ``again``."""
        if self._updater is not None and not again:
            return
        self.cache.mkdir(parents=True, exist_ok=True)
        try:
            self._refresh()
        except HubUnavailableError as exc:
            if self.offline or not self.fall_back_offline:
                raise
            if not (self.cache / "timestamp.json").is_file():
                raise HubUnavailableError(
                    f"{exc.problem}; and no signed metadata of this hub was verified here "
                    "before, so nothing can be checked offline",
                    exc.fix,
                ) from None
            self.offline = True
            self._refresh()
            sys.stderr.write(
                f"warning: {exc.problem}; using the hub's signed metadata verified here before "
                f"(valid until {self._timestamp_expiry()})\n"
            )

    def _refresh(self) -> None:
        with _locked(self.cache / ".lock"), _translated(self.metadata_url):
            fetcher: FetcherInterface = self._fetcher
            if self.offline:
                fetcher = _CacheFetcher(self.cache)
            self._fetcher.start()
            updater = Updater(
                str(self.cache), self.metadata_url, fetcher=fetcher, bootstrap=self._root
            )
            updater.refresh()
            # the delegated role, verified as a lookup in its namespace loads it
            updater.get_targetinfo(f"{GENERATED_PREFIX}-/0")
            top = _targets(self.cache / "targets.json")
            generated = _targets(self.cache / f"{GENERATED_ROLE}.json")
            stated = {**generated, **top}  # an admin statement overrides the online key's
            self._check_nothing_dropped(stated)
        self._admin_paths = frozenset(top)
        self._stated = stated
        self._updater = updater

    def _check_nothing_dropped(self, stated: dict[str, TargetFile]) -> None:
        """Refuse metadata that leaves out a release this client saw before, or states
        another sha256 for it; then remember what it states (under the cache's lock). The
        memory holds for one version of the root: a new root (the keys rotated, as after a
        compromise of the online key) starts it afresh, so what a compromised key once
        showed cannot lock a client out of the clean metadata signed after the rotation."""
        memory = self.cache / _SEEN
        root_version = Metadata.from_bytes((self.cache / "root.json").read_bytes()).signed.version
        try:
            kept = json.loads(memory.read_text()) if memory.is_file() else {}
        except ValueError:
            kept = {}
        same_root = isinstance(kept, dict) and kept.get("root") == root_version
        seen: dict[str, str] = kept.get("seen", {}) if same_root else {}
        now = {path: str(target.hashes.get("sha256", "")) for path, target in stated.items()}
        for path, sha256 in sorted(seen.items()):
            if path not in now:
                raise VerificationError(
                    f"the hub's signed metadata no longer states {path}, which this client saw "
                    "before, and no key revoked it: refusing metadata that hides a release",
                    "Ask the hub's operator: a release leaves only by a signed revocation",
                )
            if now[path] != sha256:
                raise VerificationError(
                    f"the hub's signed metadata states another file for {path} than this "
                    "client saw before: a release never changes",
                    "Ask the hub's operator",
                )
        if now.keys() - seen.keys() or not same_root:
            partial = memory.with_name(f"{memory.name}.{os.getpid()}.part")
            partial.write_text(json.dumps({"root": root_version, "seen": seen | now}))
            partial.replace(memory)

    def releases(self) -> list[SignedRelease]:
        """Every release the newest verified metadata states (revoked ones included)."""
        self.refresh(again=not self.offline)
        return [self._signed(target) for target in self._stated.values()]

    def _timestamp_expiry(self) -> str:
        timestamp = Metadata.from_bytes((self.cache / "timestamp.json").read_bytes())
        return timestamp.signed.expires.strftime("%Y-%m-%d %H:%M UTC")

    def admin_targets(self) -> bytes:
        """The newest verified ``targets`` document (an admin signs its changes on top)."""
        self.refresh(again=not self.offline)
        return (self.cache / "targets.json").read_bytes()

    def release(
        self, dist_name: str, version: str, refresh_on_miss: bool = True
    ) -> SignedRelease | None:
        """What the verified metadata states about ``dist_name`` ``version`` (None: nothing).
        A release not found is looked up once more in newer metadata, if there is any (unless
        the caller refreshed just before: ``refresh_on_miss=False``)."""
        path = release_path(dist_name, version)
        target = self._lookup(path)
        if target is None and refresh_on_miss and not self.offline:
            self.refresh(again=True)
            target = self._lookup(path)
        if target is None:
            return None
        return self._signed(target)

    def _signed(self, target: TargetFile) -> SignedRelease:
        release = PluginRelease.from_target(target)
        admin_signed = target.path in self._admin_paths
        if not admin_signed and (
            release.tier is not Tier.GENERATED or not release.is_generated_name
        ):
            raise VerificationError(
                f"the {GENERATED_ROLE} role states {release.dist_name} {release.version} as "
                f"{release.tier.value} for '{release.capability}': only the admin key may state "
                "that tier or name"
            )
        return SignedRelease(release, admin_signed)

    def _lookup(self, path: str) -> TargetFile | None:
        self.refresh()
        assert self._updater is not None
        with _locked(self.cache / ".lock"), _translated(self.metadata_url):
            self._fetcher.start()
            return self._updater.get_targetinfo(path)


_SEEN = "seen-releases.json"
METADATA_DEADLINE_S = 30.0
"""The longest a refresh of the signed metadata may take, all its documents together."""
_MAX_DOCUMENT_BYTES = 16 * 1024**2


def _targets(path: Path) -> dict[str, TargetFile]:
    """The entries of a targets document ngclient verified and kept (none if it has none)."""
    if not path.is_file():
        return {}
    return dict(Metadata[Targets].from_bytes(path.read_bytes()).signed.targets)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One process at a time in a cache folder (ngclient rewrites files and a symlink)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@contextmanager
def _translated(url: str) -> Iterator[None]:
    """TUF's errors as the hub's: one line naming what failed."""
    try:
        yield
    except tuf_errors.ExpiredMetadataError as exc:
        raise VerificationError(
            f"the hub's signed metadata has expired ({exc}): refusing a frozen or stale hub",
            "Ask the hub's operator; a running hub re-signs its metadata before it expires",
        ) from None
    except tuf_errors.BadVersionNumberError as exc:
        raise VerificationError(
            f"the hub's signed metadata is older than what this client saw before ({exc}): "
            "refusing a rollback",
            "Check which hub PLANEXE_HUB_URL points at",
        ) from None
    except tuf_errors.UnsignedMetadataError as exc:
        raise VerificationError(
            f"the hub's metadata is not signed by the keys of the local policy's root ({exc})",
            "Check that the policy's metadata root belongs to this hub",
        ) from None
    except tuf_errors.RepositoryError as exc:
        raise VerificationError(f"the hub's signed metadata is not acceptable: {exc}") from None
    except tuf_errors.DownloadLengthMismatchError as exc:
        raise VerificationError(
            f"the hub sent a signed-metadata document longer than allowed ({exc}): refusing it",
            "Check which hub PLANEXE_HUB_URL points at",
        ) from None
    except tuf_errors.DownloadError as exc:
        cause = str(exc).strip(" :;") or type(exc).__name__
        if exc.__cause__ is not None:  # urllib3's reason, which TUF's message may leave out
            cause = f"{cause}: {str(exc.__cause__)[:200]}".strip(" :;")
        raise HubUnavailableError(
            f"cannot fetch the hub's signed metadata from {url}: {cause}",
            "Start the hub or check PLANEXE_HUB_URL",
        ) from None
    except (OSError, ValueError) as exc:
        raise VerificationError(f"the hub's signed metadata cannot be read: {exc}") from None


class _CacheFetcher(FetcherInterface):
    """Serves the cached, already verified documents: the client's offline mode. ngclient
    checks them again as if they were new (signatures, versions, expiry), so an expired
    cache is refused as expired."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache

    def _fetch(self, url: str) -> Iterator[bytes]:
        name = url.rsplit("/", 1)[-1]
        version, _, unversioned = name.partition(".")
        if version.isdigit():  # "<version>.<role>.json"; offline there is never a next root
            cached = None if unversioned == "root.json" else self.cache / unversioned
        else:
            cached = self.cache / name
        if cached is None or not cached.is_file():
            raise tuf_errors.DownloadHTTPError(f"offline: no {name}", 404)
        return iter([cached.read_bytes()])


class _DeadlineFetcher(FetcherInterface):
    """Fetches each document with one deadline for all of a refresh (``deadline``, set by the
    caller; ``http_deadline.get_within``): a hub that drips its answers cannot hold the client
    past it. Documents are collected in memory (each temporary file costs about a millisecond
    on the reuse path, and the documents are small), still cut off at ngclient's limit."""

    def __init__(self) -> None:
        self.deadline = 0.0

    def start(self) -> None:
        self.deadline = time.monotonic() + METADATA_DEADLINE_S

    def download_bytes(self, url: str, max_length: int) -> bytes:
        try:
            answer = get_within(url, self.deadline, max_length)
        except DeadlinePassedError:
            raise tuf_errors.SlowRetrievalError(
                f"the hub did not send {url.rsplit('/', 1)[-1]} within {METADATA_DEADLINE_S:g} s"
            ) from None
        except TooLargeError:
            raise tuf_errors.DownloadLengthMismatchError(
                f"Downloaded more than the maximum allowed length of {max_length} bytes"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise tuf_errors.DownloadError(str(exc) or type(exc).__name__) from exc
        if answer.status >= 400:
            raise tuf_errors.DownloadHTTPError(
                f"HTTP error occurred with status {answer.status}", answer.status
            )
        return answer.body

    def _fetch(self, url: str) -> Iterator[bytes]:
        return iter([self.download_bytes(url, _MAX_DOCUMENT_BYTES)])
