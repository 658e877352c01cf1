"""Tiers of installed plugins from the hub's signed metadata.

Used by the pipeline's registry when a hub is configured: a plugin the hub revoked is
``quarantined`` and never loaded, even where it is still installed; a plugin the hub does not
know keeps the local default, ``generated``. The hub is never asked about this project's
own built-ins: the registry ranks them ``core`` itself.

A signed tier speaks of one wheel (its sha256), not of a name and version: an installed
distribution gets a tier above ``generated`` only if its ``direct_url.json`` says it was
installed from that wheel (``hub_client/wheel_install.installed_from``), read from the very
distribution whose entry point the registry considers. A build of the same name and version
made elsewhere (a dry-run, a hand install, plain pip from the index) keeps ``generated`` and
runs in a sandboxed worker.
"""

from __future__ import annotations

from importlib import metadata

from hub_client.client import PluginHubClient
from hub_client.metadata_client import SignedRelease
from hub_client.wheel_install import installed_from
from plan_pipeline.trust import LocalTierPolicy, Tier


class HubTierPolicy:
    def __init__(self, client: PluginHubClient) -> None:
        self.client = client
        self._local = LocalTierPolicy()
        self._signed: dict[tuple[str, str], SignedRelease | None] = {}
        self.in_process_tiers = frozenset(client.policy.in_process_tiers)

    def tier_of(
        self, dist_name: str, version: str, installed: metadata.Distribution | None = None
    ) -> Tier:
        """The tier the hub's signed metadata states (checked against the local policy's
        root; looked up once per process); a distribution it never stated keeps the local
        default. A tier above ``generated`` holds only for the wheel it was signed for:
        ``installed`` (else the importable ``dist_name``) must come from those bytes."""
        key = (dist_name, version)
        if key not in self._signed:
            # refreshed at this process's first lookup; a release published since is one of
            # this run's own, whose tier is the local default anyway (generated)
            self._signed[key] = self.client.trusted.release(
                dist_name, version, refresh_on_miss=False
            )
        signed = self._signed[key]
        if signed is None:
            return self._local.tier_of(dist_name, version, installed)
        if signed.tier in (Tier.CORE, Tier.VERIFIED):
            dist = installed or _importable(dist_name)
            if dist is None or not installed_from(dist, signed.release.sha256):
                return Tier.GENERATED
        return signed.tier


def _importable(dist_name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return None
