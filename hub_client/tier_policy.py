"""Tiers of installed plugins from the hub's signed metadata.

Used by the pipeline's registry when a hub is configured: a plugin the hub revoked is
``quarantined`` and never loaded, even where it is still installed; a plugin the hub does not
know keeps the local default, ``generated``. The hub is never asked about this project's
own built-ins: the registry ranks them ``core`` itself.

A signed tier speaks of one wheel, not of a name and version: an installed distribution gets
a tier above ``generated`` only if its files on disk are the signed wheel's (the digest
``files_sha256`` the statement carries, ``plan_pipeline/installed_files.py``), checked on the very
distribution whose entry point the registry considers. Nothing a wheel writes about itself
(``direct_url.json``, ``RECORD``) counts: a build of the same name and version made elsewhere,
or one forging its install record, keeps ``generated`` and runs in a sandboxed worker.
"""

from __future__ import annotations

import sys
from importlib import metadata

from hub_client.client import PluginHubClient
from hub_client.metadata_client import SignedRelease
from plan_pipeline.installed_files import installed_files_problem
from plan_pipeline.trust import LocalTierPolicy, Tier


class HubTierPolicy:
    def __init__(self, client: PluginHubClient) -> None:
        self.client = client
        self._local = LocalTierPolicy()
        self._signed: dict[tuple[str, str], SignedRelease | None] = {}
        self._told: set[tuple[str, str]] = set()
        self.in_process_tiers = frozenset(client.policy.in_process_tiers)

    def tier_of(
        self, dist_name: str, version: str, installed: metadata.Distribution | None = None
    ) -> Tier:
        """The tier the hub's signed metadata states (checked against the local policy's
        root; looked up once per process); a distribution it never stated keeps the local
        default. A tier above ``generated`` holds only for the wheel it was signed for:
        ``installed`` (else the importable ``dist_name``) must hold its files."""
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
            files = signed.release.files_sha256
            if files is None and key not in self._told:
                self._told.add(key)
                sys.stderr.write(
                    f"warning: {dist_name} {version} is signed {signed.tier.value} without the "
                    "digest of its files (a statement of an older hub): it runs sandboxed as "
                    "generated until the admin states it again (plugin-hub promote)\n"
                )
            if dist is None or files is None or installed_files_problem(dist, files) is not None:
                return Tier.GENERATED
        return signed.tier


def _importable(dist_name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return None
