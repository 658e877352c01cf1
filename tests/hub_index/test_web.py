"""The hub's web pages in a real browser (Debian's Chromium, driven by Playwright), on a hub
filled by real pipeline runs: search, filter, open a plugin, and the figures on the pages
checked against the database. Screenshots go to ``build/screenshots/`` (the README says
so)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, sync_playwright

from hub_client.client import PluginHubClient
from hub_index.server import RunningHub
from plan_pipeline.trust import Tier
from tests.hub_index.conftest import known_runs, maintainer_wheel
from tests.hub_index.test_publish_mode import AREA_PLAN, RULELESS_PLAN

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "Chromium is not installed: apt-get install chromium (.ci/run does)", pytrace=False
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def _page(browser: Browser, hub: RunningHub) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    return page, fetched


def test_the_pages_in_a_browser_on_a_hub_of_real_runs(
    hub: RunningHub, browser: Browser, tmp_path: Path
) -> None:
    known_runs(hub, tmp_path, AREA_PLAN, RULELESS_PLAN)
    client = PluginHubClient.from_home(hub.home)
    volume = maintainer_wheel(
        tmp_path, "planexe-plugin-geometry-volume", capability="geometry.volume"
    )
    client.publish(volume, "geometry.volume", tier=Tier.VERIFIED, owner="maintainers")
    (area_record,) = client.records("geometry.area")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page, fetched = _page(browser, hub)

    page.goto(hub.api_url + "/")
    assert page.inner_text("#count") == "3 of 3 plugin(s)"  # the near match's adapter too
    page.screenshot(path=str(SCREENSHOTS / "plugins.png"), full_page=True)
    page.fill("input[name=q]", "vol")
    page.click("button[type=submit]")
    assert page.locator("#plugins tbody tr").count() == 1
    assert page.inner_text("#plugins tbody tr td a") == "geometry.volume"
    page.fill("input[name=q]", "")
    page.select_option("select[name=tier]", "generated")
    page.click("button[type=submit]")
    assert [
        t.strip() for t in page.locator("#plugins tbody tr td:first-child").all_inner_texts()
    ] == ["geometry.area", "geometry.rect_area"]
    page.select_option("select[name=tier]", "")
    page.select_option("select[name=status]", "revoked")
    page.click("button[type=submit]")
    assert page.inner_text("#none") == "No plugin matches."

    page.goto(hub.api_url + "/")
    page.click("text=geometry.area")
    assert page.url.endswith(f"/plugins/{area_record.plugin_id}")
    assert page.inner_text("#checksum") == area_record.checksum
    assert page.inner_text("#signer") == area_record.signer_identity
    assert page.inner_text("#status") == "active"
    engine = sa.create_engine(hub.home.settings().database_url)
    with engine.connect() as conn:
        uses, successes = conn.execute(sa.text(
            "SELECT count(*), sum(CASE WHEN success THEN 1 ELSE 0 END) FROM plugin_hub_usage "
            "WHERE plugin_id = :id"
        ), {"id": area_record.plugin_id}).one()  # fmt: skip
    engine.dispose()
    assert page.inner_text("#uses") == str(uses) == "3"
    assert page.inner_text("#success") == f"100% ({successes}/{uses}, sent with 1 token(s))"
    gates = page.locator("#gates tbody tr td:first-child").all_inner_texts()
    assert gates == ["codegen", "static_analysis", "build", "dependency_audit", "contract_tests"]
    page.screenshot(path=str(SCREENSHOTS / "plugin.png"), full_page=True)

    page.goto(hub.api_url + "/metrics")
    assert page.inner_text("h1") == "The success metrics"  # what they are, by name
    figures = client.metrics().overall
    assert page.inner_text("#recovery") == f"75% ({figures.recovered}/{figures.misses})"
    assert page.inner_text("#reuse") == f"75% ({figures.reuses}/{figures.synthesized_uses})"
    assert page.inner_text("#near").startswith("1 (median ")
    assert figures.median_time_to_capability_ms is not None
    assert page.inner_text("#ttc") == f"{figures.median_time_to_capability_ms / 1000:.2f} s"
    assert page.inner_text("#runs") == "5"
    assert page.inner_text("#tokens") == "1 API token(s)"
    for name in ("recovery_share", "reuse_rate", "median_time_to_capability_ms"):
        chart = page.locator(f"#chart-{name}")
        assert chart.locator("svg rect").count() == 14
        assert "the share" in chart.inner_text() or "median time" in chart.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "metrics.png"), full_page=True)
    assert all(url.startswith(hub.api_url) for url in fetched), fetched  # nothing from outside


def test_the_plugin_page_shows_its_authors_words_escaped(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    """The spec's description travels in the hub's own test report to the plugin's page, as
    text: markup in it is shown, never run."""
    import urllib.request

    from synthesizer.build import build_project
    from synthesizer.render import render_project
    from synthesizer.rules_codegen import RulesCodeGenerator
    from tests.hub_index.conftest import area_spec

    words = "Area of a rectangle, in square metres.\n<script>alert(1)</script>"
    spec = area_spec().model_copy(update={"description": words})
    logic = RulesCodeGenerator().generate(spec)
    wheel = build_project(render_project(spec, logic, tmp_path / "src"), tmp_path / "dist").wheel
    record = client.publish_generated(spec, logic, wheel, owner="test")
    with urllib.request.urlopen(f"{hub.api_url}/plugins/{record.plugin_id}", timeout=10) as page:
        html = page.read().decode()
    assert "Area of a rectangle, in square metres." in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert client.report(record.plugin_id)["report"]["description"] == words
