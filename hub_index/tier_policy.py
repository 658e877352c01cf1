"""Tiers of installed plugins from the hub's signed metadata.

Used by the pipeline's registry when a hub is configured: a plugin the hub revoked is
``quarantined`` and never loaded, even where it is still installed; a plugin the hub does not
know keeps the local default, ``generated``. The hub is never asked about this project's
own built-ins: the registry ranks them ``core`` itself.

A signed tier speaks of one wheel (its sha256), not of a name and version: an installed
distribution gets a tier above ``generated`` only if it was installed from that wheel's
content address on the hub (``direct_url.json``, which uv and pip write for the pinned
``name @ .../files/<sha256>/<file>`` install the client does). A build of the same name and
version made elsewhere (a dry-run, a hand install, plain pip from the index) keeps
``generated`` and runs in a sandboxed worker.
"""

from __future__ import annotations

import json
from importlib import metadata

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
            self._tiers[key] = self._signed_tier(dist_name, version)
        return self._tiers[key] or self._local.tier_of(dist_name, version)

    def _signed_tier(self, dist_name: str, version: str) -> Tier | None:
        signed = self.client.trusted.release(dist_name, version)
        if signed is None:
            return None
        if signed.tier in (Tier.CORE, Tier.VERIFIED) and not _installed_from(
            dist_name, signed.release.sha256
        ):
            return Tier.GENERATED
        return signed.tier


def _installed_from(dist_name: str, sha256: str) -> bool:
    """Whether the importable ``dist_name`` was installed from the hub's file ``sha256``."""
    try:
        text = metadata.distribution(dist_name).read_text("direct_url.json")
        url = str(json.loads(text or "{}").get("url", ""))
    except (metadata.PackageNotFoundError, ValueError, AttributeError):
        return False
    return f"/files/{sha256}/" in url
