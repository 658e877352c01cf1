"""Plugins this environment no longer runs: each gave an answer that broke its stage contract.

A sandboxed plugin's answers are checked at run time (``answer_checks.py``); the first that
breaks the stage contract fails the stage and puts the plugin (distribution and version) here.
The registry ranks a quarantined plugin ``quarantined``, so it is never loaded again in this
environment: the next run resolves the capability anew (another provider, the hub, or a
synthesis). ``plugin-hub quarantine`` lists the entries and releases one.

The list is the user's, per environment: ``$XDG_STATE_HOME/planexe-plugin-hub/quarantine/
<digest of the environment's prefix>.json``, in folders only the user can write (another local
user can neither add nor remove an entry).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from packaging.utils import canonicalize_name
from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from plan_pipeline.errors import PlanFileError
from plan_pipeline.files import write_atomic


class QuarantineEntry(BaseModel):
    dist_name: str = Field(max_length=1000)
    version: str = Field(max_length=1000)
    capability: str = Field(max_length=1000)
    reason: str = Field(max_length=1000)
    at: AwareDatetime


class _Entries(BaseModel):
    entries: list[QuarantineEntry] = Field(default_factory=list)


def _names(entry: QuarantineEntry, dist_name: str, version: str) -> bool:
    """Whether ``entry`` is the release ``dist_name`` ``version`` (names compared as pip
    compares them)."""
    same_name = canonicalize_name(entry.dist_name) == canonicalize_name(dist_name)
    return same_name and entry.version == version


def default_path() -> Path:
    """This user's quarantine list for the running environment (``sys.prefix``)."""
    state = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(state):  # a relative value is ignored, as the XDG spec says
        state = str(Path.home() / ".local" / "state")
    prefix = str(Path(sys.prefix).resolve())
    digest = hashlib.sha256(prefix.encode()).hexdigest()[:16]
    return Path(state) / "planexe-plugin-hub" / "quarantine" / f"{digest}.json"


class LocalQuarantine:
    """The quarantine list at ``path`` (``default_path()`` when none), read once."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self._entries: list[QuarantineEntry] | None = None

    def entries(self) -> list[QuarantineEntry]:
        if self._entries is None:
            self._entries = self._read()
        return list(self._entries)

    def holds(self, dist_name: str, version: str) -> bool:
        return any(_names(e, dist_name, version) for e in self.entries())

    def add(self, dist_name: str, version: str, capability: str, reason: str) -> None:
        """Quarantine ``dist_name`` ``version`` here (kept if it already is)."""
        entry = QuarantineEntry(
            dist_name=dist_name,
            version=version,
            capability=capability,
            reason=reason[:1000],
            at=datetime.now(UTC),
        )
        with self._locked():
            entries = self._read()
            if not any(_names(e, dist_name, version) for e in entries):
                entries.append(entry)
                self._write(entries)
            self._entries = entries

    def release(self, dist_name: str, version: str) -> bool:
        """Take ``dist_name`` ``version`` off the list; whether it was on it."""
        with self._locked():
            entries = self._read()
            kept = [e for e in entries if not _names(e, dist_name, version)]
            if len(kept) != len(entries):
                self._write(kept)
            self._entries = kept
        return len(kept) != len(entries)

    def _read(self) -> list[QuarantineEntry]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):  # nothing was ever quarantined here
            return []
        except OSError as exc:
            raise PlanFileError(
                f"cannot read the quarantine list {self.path}: {exc.strerror}",
                "Fix its permissions (it is this user's file)",
            ) from None
        try:
            return _Entries.model_validate(json.loads(text)).entries
        except (ValueError, ValidationError, RecursionError):
            raise PlanFileError(
                f"the quarantine list {self.path} is not valid",
                "Delete it (every plugin it held may then run again) or restore it",
            ) from None

    def _write(self, entries: list[QuarantineEntry]) -> None:
        text = _Entries(entries=entries).model_dump_json(indent=2) + "\n"
        write_atomic(self.path, text=text)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        folder = self.path.parent
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            lock = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise PlanFileError(
                f"cannot write the quarantine list in {folder}: {exc.strerror}",
                "Set XDG_STATE_HOME to a folder this user can write",
            ) from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        finally:
            os.close(lock)
