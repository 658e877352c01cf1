"""The hub's web pages: server-rendered HTML (Jinja2 templates in ``templates/``) beside the
API, each page self-contained (styles and charts inline: nothing is fetched from elsewhere).

    GET /                      the plugins: search by capability, filter by tier and status
    GET /plugins/<id>          one plugin: versions, checksum, signer, test report, usage,
                               revocation state
    GET /metrics               the three success metrics, overall and per day, with charts

Pages only read; promoting and revoking stay API and CLI calls behind the admin token.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from hub_client.success_metrics import Figures, SuccessMetrics
from hub_index.library import PROMOTION_MIN_RUNS, PROMOTION_MIN_TOKENS
from hub_index.service import HubService
from plan_pipeline.trust import Tier

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
CHART_DAYS = 14

FIGURE_SENTENCES = {
    "recovery_share": "Of the stage runs that missed their capability, the share that then "
    "succeeded with a synthesized plugin (made in that run, or published earlier and fetched "
    "from the hub).",
    "reuse_rate": "Of the successful stage runs served by a synthesized plugin, the share that "
    "did not synthesize it themselves.",
    "median_time_to_capability_ms": "Over the stage runs that synthesized their plugin and "
    "succeeded, the median time from the stage's start (the miss) to its output written.",
}


def add_pages(app: FastAPI) -> None:
    """Register the pages on ``app`` (whose ``state.service`` is the hub's service)."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def plugins_page(
        request: Request,
        q: Annotated[str, Query(max_length=200)] = "",
        tier: Annotated[str, Query(max_length=20)] = "",
        status: Annotated[str, Query(max_length=20)] = "",
    ) -> HTMLResponse:
        svc = _service(request)
        records = svc.db.list_plugins(include_revoked=True)
        shown = [
            r
            for r in records
            if q.strip().lower() in r.capability
            and (not tier or r.trust_tier.value == tier)
            and (not status or r.status.value == status)
        ]
        context = {
            "records": shown,
            "total": len(records),
            "q": q,
            "tier": tier,
            "status": status,
            "tiers": [t.value for t in Tier],
            "statuses": sorted({r.status.value for r in records} | {"active", "revoked"}),
        }
        return TEMPLATES.TemplateResponse(request, "plugins.html", context)

    @app.get("/plugins/{plugin_id}", response_class=HTMLResponse, include_in_schema=False)
    def plugin_page(request: Request, plugin_id: str) -> HTMLResponse:
        svc = _service(request)
        record = svc.get(plugin_id)
        uses = svc.db.usage(plugin_id=plugin_id)
        succeeded = sum(u.success for u in uses)
        report = svc.latest_report(plugin_id)
        context = {
            "ranking": svc.library.ranking(record.capability),
            "violations": svc.violation_reports(plugin_id),
            "record": record,
            "versions": svc.db.plugins_of_dist(record.dist_name),
            "report": report.get("report") or {},
            "told": report.get("publisher_synthesis"),
            "uses": len(uses),
            "succeeded": succeeded,
            "success_rate": succeeded / len(uses) if uses else None,
            "reporting_tokens": svc.db.usage_reporters(plugin_id=plugin_id),
        }
        return TEMPLATES.TemplateResponse(request, "plugin.html", context)

    @app.get("/library", response_class=HTMLResponse, include_in_schema=False)
    def library_page(request: Request) -> HTMLResponse:
        svc = _service(request)
        context = {
            "candidates": svc.library.promotion_candidates(),
            "duplicates": svc.library.duplicates(),
            "active": len(svc.db.list_plugins(include_revoked=False)),
            "min_runs": PROMOTION_MIN_RUNS,
            "min_tokens": PROMOTION_MIN_TOKENS,
        }
        return TEMPLATES.TemplateResponse(request, "library.html", context)

    @app.get("/metrics", response_class=HTMLResponse, include_in_schema=False)
    def metrics_page(request: Request) -> HTMLResponse:
        svc = _service(request)
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        days = [today - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
        daily = [(day, svc.metrics(day, day + timedelta(days=1)).overall) for day in days]
        overall: SuccessMetrics = svc.metrics(None, None)
        charts = [_chart(name, FIGURE_SENTENCES[name], daily) for name in FIGURE_SENTENCES]
        context = {"overall": overall.overall, "capabilities": overall.capabilities,
                   "charts": charts, "tokens": overall.tokens}  # fmt: skip
        return TEMPLATES.TemplateResponse(request, "metrics.html", context)


def _service(request: Request) -> HubService:
    service: HubService = request.app.state.service
    return service


def _chart(name: str, sentence: str, daily: list[tuple[datetime, Figures]]) -> dict[str, Any]:
    """One figure per day as SVG bars (a share of 1 fills the height; times scale to the
    largest day)."""
    values = [getattr(figures, name) for _, figures in daily]
    largest = max((v for v in values if v is not None), default=0) or 1
    scale = 1.0 if name != "median_time_to_capability_ms" else largest
    bars = []
    for index, ((day, _), value) in enumerate(zip(daily, values, strict=True)):
        height = 0.0 if value is None else 100 * value / scale
        label = "-" if value is None else (
            f"{value / 1000:.2f} s" if scale != 1.0 else f"{value:.0%}"
        )  # fmt: skip
        bars.append({"x": index * 22 + 4, "height": round(height, 1), "y": round(110 - height, 1),
                     "day": day.strftime("%d"), "date": day.strftime("%Y-%m-%d"),
                     "label": label})  # fmt: skip
    titles = {"recovery_share": "Recovery share", "reuse_rate": "Reuse rate",
              "median_time_to_capability_ms": "Median time-to-capability"}  # fmt: skip
    return {"name": name, "title": titles[name], "sentence": sentence, "bars": bars,
            "width": len(bars) * 22 + 8}  # fmt: skip
