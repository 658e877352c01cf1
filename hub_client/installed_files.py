"""Whether an installed distribution holds the very files of a signed wheel.

Everything an installed distribution says about its origin is written by whoever built or
installed it: ``direct_url.json``, ``INSTALLER``, ``RECORD``. What the registry runs in the
pipeline's process are its files, so trust is bound to them. A wheel, and an installed
distribution, reduce to one digest (``files_sha256``): the sha256 over the sorted list of the
files it holds inside site-packages, each as its path and the sha256 of its bytes. Left out
are what installers write themselves (``RECORD``, ``INSTALLER``, ``REQUESTED``,
``direct_url.json``, uv's ``uv_*.json``) and the bytecode they compile into ``__pycache__``.
The hub signs the digest of each wheel beside its sha256 (``PluginRelease.files_sha256``);
the client recomputes it from the bytes on disk, listed by the distribution's ``RECORD``.

Bytecode is not in the digest, yet Python runs a ``__pycache__`` file instead of its source
when the file's header says so (an unchecked hash-based ``.pyc`` is never compared with its
source at all). So the bytecode this interpreter would load for each listed source must hold
the code that source compiles to (code objects compared; nothing of it is executed).

Not covered, by design: a file another distribution writes into this one's folders. Any
installed distribution can already run code at every start of the interpreter (a ``.pth``
file), so an environment that installs packages of strangers is not defended by tiers.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import marshal
import zipfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

_INSTALLER_FILES = frozenset(
    {
        "RECORD",
        "RECORD.jws",
        "RECORD.p7s",
        "INSTALLER",
        "REQUESTED",
        "direct_url.json",
        "uv_cache.json",
        "uv_build.json",
    }
)
_LIBRARY_SCHEMES = ("purelib", "platlib")
_PYC_HEADER = 16


def wheel_files_sha256(data: bytes) -> str:
    """The files digest of the wheel ``data`` (``zipfile.BadZipFile`` if it is none)."""
    entries: list[tuple[str, str]] = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            path = _installed_path(info.filename)
            if path is not None and _counted(path):
                entries.append((path, hashlib.sha256(archive.read(info)).hexdigest()))
    return _digest(entries)


def installed_files_problem(dist: metadata.Distribution, files_sha256: str) -> str | None:
    """Why the installed ``dist`` does not hold the files whose digest is ``files_sha256``;
    ``None`` when it does (its bytes on disk, and the bytecode Python would load for them)."""
    listed = dist.files
    if listed is None:
        return "it has no RECORD of its files"
    entries: list[tuple[str, str]] = []
    sources: list[Path] = []
    for item in listed:
        path = item.as_posix()
        if not _counted(path):
            continue
        where = Path(str(dist.locate_file(item)))
        try:
            data = where.read_bytes()
        except OSError:
            return f"its file {path[:120]!r} is missing or unreadable"
        entries.append((path, hashlib.sha256(data).hexdigest()))
        if path.endswith(".py"):
            sources.append(where)
    if _digest(entries) != files_sha256:
        return "its files are not the signed wheel's"
    for source in sources:
        problem = _bytecode_problem(source)
        if problem is not None:
            return problem
    return None


def _installed_path(member: str) -> str | None:
    """Where a wheel member lands, relative to site-packages; ``None`` outside it (scripts,
    headers, data: never imported by the registry)."""
    parts = member.split("/")
    if len(parts) > 2 and parts[0].endswith(".data"):
        if parts[1] not in _LIBRARY_SCHEMES:
            return None
        return "/".join(parts[2:])
    return member


def _counted(path: str) -> bool:
    parts = path.split("/")
    if path.startswith("/") or ".." in parts or "__pycache__" in parts:
        return False
    in_dist_info = len(parts) == 2 and parts[0].endswith(".dist-info")
    return not (in_dist_info and parts[1] in _INSTALLER_FILES)


def _digest(entries: Iterable[tuple[str, str]]) -> str:
    lines = sorted(f"{path}\t{sha256}" for path, sha256 in entries)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _bytecode_problem(source: Path) -> str | None:
    """Why the bytecode this interpreter would load instead of ``source`` is not its code."""
    cached = Path(importlib.util.cache_from_source(str(source)))
    try:
        data = cached.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return f"its bytecode {cached.name!r} is unreadable"
    try:
        code = marshal.loads(data[_PYC_HEADER:])
        expected = compile(source.read_bytes(), str(source), "exec", dont_inherit=True)
    except (ValueError, EOFError, TypeError, SyntaxError, OSError):
        return f"its bytecode {cached.name!r} is not what its source compiles to"
    if code != expected:
        return f"its bytecode {cached.name!r} is not what its source compiles to"
    return None
