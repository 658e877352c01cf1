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
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

_METADATA_SUFFIXES = (".dist-info", ".egg-info")
_cache: dict[str, tuple[tuple[int, int, int], metadata.EntryPoints]] = {}
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
            found.extend(_of(os.path.join(folder, name), key).select(group=group))
    return found


def disowned() -> list[str]:
    """Why the entry points of some distributions were left out (see ``_of``)."""
    return sorted(_disowned.values())


def _of(info: str, key: str) -> metadata.EntryPoints:
    """The entry points of the distribution whose metadata folder is ``info`` (named ``key``).

    None when its ``METADATA`` names another distribution than its folder does: no installer
    writes that, and the registry ranks providers by the ``METADATA`` name (this project's
    own, a host's), which a second distribution could otherwise borrow beside the real one.
    """
    try:
        stat = os.stat(os.path.join(info, "entry_points.txt"))
    except OSError:
        return metadata.EntryPoints(())
    stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    cached = _cache.get(info)
    if cached is None or cached[0] != stamp:
        dist = metadata.PathDistribution(Path(info))
        named = str(dist.metadata["Name"] or "")
        _disowned.pop(info, None)
        if canonicalize_name(named) == key:
            cached = (stamp, dist.entry_points)
        else:
            _disowned[info] = (
                f"{info}: its METADATA names {named[:80]!r}, not the distribution its folder "
                "names; its entry points are ignored"
            )
            cached = (stamp, metadata.EntryPoints(()))
        _cache[info] = cached
    return cached[1]
