"""Tiers of installed plugins from the hub's records.

Used by the pipeline's registry when a hub is configured: a plugin the hub revoked is
``quarantined`` and never loaded, even where it is still installed; a plugin the hub does not
know keeps the local default, ``generated``. The hub is never asked about this project's
own built-ins: the registry ranks them ``core`` itself.
"""

from __future__ import annotations

from hub_index.client import PluginHubClient
from hub_index.records import PluginRecord, PluginStatus
from plan_pipeline.trust import LocalTierPolicy, Tier


class HubTierPolicy:
    def __init__(self, client: PluginHubClient) -> None:
        self.client = client
        self._local = LocalTierPolicy()
        self._records: dict[tuple[str, str], PluginRecord | None] = {}
        self.in_process_tiers = frozenset(client.policy.in_process_tiers)

    def record_of(self, dist_name: str, version: str) -> PluginRecord | None:
        """The hub's record of an installed distribution, asked once per process."""
        key = (dist_name, version)
        if key not in self._records:
            self._records[key] = self.client.by_dist(dist_name, version)
        return self._records[key]

    def tier_of(self, dist_name: str, version: str) -> Tier:
        record = self.record_of(dist_name, version)
        if record is None:
            return self._local.tier_of(dist_name, version)
        if record.status is PluginStatus.REVOKED:
            return Tier.QUARANTINED
        return record.trust_tier
