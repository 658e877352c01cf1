"""The usage-reporting extension point: where a run reports each stage's plugin use.

A hub implements it (``hub_index/usage.py``) to record usage rows and to supply the tiers of
installed plugins from its records; without a hub nothing is reported.
"""

from __future__ import annotations

from typing import Protocol

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
