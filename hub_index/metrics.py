"""The success metrics, computed from the hub's usage rows (``plugin-hub metrics``).

Every stage run that reports to the hub leaves one usage row: its capability, whether it
succeeded, how long it took, and how it got its capability (``resolution``: ``installed``,
``synthesized``, ``reused``, ``near-match`` or ``missed``). From those rows, over a time
window, overall and per capability:

- **Recovery share**: of the stage runs that missed their capability (``synthesized``,
  ``reused``, ``near-match`` or ``missed``), the share that then succeeded with a synthesized
  plugin, made in that run or published by an earlier one and fetched from the hub, or with
  a near match.
- **Reuse rate**: of the successful stage runs served by a synthesized plugin (made in that
  run, fetched from the hub after a miss, adapted as a near match, or already installed from
  the hub's generated tier), the share that did not synthesize it themselves.
- **Median time-to-capability**: over the stage runs that synthesized their plugin (whether
  the stage then succeeded or not), the median time from the miss to the plugin loaded and
  ready to run. Near matches are counted apart, with their own median.

A share or median with nothing to count is ``None`` (shown as ``-``), never 0.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import datetime

from hub_client.records import UsageRecord
from hub_client.success_metrics import Figures, SuccessMetrics

_MISSES = frozenset({"synthesized", "reused", "near-match", "missed"})


def success_metrics(
    usage: Iterable[UsageRecord],
    generated: set[str],
    since: datetime | None = None,
    until: datetime | None = None,
) -> SuccessMetrics:
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
    return SuccessMetrics(
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
            r.resolution in ("synthesized", "reused", "near-match")
            or (r.resolution == "installed" and r.plugin_id in generated)
        )
    ]
    reuses = [r for r in served if r.resolution != "synthesized"]
    # a synthesis counts once the plugin was made (and, in publish mode, published),
    # whatever happened to the stage after
    syntheses = [r for r in rows if r.resolution == "synthesized"]
    timed = [r.time_to_capability_ms for r in syntheses if r.time_to_capability_ms is not None]
    near = [r for r in rows if r.resolution == "near-match"]
    near_timed = [r.time_to_capability_ms for r in near if r.time_to_capability_ms is not None]
    return Figures(
        stage_runs=len(rows),
        misses=len(misses),
        recovered=len(recovered),
        recovery_share=_share(len(recovered), len(misses)),
        synthesized_uses=len(served),
        reuses=len(reuses),
        reuse_rate=_share(len(reuses), len(served)),
        syntheses=len(syntheses),
        median_time_to_capability_ms=statistics.median(timed) if timed else None,
        near_matches=len(near),
        median_near_match_ms=statistics.median(near_timed) if near_timed else None,
    )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None
