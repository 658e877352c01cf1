"""The command extension point: each part of the project adds its own commands to
``plugin-hub``, so the pipeline's command line never imports the parts above it.

An entry point in the group ``planexe.commands`` of this project's own distribution names a
function ``register(app)`` that adds commands to the Typer application (another
distribution's are not loaded: they would run in every ``plugin-hub`` call). Such a module
imports only Typer, Rich and the pipeline at module level; a command that needs an optional
part (the ``synth`` or ``hub`` extra) imports it inside ``needs_extra``, which turns a missing
dependency into one line naming the install.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Protocol

import typer
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from plan_pipeline.errors import MissingExtraError
from plan_pipeline.extension_points import distribution_of, host_entry_points
from plan_pipeline.trust import BUILTIN_DISTRIBUTION

COMMANDS_GROUP = "planexe.commands"
DISTRIBUTION = BUILTIN_DISTRIBUTION


class CommandGroup(Protocol):
    def __call__(self, app: typer.Typer) -> None:
        """Add this part's commands to ``app``."""
        ...


def add_command_groups(app: typer.Typer) -> None:
    """Let every installed part add its commands (once per application)."""
    if getattr(app, "_planexe_groups_added", False):
        return
    for ep in host_entry_points(COMMANDS_GROUP):
        if distribution_of(ep) != DISTRIBUTION:
            continue
        register: CommandGroup = ep.load()
        register(app)
    app._planexe_groups_added = True  # type: ignore[attr-defined]


@contextmanager
def needs_extra(extra: str, command: str) -> Iterator[None]:
    """Check that the ``extra``'s distributions are installed, then import what ``command``
    needs from it inside the block: a missing dependency becomes one line that names the
    install (also one the extra's code imports only later, deep inside a gate)."""
    try:
        _require_extra(extra)
        yield
    except ModuleNotFoundError as exc:
        raise MissingExtraError(
            f"'{command}' needs the {extra} extra of {DISTRIBUTION} ({exc.name} is not installed)",
            f"Install it: pip install '{DISTRIBUTION}[{extra}]'",
        ) from None


def _require_extra(extra: str, seen: frozenset[str] = frozenset()) -> None:
    """``ModuleNotFoundError`` naming the first distribution of this project's ``extra`` (as
    its installed metadata lists them) that is not installed."""
    try:
        requires = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:  # a source tree without metadata: nothing to check
        return
    for line in requires:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or "extra" not in str(marker) or not marker.evaluate({"extra": extra}):
            continue
        if canonicalize_name(requirement.name) == canonicalize_name(DISTRIBUTION):
            for inner in requirement.extras - seen - {extra}:  # [hub] brings [synth]
                _require_extra(inner, seen | {extra})
            continue
        try:
            metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            raise ModuleNotFoundError(
                f"No module named {requirement.name!r}", name=requirement.name
            ) from None
