"""Tiers of installed plugins from the hub's records.

Used by the pipeline's registry when a hub is configured: a plugin the hub revoked is
``quarantined`` and never loaded, even where it is still installed; a plugin the hub does not
know keeps the local default (built-ins ``core``, anything else ``generated``).
"""

from __future__ import annotations

from hub_index.client import PluginHubClient
from hub_index.records import PluginStatus
from plan_pipeline.trust import LocalTierPolicy, Tier


class HubTierPolicy:
    def __init__(self, client: PluginHubClient) -> None:
        self.client = client
        self._local = LocalTierPolicy()
        self._cache: dict[tuple[str, str], Tier] = {}

    def tier_of(self, dist_name: str, version: str) -> Tier:
        key = (dist_name, version)
        if key not in self._cache:
            record = self.client.by_dist(dist_name, version)
            if record is None:
                tier = self._local.tier_of(dist_name, version)
            elif record.status is PluginStatus.REVOKED:
                tier = Tier.QUARANTINED
            else:
                tier = record.trust_tier
            self._cache[key] = tier
        return self._cache[key]
