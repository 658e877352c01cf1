"""Loading a named implementation of an extension point from its entry-point group."""

from __future__ import annotations

from typing import Any

from plan_pipeline.installed_entry_points import entry_points


def load_named(group: str, name: str) -> tuple[Any, str] | None:
    """The object registered as ``name`` in ``group`` (a class is instantiated) and the entry
    point's target, or ``None`` when nothing has that name."""
    for ep in entry_points(group):
        if ep.name == name:
            factory = ep.load()
            return (factory() if isinstance(factory, type) else factory), ep.value
    return None


def names_in(group: str) -> list[str]:
    """Every name registered in ``group``, sorted."""
    return sorted(ep.name for ep in entry_points(group))
