"""``plugin-hub metrics`` on a terminal: the time window it reads, and the figures as a table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.table import Table

from hub_client.errors import BadWindowError
from hub_client.success_metrics import Figures, SuccessMetrics


def parse_window(
    since: str | None, until: str | None, days: int | None
) -> tuple[datetime | None, datetime | None]:
    """The window of ``--since``/``--until`` (ISO dates or times, UTC unless they say) or
    ``--days``; ``HubError`` names a value that is not a date."""
    if days is not None and since is not None:
        raise BadWindowError("--days and --since both choose the start", "Give one of them")
    end = _moment("--until", until)
    start = _moment("--since", since)
    if days is not None:
        start = (end or datetime.now(UTC)) - timedelta(days=days)
    if start is not None and end is not None and start >= end:
        raise BadWindowError("the window's start is not before its end", "Swap --since and --until")
    return start, end


def _moment(option: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadWindowError(
            f"{option} {text[:40]!r} is not a date or time",
            "Write it as 2026-12-01 or 2026-12-01T08:00",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def metrics_table(metrics: SuccessMetrics) -> Table:
    window = " to ".join(
        m.isoformat(timespec="minutes") if m else "open" for m in (metrics.since, metrics.until)
    )
    whose = f"token {metrics.token}" if metrics.token else f"{metrics.tokens} token(s)"
    table = Table(title=f"success metrics ({window}; uses sent with {whose})")
    for column in ("capability", "recovery share", "reuse rate", "median TTC", "misses",
                   "syntheses", "near matches", "stage runs"):  # fmt: skip
        if column == "capability":
            table.add_column(column, overflow="fold")
        else:
            table.add_column(column, justify="right", overflow="fold")
    table.add_row(*_cells("all", metrics.overall), style="bold")
    for name, figures in metrics.capabilities.items():
        table.add_row(*_cells(name, figures))
    return table


def _cells(name: str, figures: Figures) -> list[str]:
    return [
        name,
        _percent(figures.recovery_share, figures.recovered, figures.misses),
        _percent(figures.reuse_rate, figures.reuses, figures.synthesized_uses),
        "-" if figures.median_time_to_capability_ms is None
        else f"{figures.median_time_to_capability_ms / 1000:.2f} s",
        str(figures.misses),
        str(figures.syntheses),
        str(figures.near_matches) + (
            "" if figures.median_near_match_ms is None
            else f" ({figures.median_near_match_ms / 1000:.2f} s)"
        ),
        str(figures.stage_runs),
    ]  # fmt: skip


def _percent(share: float | None, part: int, whole: int) -> str:
    return "-" if share is None else f"{share:.0%} ({part}/{whole})"
