"""Installing a verified wheel into the running virtualenv, in this process (pypa ``installer``).

The client holds the wheel's bytes in memory, checked against the signed metadata. Installing
those very bytes needs no second download and no installer process: uv or pip first query the
target interpreter, which costs about 50 ms on a new environment, more than the rest of the
reuse path's install. ``installer`` is the PyPA's reference wheel installer; it refuses paths
outside the scheme's folders.

Used only where it is the whole job: the target is this interpreter's virtualenv, and no
version of the distribution is installed there (an upgrade needs an uninstall, which uv does).
The environment's lock file is held meanwhile (the one uv locks), so concurrent installs into
one environment take turns. A failed install removes every file and folder it created.
``direct_url.json`` records the hub's content address, as uv and pip write it for the pinned
URL install.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.records import RecordEntry
from installer.sources import WheelFile
from installer.utils import Scheme

from hub_index.errors import WheelInstallError

INSTALLER_NAME = "planexe-plugin-hub"


def installs_here(python: str | None) -> bool:
    """Whether ``python`` is this process's interpreter, running in a virtualenv."""
    return (python is None or python == sys.executable) and sys.prefix != sys.base_prefix


@contextlib.contextmanager
def environment_lock() -> Iterator[None]:
    """This virtualenv's lock (``<prefix>/.lock``, the file uv locks for its installs)."""
    with open(Path(sys.prefix) / ".lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def installed_version(dist_name: str) -> str | None:
    """The version of ``dist_name`` importable here, if any."""
    try:
        return metadata.version(dist_name)
    except metadata.PackageNotFoundError:
        return None


def install_verified(
    data: bytes, filename: str, url: str, sha256: str, scheme: dict[str, str] | None = None
) -> None:
    """Install the wheel ``data`` (``filename``, already checked to have ``sha256``) into this
    virtualenv (or the folders of ``scheme``), recording ``url`` as where it came from. Call
    under ``environment_lock`` after checking that no version of it is installed."""
    direct_url = {"url": url, "archive_info": {"hashes": {"sha256": sha256}}}
    destination = _RecordingDestination(
        scheme_dict=scheme or sysconfig.get_paths(),
        interpreter=sys.executable,
        script_kind="posix",
    )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.filename = filename
            source = WheelFile(archive)
            source.validate_record()
            install(
                source,
                destination,
                {
                    "INSTALLER": f"{INSTALLER_NAME}\n".encode(),
                    "direct_url.json": json.dumps(direct_url).encode(),
                },
            )
    except Exception as exc:  # a bad archive, a path outside the scheme, a full disk
        destination.undo()
        raise WheelInstallError(
            f"installing {filename} failed: {type(exc).__name__}: {exc}",
            "Nothing of it was installed; revoke the plugin on the hub and publish it again",
        ) from None


@dataclass
class _RecordingDestination(SchemeDictionaryDestination):
    """Remembers the files and folders it creates, so a failed install can remove them."""

    created: list[Path] = field(default_factory=list)

    def write_to_fs(
        self, scheme: Scheme, path: str, stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        target = Path(os.path.abspath(Path(self.scheme_dict[scheme]) / path))
        missing: list[Path] = []
        for created in (target, *target.parents):
            if created.exists():
                break  # existing files and folders stay as they are
            missing.append(created)
        self.created.extend(reversed(missing))  # folders before what they hold
        return super().write_to_fs(scheme, path, stream, is_executable)

    def undo(self) -> None:
        for created in reversed(self.created):
            with contextlib.suppress(OSError):
                created.rmdir() if created.is_dir() else created.unlink()
        self.created.clear()
