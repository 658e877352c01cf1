"""A run's files: written whole or not at all, read as plain files, never through a link."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never half.

    The temporary file gets a fresh random name created exclusively, so a symbolic link
    planted where a temporary file would go is never followed; several processes may write
    the same file at once (the last one wins).
    """
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        tmp.chmod(0o644)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def read_regular(path: Path, limit: int) -> tuple[bytes, os.stat_result]:
    """At most ``limit`` bytes of the regular file ``path`` and its status, opened without
    following a link or waiting on a pipe; ``OSError`` for anything else."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return handle.read(limit), status
