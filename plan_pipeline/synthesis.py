"""Synthesis modes and the ``PluginSynthesizer`` extension point.

The pipeline does not build plugins itself. In the ``dry-run`` and ``publish`` modes it asks a
synthesizer, found through the ``planexe.synthesizers`` entry-point group (name ``default``
unless the run names another), to turn a ``PluginSpec`` into an installed, verified plugin.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

from plan_pipeline.errors import SynthesisUnavailableError
from plan_pipeline.extension_points import load_named
from plan_pipeline.hub_settings import HubSettings
from plan_pipeline.spec import PluginSpec

SYNTHESIZER_GROUP = "planexe.synthesizers"


class SynthesisMode(StrEnum):
    """What a run does when a capability is missing (the rollout phases)."""

    OFF = "off"
    """Stop with an error naming the missing capability."""
    SUGGEST = "suggest"
    """Phase 1: write the plugin spec next to the stage output and stop."""
    DRY_RUN = "dry-run"
    """Phase 2: synthesize and verify, install for this run only, publish nothing."""
    PUBLISH = "publish"
    """Phase 3: synthesize, verify, sign, publish to the hub and reuse."""


@dataclass(frozen=True)
class SynthesisRequest:
    """Everything a synthesizer gets for one missing capability."""

    spec: PluginSpec
    mode: SynthesisMode
    run_dir: Path
    plugin_dir: Path
    """Folder on ``sys.path`` for this run only; a dry-run installs the plugin here."""
    version_range: str | None = None
    """The stage's version range for the capability, if any."""
    hub: HubSettings | None = None
    """The hub to use; ``None``: the one the environment names (``PLANEXE_HUB_*``)."""
    on_event: Callable[[str], None] | None = None
    """Called with each progress line, from the synthesizer's own thread, as it is printed:
    a host's progress and stop callback (it may raise to stop the synthesis)."""


@dataclass(frozen=True)
class SynthesisOutcome:
    """What a synthesizer produced."""

    capability: str
    wheel: Path | None = None
    report: Path | None = None
    installed_into: Path | None = None
    notes: list[str] = field(default_factory=list)


@runtime_checkable
class PluginSynthesizer(Protocol):
    """Turns a spec into an installed, verified plugin, or raises a ``PlanPipelineError``."""

    def synthesize(self, request: SynthesisRequest) -> SynthesisOutcome: ...


def find_synthesizer(
    name: str | None = None, mode: SynthesisMode = SynthesisMode.DRY_RUN
) -> PluginSynthesizer:
    """Load the synthesizer registered under ``name`` in ``planexe.synthesizers``.

    Without a name: ``$PLANEXE_SYNTHESIZER``, else ``hub`` for the publish mode and
    ``default`` otherwise.
    """
    fallback = "hub" if mode is SynthesisMode.PUBLISH else "default"
    name = name or os.environ.get("PLANEXE_SYNTHESIZER") or fallback
    found = load_named(SYNTHESIZER_GROUP, name)
    if found is None:
        raise SynthesisUnavailableError(
            f"no plugin synthesizer named '{name}' is installed",
            "Install one that registers the 'planexe.synthesizers' entry point, or run with "
            "--synthesis suggest",
        )
    synthesizer, target = found
    if not isinstance(synthesizer, PluginSynthesizer):
        raise SynthesisUnavailableError(
            f"synthesizer '{name}' ({target}) has no synthesize() method",
            "Fix or uninstall the package that registers it",
        )
    return synthesizer
