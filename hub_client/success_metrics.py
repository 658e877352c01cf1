"""The success metrics as the hub's API answers them: recovery share, reuse rate and median
time-to-capability, overall and per capability (defined in ``docs/METRICS.md``; computed from
the hub's usage rows by ``hub_index/metrics.py``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


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
    near_matches: int = 0
    """Misses served by a plugin of another capability through a gated adapter."""
    median_near_match_ms: float | None = None
    """Their median time from the miss to the adapter loaded."""


class SuccessMetrics(BaseModel):
    """The figures over a window (``since`` inclusive, ``until`` exclusive; open when None)."""

    since: datetime | None
    until: datetime | None
    overall: Figures
    capabilities: dict[str, Figures]
    token: str | None = None
    """Whose usage rows the figures count: the token of that name, or every token (None)."""
    tokens: int = 0
    """How many distinct API tokens sent the rows counted."""
