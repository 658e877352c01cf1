"""Tiers of installed plugins from the hub's signed metadata.

Used by the pipeline's registry when a hub is configured: a plugin the hub revoked is
``quarantined`` and never loaded, even where it is still installed; a plugin the hub does not
know keeps the local default, ``generated``. The hub is never asked about this project's
own built-ins: the registry ranks them ``core`` itself.
"""

from __future__ import annotations

from hub_index.client import PluginHubClient
from plan_pipeline.trust import LocalTierPolicy, Tier


class HubTierPolicy:
    def __init__(self, client: PluginHubClient) -> None:
        self.client = client
        self._local = LocalTierPolicy()
        self._tiers: dict[tuple[str, str], Tier | None] = {}
        self.in_process_tiers = frozenset(client.policy.in_process_tiers)

    def tier_of(self, dist_name: str, version: str) -> Tier:
        """The tier the hub's signed metadata states (checked against the local policy's
        root), once per process; a distribution it never stated keeps the local default."""
        key = (dist_name, version)
        if key not in self._tiers:
            self._tiers[key] = self.client.tier_of(dist_name, version)
        return self._tiers[key] or self._local.tier_of(dist_name, version)
