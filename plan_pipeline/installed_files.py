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

Files the ``RECORD`` does not list count too, where Python would import them instead of a
listed one: in every folder that holds a listed file (but site-packages itself) any other
file is refused, bytecode in ``__pycache__`` aside, and in site-packages any entry that
shadows a listed top-level module (a package folder ``name/`` or an extension module
``name.*.so`` beside ``name.py``, which Python prefers). So another distribution, even one
the hub signed with its online key alone, cannot slip code into a verified plugin's folders.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import io
import marshal
import os
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


def installed_files_sha256(dist: metadata.Distribution) -> str | None:
    """The files digest of the installed ``dist``, from its bytes on disk (what the hub signs
    as ``files_sha256`` for the wheel it came from); ``None`` without a RECORD or with a listed
    file missing or unreadable."""
    read = _read_listed(dist)
    return _digest(read[0]) if isinstance(read, tuple) else None


def installed_files_problem(dist: metadata.Distribution, files_sha256: str) -> str | None:
    """Why the installed ``dist`` does not hold the files whose digest is ``files_sha256``;
    ``None`` when it does (its bytes on disk, and the bytecode Python would load for them)."""
    read = _read_listed(dist)
    if isinstance(read, str):
        return read
    entries, sources = read
    if _digest(entries) != files_sha256:
        return "its files are not the signed wheel's"
    problem = _unlisted_problem(dist, {path for path, _ in entries})
    if problem is not None:
        return problem
    for source in sources:
        problem = _bytecode_problem(source)
        if problem is not None:
            return problem
    return None


def _read_listed(dist: metadata.Distribution) -> tuple[list[tuple[str, str]], list[Path]] | str:
    """The counted files of ``dist``'s RECORD with their sha256, and its Python sources; or
    why they cannot be read."""
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
    return entries, sources


def _unlisted_problem(dist: metadata.Distribution, listed: set[str]) -> str | None:
    """Why a file beside the listed ones would be imported instead of or with them."""
    root = Path(str(dist.locate_file("")))
    folders = {str(Path(path).parent) for path in listed} - {"."}
    for folder in sorted(folders):
        if folder.split("/")[0].endswith(".dist-info"):
            continue
        try:
            names = os.listdir(root / folder)
        except OSError:
            continue
        for name in names:
            relative = f"{folder}/{name}"
            if name == "__pycache__" or relative in listed:
                continue
            if (root / relative).is_dir() and any(p.startswith(relative + "/") for p in listed):
                continue  # a listed subpackage: its own files are checked in turn
            return f"{relative[:120]!r} is beside its files but not one of them"
    modules = {path[:-3] for path in listed if "/" not in path and path.endswith(".py")}
    for name in sorted(modules):
        for shadow in [root / name, *root.glob(f"{glob.escape(name)}.*")]:
            if shadow.exists() and shadow.name not in listed and shadow.name != f"{name}.py":
                return f"{shadow.name[:120]!r} shadows its module {name}.py"
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
