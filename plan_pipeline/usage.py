"""The usage-reporting extension point: where a run reports each stage's plugin use.

A hub implements it (``hub_client/usage.py``) to record usage rows and to supply the tiers of
installed plugins from its records; without a hub nothing is reported. The entry point (group
``planexe.usage_reporters``) names a function without arguments that makes the reporter from
the environment (``PLANEXE_HUB_*``), or from the ``HubSettings`` it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal, Protocol

from plan_pipeline.contract import CapabilityNeed
from plan_pipeline.errors import ContractViolationError, PlanFileError
from plan_pipeline.extension_points import load_named
from plan_pipeline.hub_settings import HubSettings
from plan_pipeline.trust import TierPolicy

Resolution = Literal["installed", "synthesized", "reused", "near-match", "missed"]
"""How a stage got its capability: it was ``installed``, it missed it and the synthesizer
made it in this run (``synthesized``), the hub's published plugin answered (``reused``), a
plugin the hub has for another capability answered through a gated adapter made in this run
(``near-match``), or nothing answered (``missed``)."""


@dataclass(frozen=True)
class StageResult:
    stage: str
    output: Path
    seconds: float
    dist_name: str
    version: str
    markdown: Path | None = None
    """The stage's markdown output, where it writes one."""

    @property
    def provider(self) -> str:
        return f"{self.dist_name} {self.version}"


class UsageReporter(Protocol):
    def check_setup(self, publish: bool) -> None:
        """Raise a ``PlanPipelineError`` naming the fix when the hub's set-up is incomplete
        (for ``publish``: also when the hub cannot take this run's writes)."""
        ...

    def tier_policy(self) -> TierPolicy:
        """The tier policy the registry should use."""
        ...

    def report(
        self,
        stage: CapabilityNeed,
        run_id: str,
        result: StageResult | None,
        seconds: float,
        error_type: str | None,
        time_to_capability_ms: float | None,
        resolution: Resolution | None = None,
        run_dir: Path | None = None,
        violation: ContractViolationError | None = None,
    ) -> None:
        """Record one stage execution; must never raise. ``resolution``: how the stage got
        its capability (``PluginResolver.resolution``; ``installed`` when it was there);
        ``run_dir``: where a row the hub cannot take now is kept until it can;
        ``violation``: the stage failed because the plugin's answer broke its contract (a
        report against that plugin)."""
        ...


USAGE_REPORTERS_GROUP = "planexe.usage_reporters"


def usage_reporter(name: str, hub: HubSettings | None = None) -> UsageReporter:
    """The reporter registered as ``name``, made from ``hub`` or else the environment."""
    found = load_named(USAGE_REPORTERS_GROUP, name)
    if found is None:
        raise PlanFileError(
            f"no usage reporter '{name}' is installed (entry point group {USAGE_REPORTERS_GROUP})",
            "Reinstall planexe-plugin-hub, or unset PLANEXE_HUB_HOME and PLANEXE_HUB_URL",
        )
    reporter: UsageReporter = found[0]() if hub is None else found[0](hub)
    return reporter


@cache
def configured_reporter(hub: HubSettings | None = None) -> UsageReporter | None:
    """The hub's reporter when a hub is configured (``hub``, else the environment), else none.

    Made once per process and settings: it holds the hub client and its verified metadata.
    """
    settings = hub if hub is not None else HubSettings.from_environ()
    return usage_reporter("hub", hub) if settings.configured else None


def check_hub_setup(publish: bool, hub: HubSettings | None = None) -> None:
    """Check the run's hub set-up before any stage runs: a configured hub's files, address
    and (``publish``) token, or, for ``publish``, that a hub is configured at all."""
    reporter = configured_reporter(hub)
    if reporter is not None:
        reporter.check_setup(publish)
    elif publish:
        raise PlanFileError(
            "the publish mode needs a hub, and none is configured",
            "Set PLANEXE_HUB_HOME (a hub on this machine), or PLANEXE_HUB_URL, "
            "PLANEXE_HUB_POLICY and PLANEXE_HUB_TOKEN ('plugin-hub export-client HOME FOLDER "
            "--with-token' on the hub's machine writes them)",
        )
