"""Usage rows for the hub: one per stage execution of a run pointing at the hub."""

from __future__ import annotations

import logging
from typing import cast, get_args

from hub_index.client import PluginHubClient
from hub_index.errors import HubError
from hub_index.records import UsageRecord
from hub_index.tier_policy import HubTierPolicy
from plan_pipeline.contract import CapabilityNeed
from plan_pipeline.hub_settings import HubSettings
from plan_pipeline.usage import Resolution, StageResult

log = logging.getLogger("planexe")


class HubUsageReporter:
    def __init__(self, client: PluginHubClient) -> None:
        self.client = client
        self._tiers = HubTierPolicy(client)

    @classmethod
    def from_env(cls, hub: HubSettings | None = None) -> HubUsageReporter:
        # an unreachable hub is no reason to stop here: installed plugins keep running under
        # the signed metadata verified before (said once on standard error), and a stage that
        # needs the hub fails with the fix
        environ = hub.environ() if hub is not None else None
        return cls(PluginHubClient.from_env(environ, role="publish"))

    def tier_policy(self) -> HubTierPolicy:
        return self._tiers

    def report(
        self,
        stage: CapabilityNeed,
        run_id: str,
        result: StageResult | None,
        seconds: float,
        error_type: str | None,
        time_to_capability_ms: float | None,
        resolution: str | None = None,
    ) -> None:
        try:
            plugin_id = None
            if result is not None and result.dist_name:
                record = self.client.by_dist(result.dist_name, result.version)
                plugin_id = record.plugin_id if record else None
            self.client.record_usage(
                UsageRecord(
                    plugin_id=plugin_id,
                    capability=stage.capability,
                    run_id=run_id,
                    success=error_type is None,
                    latency_ms=seconds * 1000,
                    error_type=error_type,
                    time_to_capability_ms=time_to_capability_ms,
                    resolution=_resolution(resolution),
                )
            )
        except HubError as exc:  # usage is bookkeeping: never fail a stage for it
            log.warning("could not record usage of stage %s: %s", stage.name, exc)


def _resolution(value: str | None) -> Resolution | None:
    """``value`` as a usage row's resolution (``None``: the stage ended before it resolved
    its capability, or the client does not say)."""
    return cast(Resolution, value) if value in get_args(Resolution) else None


def from_environment(hub: HubSettings | None = None) -> HubUsageReporter:
    """The ``hub`` entry point of ``planexe.usage_reporters``: ``hub``, else the environment."""
    return HubUsageReporter.from_env(hub)
