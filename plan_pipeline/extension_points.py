"""Loading a named implementation of an extension point from its entry-point group.

These extension points (synthesizers, code generators, usage reporters, command groups) run
in the pipeline's own process, so they never come from a generated plugin's distribution
(the ``planexe-gen-`` namespace, the only one the hub publishes generated plugins under):
whoever installed it, a generated plugin's code runs only in a sandboxed worker, through
``planexe.plugins``.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

from packaging.utils import canonicalize_name

from plan_pipeline.capability_names import GENERATED_DIST_PREFIX
from plan_pipeline.installed_entry_points import entry_points
from plan_pipeline.trust import BUILTIN_DISTRIBUTION


def host_entry_points(group: str) -> list[EntryPoint]:
    """The entry points of ``group`` that may run in this process; this project's own first,
    so that another distribution cannot take one of its names (``hub``, ``default``)."""
    allowed = [
        ep
        for ep in entry_points(group)
        if not distribution_of(ep).startswith(GENERATED_DIST_PREFIX)
    ]
    return sorted(allowed, key=lambda ep: distribution_of(ep) != BUILTIN_DISTRIBUTION)


def distribution_of(ep: EntryPoint) -> str:
    """The canonical name of the distribution that declares ``ep`` ("" if unknown)."""
    return canonicalize_name(ep.dist.name) if ep.dist is not None else ""


def load_named(group: str, name: str) -> tuple[Any, str] | None:
    """The object registered as ``name`` in ``group`` (a class is instantiated) and the entry
    point's target, or ``None`` when nothing has that name."""
    for ep in host_entry_points(group):
        if ep.name == name:
            factory = ep.load()
            return (factory() if isinstance(factory, type) else factory), ep.value
    return None


def names_in(group: str) -> list[str]:
    """Every name registered in ``group``, sorted."""
    return sorted(ep.name for ep in host_entry_points(group))
