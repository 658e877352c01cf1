"""Trust tiers and the policy that assigns them to installed plugins.

The registry ranks competing providers of one capability by tier first, then version. The
default policy knows only what is installed locally; the hub supplies a policy backed by its
records (tiers, revocations) through the same ``TierPolicy`` protocol.
"""

from __future__ import annotations

from enum import StrEnum
from importlib import metadata
from typing import Protocol

BUILTIN_DISTRIBUTION = "planexe-plugin-hub"
BUILTIN_MODULES = "plan_pipeline.builtins."
"""Entry points of the built-in capabilities point into this package."""


class Tier(StrEnum):
    """How far a plugin is trusted, best first. ``quarantined`` plugins are never loaded."""

    CORE = "core"
    VERIFIED = "verified"
    GENERATED = "generated"
    QUARANTINED = "quarantined"

    @property
    def rank(self) -> int:
        """Higher is more trusted."""
        return {"core": 3, "verified": 2, "generated": 1, "quarantined": 0}[self.value]


IN_PROCESS_TIERS = frozenset({Tier.CORE, Tier.VERIFIED})
"""Tiers whose plugins run in the pipeline's own process by default. Every other tier runs in
a sandboxed plugin worker (``plan_pipeline/plugin_worker.py``)."""


class TierPolicy(Protocol):
    """Tells the tier of an installed distribution, and which tiers may run in-process."""

    in_process_tiers: frozenset[Tier]

    def tier_of(
        self, dist_name: str, version: str, installed: metadata.Distribution | None = None
    ) -> Tier:
        """The tier of ``dist_name`` at ``version``; ``installed`` is the very distribution
        whose entry point is considered (a policy may ask where it was installed from)."""
        ...


class LocalTierPolicy:
    """The default without a hub: every plugin is ``generated`` (the registry itself ranks
    this project's built-ins ``core``; no policy is asked about them).

    A plugin installed by hand carries no hub record, so it gets the lowest loadable tier and
    loses any tie against a built-in or a reviewed plugin, and runs in a sandboxed worker.
    """

    in_process_tiers = IN_PROCESS_TIERS

    def tier_of(
        self, dist_name: str, version: str, installed: metadata.Distribution | None = None
    ) -> Tier:
        return Tier.GENERATED
