"""The seed's three figures, computed from the hub's usage rows (``plugin-hub metrics``).

Every stage run that reports to the hub leaves one usage row: its capability, whether it
succeeded, how long it took, and how it got its capability (``resolution``: ``installed``,
``synthesized``, ``reused`` or ``missed``). From those rows, over a time window, overall and
per capability:

- **Recovery share**: of the stage runs that missed their capability (``synthesized``,
  ``reused`` or ``missed``), the share that then succeeded with a synthesized plugin, made in
  that run or published by an earlier one and fetched from the hub.
- **Reuse rate**: of the successful stage runs served by a synthesized plugin (made in that
  run, fetched from the hub after a miss, or already installed from the hub's generated
  tier), the share that did not synthesize it themselves.
- **Median time-to-capability**: over the stage runs that synthesized their plugin and
  succeeded, the median time from the stage's start (the miss is its first step after
  reading its inputs) to its output written.

A share or median with nothing to count is ``None`` (shown as ``-``), never 0.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel

from hub_index.records import UsageRecord

_MISSES = frozenset({"synthesized", "reused", "missed"})


class Figures(BaseModel):
    """The three figures and what they are counted from."""

    stage_runs: int = 0
    misses: int = 0
    recovered: int = 0
    recovery_share: float | None = None
    synthesized_uses: int = 0
    reuses: int = 0
    reuse_rate: float | None = None
    syntheses: int = 0
    median_time_to_capability_ms: float | None = None


class SeedMetrics(BaseModel):
    """The figures over a window (``since`` inclusive, ``until`` exclusive; open when None)."""

    since: datetime | None
    until: datetime | None
    overall: Figures
    capabilities: dict[str, Figures]


def seed_metrics(
    usage: Iterable[UsageRecord],
    generated: set[str],
    since: datetime | None = None,
    until: datetime | None = None,
) -> SeedMetrics:
    """The figures of the ``usage`` rows in the window; ``generated``: the plugin ids of the
    hub's generated tier (an installed one of those is a reuse)."""
    rows = [
        row
        for row in usage
        if (since is None or row.created_at >= since) and (until is None or row.created_at < until)
    ]
    by_capability: dict[str, list[UsageRecord]] = {}
    for row in rows:
        by_capability.setdefault(row.capability, []).append(row)
    return SeedMetrics(
        since=since,
        until=until,
        overall=_figures(rows, generated),
        capabilities={
            name: _figures(found, generated) for name, found in sorted(by_capability.items())
        },
    )


def _figures(rows: list[UsageRecord], generated: set[str]) -> Figures:
    misses = [r for r in rows if r.resolution in _MISSES]
    recovered = [r for r in misses if r.success and r.resolution != "missed"]
    served = [
        r
        for r in rows
        if r.success
        and (
            r.resolution in ("synthesized", "reused")
            or (r.resolution == "installed" and r.plugin_id in generated)
        )
    ]
    reuses = [r for r in served if r.resolution != "synthesized"]
    syntheses = [r for r in rows if r.success and r.resolution == "synthesized"]
    return Figures(
        stage_runs=len(rows),
        misses=len(misses),
        recovered=len(recovered),
        recovery_share=_share(len(recovered), len(misses)),
        synthesized_uses=len(served),
        reuses=len(reuses),
        reuse_rate=_share(len(reuses), len(served)),
        syntheses=len(syntheses),
        median_time_to_capability_ms=(
            statistics.median(r.latency_ms for r in syntheses) if syntheses else None
        ),
    )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None
