"""The health of the hub's library: ranking, promotion candidates and duplicates.

- **Ranking** (``ranking``): the active plugins of a capability by ``RankScore``, from the
  usage rows counted per API token (``hub_client/ranking.py``).
- **Promotion candidates** (``promotion_candidates``): generated plugins that earned an
  admin's review: at least ``min_runs`` successful stage runs from at least ``min_tokens``
  distinct tokens, no contract violation ever reported, and no permission beyond pure
  computation in the spec their signed wheel carries. Nothing is promoted here: ``plugin-hub
  promote`` stays the admin's signed act.
- **Duplicates** (``find_duplicates``, ``duplicates``): two plugins whose contracts pair field
  by field with the same names, of which each passed every gate of the other's contract (its
  logic module under the other's spec: static analysis, the audit, the contract tests in the
  sandbox). A duplicate can be retired behind the other with a signed alias
  (``plugin-hub retire``), so later misses and rankings see one.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from hub_client.ranking import RankedPlugin, evidence_of, rank_score
from hub_client.records import DuplicatePair, PluginRecord, PluginStatus, PromotionCandidate
from hub_index.db import HubDatabase
from hub_index.index_files import IndexFiles
from plan_pipeline.capability_names import validate_capability_name
from plan_pipeline.published_wheel import read_published
from plan_pipeline.trust import Tier

PROMOTION_MIN_RUNS = 5
PROMOTION_MIN_TOKENS = 2
DUPLICATE_MIN_FIT = 0.5
"""The least fit score of a pair worth its gates."""
MAX_PAIRS = 50
"""The most pairs one ``find_duplicates`` checks (best fit first)."""


@dataclass
class HubLibrary:
    """The library's figures over a hub's database and its index files (the wheels)."""

    db: HubDatabase
    files: IndexFiles

    def ranking(self, capability: str) -> list[RankedPlugin]:
        """The active plugins (distributions) of ``capability``, best first: by the tier this
        hub records, then by ``RankScore`` (a client orders by the tier its own verified
        metadata signs), each at its newest release."""
        records = [
            r
            for r in self.db.find_plugins(validate_capability_name(capability))
            if r.status is PluginStatus.ACTIVE
        ]
        counted = self.db.usage_by_token([r.plugin_id for r in records])
        by_dist: dict[str, list[PluginRecord]] = {}
        for record in records:
            by_dist.setdefault(record.dist_name, []).append(record)
        ranked = []
        for dist_name, releases in by_dist.items():
            newest = max(releases, key=lambda r: Version(r.version))
            evidence = evidence_of(
                dist_name, [row for r in releases for row in counted.get(r.plugin_id, [])]
            )
            ranked.append(
                RankedPlugin(
                    dist_name=dist_name,
                    version=newest.version,
                    plugin_id=newest.plugin_id,
                    tier=newest.trust_tier,
                    evidence=evidence,
                    rank=rank_score(evidence, newest.trust_tier),
                )
            )
        return sorted(
            ranked, key=lambda p: (p.tier.rank, p.rank.score, Version(p.version)), reverse=True
        )

    def promotion_candidates(
        self, min_runs: int = PROMOTION_MIN_RUNS, min_tokens: int = PROMOTION_MIN_TOKENS
    ) -> list[PromotionCandidate]:
        """Generated plugins that earned review (see the module's docstring), most used first."""
        records = [
            r
            for r in self.db.list_plugins(include_revoked=False)
            if r.trust_tier is Tier.GENERATED and r.status is PluginStatus.ACTIVE
        ]
        counted = self.db.usage_by_token([r.plugin_id for r in records])
        found = []
        for record in records:
            rows = counted.get(record.plugin_id, [])
            successes = sum(row[2] for row in rows)
            tokens = len({row[0] for row in rows if row[2] > 0})
            if any(row[3] for row in rows) or successes < min_runs or tokens < min_tokens:
                continue
            if self._permissions(record) != []:
                continue  # more than pure computation, or a spec this hub cannot read
            found.append(
                PromotionCandidate(
                    plugin_id=record.plugin_id,
                    capability=record.capability,
                    dist_name=record.dist_name,
                    version=record.version,
                    successful_runs=successes,
                    tokens=tokens,
                )
            )
        return sorted(found, key=lambda c: (-c.tokens, -c.successful_runs, c.capability))

    def duplicates(self) -> list[DuplicatePair]:
        """The recorded pairs whose plugins are both still active."""
        pairs = []
        for first_id, second_id, checked_at in self.db.duplicates():
            first, second = self.db.get_plugin(first_id), self.db.get_plugin(second_id)
            if first is None or second is None:
                continue
            if PluginStatus.REVOKED in (first.status, second.status):
                continue
            pairs.append(DuplicatePair(first=first, second=second, checked_at=checked_at))
        return pairs

    def find_duplicates(self, progress: Callable[[str], None] = print) -> list[DuplicatePair]:
        """Check the active plugins pair by pair (those whose contracts pair with the same
        field names and fit at least ``DUPLICATE_MIN_FIT``, at most ``MAX_PAIRS``, best
        first), record each pair of which both pass the other's gates, and return them."""
        from synthesizer.codegen import GeneratedLogic
        from synthesizer.errors import SynthesizerError
        from synthesizer.near_match import Unaligned, adapter, fit
        from synthesizer.synthesize import synthesize_plugin

        published = []
        for record in self.db.list_plugins(include_revoked=False):
            wheel = self.files.wheel_of(record)
            read = read_published(wheel, record.dist_name, record.version) if wheel else None
            if record.status is PluginStatus.ACTIVE and read is not None:
                published.append((record, read))
        pairs = []
        for index, (first, a) in enumerate(published):
            for second, b in published[index + 1 :]:
                if first.dist_name == second.dist_name:
                    continue  # releases of one plugin
                score = fit(a.spec, b.spec)
                if score < DUPLICATE_MIN_FIT:
                    continue  # cheap, before the mapping
                try:
                    direct = adapter(a.spec, b).direct and adapter(b.spec, a).direct
                except Unaligned:
                    continue
                if direct:
                    pairs.append((score, first, a, second, b))
        pairs.sort(key=lambda p: -p[0])
        found = []
        for score, first, a, second, b in pairs[:MAX_PAIRS]:
            progress(
                f"checking {first.dist_name} {first.version} and {second.dist_name} "
                f"{second.version} against each other's contract (fit {score:.2f})"
            )
            both = True
            for logic_of, spec_of in ((a, b), (b, a)):
                with tempfile.TemporaryDirectory(prefix="planexe-duplicates-") as tmp:
                    logic = GeneratedLogic(generator="duplicate-check", source=logic_of.logic)
                    try:
                        synthesize_plugin(spec_of.spec, Path(tmp) / "out", logic=logic)
                    except SynthesizerError as exc:
                        progress(f"  not duplicates: {exc.problem[:200]}")
                        both = False
                        break
            if both:
                self.db.add_duplicate(first.plugin_id, second.plugin_id)
                progress("  duplicates: each passes the other's contract")
                found.append(DuplicatePair(first=first, second=second))
        return found

    def _permissions(self, record: PluginRecord) -> list[str] | None:
        """The permissions of the spec in ``record``'s wheel (``None``: unreadable)."""
        wheel = self.files.wheel_of(record)
        read = read_published(wheel, record.dist_name, record.version) if wheel else None
        return None if read is None else list(read.spec.permissions)
