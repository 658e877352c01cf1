"""The installed entry points of a group, each distribution's read once per process.

``importlib.metadata.entry_points`` opens every installed distribution's files on every call:
several milliseconds in an environment of a few hundred distributions, paid again on each
registry refresh (after every plugin install). Here a distribution's entry points are cached
under its metadata folder and the modification time, size and inode of its
``entry_points.txt``; a call lists the folders on ``sys.path`` and stats those files only.
A distribution installed, upgraded or removed since shows up at once (new folders, new files).

Precedence is importlib's: of several distributions with one name, the first on ``sys.path``
counts, whether or not it has entry points. Only folders on ``sys.path`` are searched (no
zipped distributions; the pipeline's environments have none). Unlike importlib, a
distribution whose ``METADATA`` names another distribution than its folder contributes no
entry points (``disowned`` says which).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from email.parser import HeaderParser
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

_METADATA_SUFFIXES = (".dist-info", ".egg-info")


@dataclass
class _Installed:
    """One distribution's entry points, cached under the stat of its ``entry_points.txt``."""

    stamp: tuple[int, int, int]
    dist: metadata.PathDistribution
    entry_points: metadata.EntryPoints
    named_as_folder: bool | None = None
    """Whether its METADATA names the distribution its folder names (read when first needed)."""


_cache: dict[str, _Installed] = {}
_disowned: dict[str, str] = {}


def entry_points(group: str) -> list[metadata.EntryPoint]:
    """Every installed entry point of ``group``, in ``sys.path`` order."""
    found: list[metadata.EntryPoint] = []
    seen: set[str] = set()
    for folder in dict.fromkeys(entry or "." for entry in sys.path):
        try:  # in listing order, suffixes in any case: as importlib's own search
            names = [n for n in os.listdir(folder) if n.lower().endswith(_METADATA_SUFFIXES)]
        except OSError:
            continue  # a zip file, or a folder that is gone
        for name in names:
            key = canonicalize_name(name.rsplit(".", 1)[0].partition("-")[0])
            if key in seen:
                continue
            seen.add(key)
            found.extend(_of(os.path.join(folder, name), key, group))
    return found


def disowned() -> list[str]:
    """Why the entry points of some distributions were left out (see ``_of``)."""
    return sorted(_disowned.values())


def _of(info: str, key: str, group: str) -> list[metadata.EntryPoint]:
    """The entry points in ``group`` of the distribution whose metadata folder is ``info``
    (named ``key``).

    None when its ``METADATA`` names another distribution than its folder does: no installer
    writes that, and the registry ranks providers by the ``METADATA`` name (this project's
    own, a host's), which a second distribution could otherwise borrow beside the real one.
    The name is read only for distributions with entry points in a group asked for.
    """
    try:
        stat = os.stat(os.path.join(info, "entry_points.txt"))
    except OSError:
        return []
    stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    installed = _cache.get(info)
    if installed is None or installed.stamp != stamp:
        dist = metadata.PathDistribution(Path(info))
        installed = _cache[info] = _Installed(stamp, dist, dist.entry_points)
        _disowned.pop(info, None)
    selected = list(installed.entry_points.select(group=group))
    if selected and installed.named_as_folder is None:
        named = _metadata_name(installed.dist)
        installed.named_as_folder = canonicalize_name(named) == key
        if not installed.named_as_folder:
            _disowned[info] = (
                f"{info}: its METADATA names {named[:80]!r}, not the distribution its folder "
                "names; its entry points are ignored"
            )
    return selected if installed.named_as_folder else []


def _metadata_name(dist: metadata.PathDistribution) -> str:
    """The ``Name`` header of ``dist``'s metadata, parsing the headers only."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    return str(HeaderParser().parsestr(text.partition("\n\n")[0]).get("Name") or "")
