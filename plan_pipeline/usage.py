"""The usage-reporting extension point: where a run reports each stage's plugin use.

A hub implements it (``hub_index/usage.py``) to record usage rows and to supply the tiers of
installed plugins from its records; without a hub nothing is reported. The entry point (group
``planexe.usage_reporters``) names a function without arguments that makes the reporter from
the environment (``PLANEXE_HUB_*``).
"""

from __future__ import annotations

from typing import Protocol

from plan_pipeline.errors import PlanFileError
from plan_pipeline.extension_points import load_named
from plan_pipeline.plan import Stage
from plan_pipeline.stage_runner import StageResult
from plan_pipeline.trust import TierPolicy


class UsageReporter(Protocol):
    def tier_policy(self) -> TierPolicy:
        """The tier policy the registry should use."""
        ...

    def report(
        self,
        stage: Stage,
        run_id: str,
        result: StageResult | None,
        seconds: float,
        error_type: str | None,
        time_to_capability_ms: float | None,
    ) -> None:
        """Record one stage execution; must never raise."""
        ...


USAGE_REPORTERS_GROUP = "planexe.usage_reporters"


def usage_reporter(name: str) -> UsageReporter:
    """The reporter registered as ``name``, made from the environment."""
    found = load_named(USAGE_REPORTERS_GROUP, name)
    if found is None:
        raise PlanFileError(
            f"no usage reporter '{name}' is installed (entry point group {USAGE_REPORTERS_GROUP})",
            "Reinstall planexe-plugin-hub, or unset PLANEXE_HUB_HOME and PLANEXE_HUB_URL",
        )
    reporter: UsageReporter = found[0]()
    return reporter
