"""How plugins that serve one capability are ranked: a documented score from evidence.

When several plugins (distributions) of a capability are allowed by the local policy, the
client installs one of the best signed tier, and among those the one with the best
``RankScore`` (the weights of PlanExe's proposal 20):

    score = 0.35 reliability + 0.30 quality + 0.20 adoption + 0.15 safety tier

Every part is between 0 and 1:

- **reliability**: the mean, over the API tokens that used the plugin, of each token's share
  of successful uses, with one neutral token (0.5) added, so a plugin nobody used is 0.5 and
  a token counts once however many rows it sends;
- **quality**: the share of those tokens that reported no contract violation (with the same
  neutral token), times the speed: 1 at a median latency of at most 100 ms, ``100 / ms``
  above (the median over tokens of each token's mean latency; 0.5 when unknown);
- **adoption**: ``log2(1 + tokens) / log2(1 + 16)``, at most 1 (16 tokens saturate it);
- **safety tier**: the tier the client's own verified metadata signs (core 1, verified 0.75,
  generated 0.5), never the hub's word.

The evidence (tokens, uses, successes, violations, latency) is the hub's count of its usage
rows: unsigned, so it only orders releases the signed metadata and the local policy already
allow, and never across tiers: usage rows (which any token holder sends) or a lying hub can
make the client pick another allowed plugin of the same tier, nothing more. A reviewed
(verified or core) plugin is never passed over for a generated one, however it is used.
Releases of one plugin pool their evidence, and the newest is installed.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from plan_pipeline.trust import Tier

WEIGHTS = {"reliability": 0.35, "quality": 0.30, "adoption": 0.20, "safety_tier": 0.15}
TIER_VALUES = {Tier.CORE: 1.0, Tier.VERIFIED: 0.75, Tier.GENERATED: 0.5, Tier.QUARANTINED: 0.0}
ADOPTION_TOKENS = 16
"""Distinct tokens at which adoption reaches 1."""
FAST_MS = 100.0
"""A median latency at or under this is full speed."""


class Evidence(BaseModel):
    """What the hub counts of one plugin (a distribution, all its releases) from its usage
    rows, token by token."""

    dist_name: str = Field(max_length=200)
    tokens: int = Field(default=0, ge=0)
    """Distinct API tokens that sent uses of it."""
    uses: int = Field(default=0, ge=0)
    successes: int = Field(default=0, ge=0)
    token_success: float = Field(default=0.0, ge=0)
    """The sum over tokens of each token's share of successful uses."""
    violating_tokens: int = Field(default=0, ge=0)
    """Tokens that reported a contract violation against it."""
    median_latency_ms: float | None = Field(default=None, ge=0)


class RankScore(BaseModel):
    """A plugin's score and its parts."""

    score: float
    reliability: float
    quality: float
    adoption: float
    safety_tier: float


def rank_score(evidence: Evidence | None, tier: Tier) -> RankScore:
    """The score of a plugin of signed ``tier`` with the hub's ``evidence`` (none: unused)."""
    found = evidence or Evidence(dist_name="-")
    tokens = min(found.tokens, 10**6)
    reliability = (min(found.token_success, tokens) + 0.5) / (tokens + 1)
    clean = (tokens - min(found.violating_tokens, tokens) + 0.5) / (tokens + 1)
    latency = found.median_latency_ms
    speed = 0.5 if latency is None else min(1.0, FAST_MS / max(latency, FAST_MS))
    quality = clean * speed
    adoption = min(1.0, math.log2(1 + tokens) / math.log2(1 + ADOPTION_TOKENS))
    safety = TIER_VALUES.get(tier, 0.0)
    parts = {
        "reliability": reliability,
        "quality": quality,
        "adoption": adoption,
        "safety_tier": safety,
    }
    score = sum(WEIGHTS[name] * value for name, value in parts.items())
    return RankScore(score=round(score, 4), **{k: round(v, 4) for k, v in parts.items()})


class RankedPlugin(BaseModel):
    """One plugin of a capability as the hub ranks it (by the tiers it records)."""

    dist_name: str
    version: str
    """Its newest active release."""
    plugin_id: str
    tier: Tier
    evidence: Evidence
    rank: RankScore


def evidence_of(dist_name: str, rows: list[tuple[str | None, int, int, int, float]]) -> Evidence:
    """The evidence of a plugin from its usage counted per token: ``(token, uses,
    successes, uses reporting a violation, mean latency ms)``, one row per token and release
    (rows of one token are merged)."""
    merged: dict[str | None, list[float]] = {}
    for token, uses, successes, violations, latency in rows:
        if uses <= 0:
            continue
        seen = merged.setdefault(token, [0, 0, 0, 0.0])
        seen[3] = (seen[3] * seen[0] + latency * uses) / (seen[0] + uses)
        seen[0] += uses
        seen[1] += successes
        seen[2] += violations
    latencies = sorted(seen[3] for seen in merged.values())
    middle = len(latencies) // 2
    median = (
        None
        if not latencies
        else latencies[middle]
        if len(latencies) % 2
        else (latencies[middle - 1] + latencies[middle]) / 2
    )
    return Evidence(
        dist_name=dist_name,
        tokens=len(merged),
        uses=int(sum(seen[0] for seen in merged.values())),
        successes=int(sum(seen[1] for seen in merged.values())),
        token_success=sum(seen[1] / seen[0] for seen in merged.values()),
        violating_tokens=sum(1 for seen in merged.values() if seen[2] > 0),
        median_latency_ms=median,
    )
