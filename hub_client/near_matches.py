"""A miss served by a plugin the hub already has, through a gated adapter (publish mode).

Before a synthesis, the hub's signed releases of other capabilities are ranked by how alike
their contracts look (``synthesizer.near_match``). The wheels of the best are downloaded and
verified like any install (the signed metadata, the signature bundle, the local policy's tiers
and quarantine), their spec and logic read as data, and for each of the best ``TOP_K`` an
adapter is made and run through every gate of the new contract. The first that passes is the
plugin published for the new capability; if none passes, the caller synthesizes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import Version

from hub_client.client import PluginHubClient
from hub_client.errors import HubConfigError, HubError
from hub_client.records import PluginRecord, PluginStatus
from plan_pipeline.published_wheel import read_published
from plan_pipeline.spec import PluginSpec
from plan_pipeline.trust import Tier

if TYPE_CHECKING:
    from synthesizer.synthesize import SynthesisResult

READ_AT_MOST = 12
"""The most candidate wheels read for one miss (best by name and summary first)."""
SWITCH = "PLANEXE_NEAR_MATCH"
"""``off`` (or ``0``) skips near matches: every miss the hub cannot serve exactly is
synthesized."""


def near_matching(environ: Mapping[str, str] | None = None) -> bool:
    """Whether misses look for near matches (``PLANEXE_NEAR_MATCH``, on by default)."""
    value = (os.environ if environ is None else environ).get(SWITCH, "on").strip().lower()
    if value in ("on", "1", "true", "yes", ""):
        return True
    if value in ("off", "0", "false", "no"):
        return False
    raise HubConfigError(
        f"{SWITCH}={value[:40]!r} is neither on nor off", f"Set {SWITCH}=on or {SWITCH}=off"
    )


@dataclass(frozen=True)
class NearMatch:
    """A candidate that passed every gate of the new contract."""

    spec: PluginSpec
    """The new spec, naming the plugin that serves it."""
    result: SynthesisResult
    """The adapter's synthesis: its report, logic and wheel."""
    served_by: str
    """``dist version (how; fit f)``, for the run's output."""


def find_near_match(
    client: PluginHubClient,
    spec: PluginSpec,
    out_dir: Path,
    progress: Callable[[str], None],
    skip: Callable[[str, str], bool],
) -> NearMatch | None:
    """The first of the best-fitting published plugins whose adapter passes every gate of
    ``spec``'s contract, or ``None``; each adapter is made in a folder of its own under
    ``out_dir``."""
    from synthesizer.errors import SynthesizerError
    from synthesizer.near_match import (
        MAX_LOGIC_CHARS,
        MIN_FIT,
        TOP_K,
        Unaligned,
        adapter,
        fit,
    )
    from synthesizer.synthesize import SynthesisOptions, synthesize_plugin

    try:
        candidates, aliases = _listed(client, spec, skip)
    except HubError as exc:  # no candidates is never a failed miss: the synthesis runs
        progress(f"near match: no candidates ({exc.problem[:160]})")
        return None
    if not candidates:
        return None
    adapters = []
    for record in candidates[:READ_AT_MOST]:
        try:
            data = client.download(record).read_bytes()
        except (HubError, OSError):
            continue  # refused by the policy or the signed metadata: never a candidate
        published = read_published(data, record.dist_name, record.version)
        if published is None or published.spec.capability == spec.capability:
            continue
        if "near_match_of" in published.spec.provenance:
            continue  # an adapter: the plugin it adapts is a candidate of its own
        if fit(spec, published.spec) < MIN_FIT:
            continue  # cheap, before the mapping
        try:
            made = adapter(spec, published)
        except Unaligned:
            continue
        if len(made.logic().source) <= MAX_LOGIC_CHARS:  # what the hub takes
            adapters.append(made)
    # a plugin this capability's retired release is signed to be retired behind goes first
    adapters.sort(key=lambda a: (a.candidate.dist_name not in aliases, -a.fit))
    if not adapters:
        return None
    options = SynthesisOptions.from_env()
    for made in adapters[:TOP_K]:
        progress(f"near match: trying {made.describe()} against the contract's gates")
        served = made.spec_for(spec)
        folder = out_dir / f"near-match-{made.candidate.dist_name}-{made.candidate.version}"
        try:
            result = synthesize_plugin(served, folder, options, progress, made.logic())
        except SynthesizerError as exc:
            progress(f"near match: {made.candidate.dist_name} does not serve it ({exc.problem})")
            continue
        return NearMatch(served, result, made.describe())
    return None


def _listed(
    client: PluginHubClient, spec: PluginSpec, skip: Callable[[str, str], bool]
) -> tuple[list[PluginRecord], set[str]]:
    """The records of the newest signed release of every other capability the policy would
    install: first any plugin that a retired release of this capability is signed to be
    retired behind (``alias_of``), then best by name and summary (the records' summaries are
    hints for this order only; what is tried comes from the verified wheels); and those
    plugins' names."""
    from synthesizer.near_match import name_fit

    newest: dict[str, tuple[str, str]] = {}
    aliases: set[str] = set()
    for signed in client.trusted.releases():
        release = signed.release
        if (
            release.capability == spec.capability
            and release.alias_of
            and signed.admin_signed
            and release.status is PluginStatus.REVOKED
        ):  # retired by the admin key behind another plugin
            aliases.add(release.alias_of.partition("==")[0])
        if release.capability == spec.capability or signed.tier is Tier.QUARANTINED:
            continue
        if signed.tier not in client.policy.auto_install_tiers:
            continue
        if skip(release.dist_name, release.version):
            continue
        known = newest.get(release.dist_name)
        if known is None or Version(release.version) > Version(known[0]):
            newest[release.dist_name] = (release.version, release.capability)
    summaries = {r.dist_name: r.summary for r in client.search("")}

    def order(item: tuple[str, tuple[str, str]]) -> tuple[bool, float]:
        dist_name, (_version, capability) = item
        fit = name_fit(spec.capability, spec.summary, capability, summaries.get(dist_name, ""))
        return (dist_name not in aliases, -fit)

    records = []
    for dist_name, (version, _capability) in sorted(newest.items(), key=order)[:READ_AT_MOST]:
        record = client.by_dist(dist_name, version)
        if record is not None:
            records.append(record)
    return records, aliases
