"""The index's files: only recorded, active releases are in the folder pypiserver serves.

Three folders of the hub home:

- ``staging/``: uploads and the hub's own rebuilds before they become records. Not served.
- ``packages/``: what pypiserver serves (``/simple/``, ``/packages/``) and the API's
  ``/files/``. A file gets here only after its record was written, by a rename.
- ``revoked/``: files of revoked releases. Never served again.

Nobody but the hub writes these folders: pypiserver's upload password is kept nowhere, so
its upload and remove calls are refused to everyone. ``reconcile`` runs when the hub starts:
a served file that no active record vouches for (an upload that never became a record, a
crash between two steps, bytes that differ from the record's) moves out of the served
folder, and a recorded file still in staging moves in.

Between starts, the index serves only what the hub itself put in the served folder: each
move in or out updates ``served.json`` (the file's name, inode, size and modification time),
and the index (``index_main.py``) lists a file only while it matches its entry there. A file
placed in the folder by hand, or one replaced in place, is not served, at any time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from hub_client.bundles import sha256_hex
from hub_client.errors import HubError
from hub_client.records import PluginRecord

_WHEEL = re.compile(
    r"[A-Za-z0-9_.]+-[A-Za-z0-9_.!+]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+\.whl"
)


def check_wheel_name(filename: str) -> str:
    """``filename`` if it is a plain wheel file name (never a path), else ``HubError``."""
    if not _WHEEL.fullmatch(filename) or filename.startswith("."):
        raise HubError(
            f"{filename[:120]!r} is not a wheel file name",
            "Send the wheel's own file name, e.g. name-1.0.0-py3-none-any.whl",
        )
    return filename


@dataclass(frozen=True)
class IndexFiles:
    packages: Path
    staging: Path
    revoked: Path
    manifest: Path
    """``served.json``: the files the hub put in ``packages`` (``index_main.py`` reads it)."""

    def served(self, filename: str) -> Path:
        return self.packages / check_wheel_name(filename)

    def staged(self, filename: str) -> Path:
        return self.staging / check_wheel_name(filename)

    def wheel_of(self, record: PluginRecord) -> bytes | None:
        """The bytes of ``record``'s wheel, served or staged, when they are its own."""
        for path in (self.served(record.filename), self.staged(record.filename)):
            if path.is_file():
                data = path.read_bytes()
                if sha256_hex(data) == record.checksum:
                    return data
        return None

    def stage(self, filename: str, data: bytes) -> Path:
        """Write ``data`` to staging as ``filename`` (atomically); the same name with other
        bytes already staged is replaced: nothing points at a staged file yet."""
        path = self.staged(filename)
        self.staging.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        tmp.write_bytes(data)
        tmp.replace(path)
        return path

    def serve(self, filename: str, sha256: str) -> None:
        """Move a staged file into the served folder once its record exists. Idempotent: a
        file already served with those bytes stays."""
        target = self.served(filename)
        if target.is_file() and sha256_hex(target.read_bytes()) == sha256:
            self.staged(filename).unlink(missing_ok=True)
            return
        staged = self.staged(filename)
        if not staged.is_file() or sha256_hex(staged.read_bytes()) != sha256:
            raise HubError(
                f"the hub has no staged {filename} with sha256 {sha256}",
                "Upload or publish the release again",
            )
        self.packages.mkdir(parents=True, exist_ok=True)
        staged.replace(target)
        self._note(filename, target)

    def withdraw(self, filename: str) -> None:
        """Move a served file to ``revoked/``: it is never served again."""
        source = self.served(filename)
        self._note(filename, None)
        self.revoked.mkdir(parents=True, exist_ok=True)
        if source.is_file():
            source.replace(self.revoked / source.name)
        self.staged(filename).unlink(missing_ok=True)

    def _note(self, filename: str, path: Path | None) -> None:
        """Record in the manifest that the hub serves ``path`` as ``filename`` (``None``: no
        longer), under the manifest's lock (API processes and threads take turns)."""
        with _locked(self.manifest.with_name(f".{self.manifest.name}.lock")):
            entries = read_manifest(self.manifest)
            if path is None:
                entries.pop(filename, None)
            else:
                entries[filename] = file_stamp(path)
            partial = self.manifest.with_name(f".{self.manifest.name}.{os.getpid()}.part")
            partial.write_text(json.dumps(entries, sort_keys=True))
            partial.replace(self.manifest)

    def reconcile(self, active: Mapping[str, str]) -> list[str]:
        """Make the served folder hold exactly the files of ``active`` (file name -> sha256)
        that exist; what it moved, one line each."""
        moved = []
        if self.packages.is_dir():
            for path in sorted(self.packages.iterdir()):
                if not path.is_file():
                    continue
                wanted = active.get(path.name)
                if wanted is not None and sha256_hex(path.read_bytes()) == wanted:
                    continue
                self.staging.mkdir(parents=True, exist_ok=True)
                quarantine = self.staging / f"unrecorded-{path.name}"
                shutil.move(str(path), quarantine)
                self._note(path.name, None)
                why = "differs from its record" if wanted else "has no active record"
                moved.append(f"{path.name} {why}: moved out of the served folder")
        for filename, sha256 in sorted(active.items()):
            if self.served(filename).is_file():
                self._note(filename, self.served(filename))  # checked above: its bytes
                continue
            try:
                self.serve(filename, sha256)
                moved.append(f"{filename} was recorded but not served: now served")
            except HubError:
                moved.append(f"{filename} is recorded but its file is missing")
        return moved


def file_stamp(path: Path) -> list[int]:
    """What identifies a file's present bytes cheaply: inode, size, modification time."""
    info = path.stat()
    return [info.st_ino, info.st_size, info.st_mtime_ns]


def read_manifest(path: Path) -> dict[str, list[int]]:
    """The served files the manifest at ``path`` lists (none when it is missing or unreadable)."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
