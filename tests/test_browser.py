"""The page in a real browser: the system Chromium, headless, driven by Playwright.

One real pipeline run of the sample data (once for the module) is served by uvicorn
started as compose.yaml starts it, on a free loopback port. The page is opened at a
laptop's and a phone's width: the forecast number and both charts render, nothing
overflows sideways, no console error, no request to any host but the app's; the served
run's report link opens its report. Screenshots of both widths are saved under
``test-artifacts/`` at the project root (git-ignored) for a human to look at.

Skipped when Chromium or Playwright is missing, except with ``MILK_REQUIRE_BROWSER=1``
(CI, whose .ci/run installs Debian's chromium), where their absence fails.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pipeline_cli import STAGES
from served import serving

from milk_forecast.run_folder.layout import REPORT_FILE, UNIT
from milk_forecast.run_folder.predictions import FORECAST_HORIZON

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("MILK_CHROMIUM", "/usr/bin/chromium")
# Playwright's own browser download is not reachable: the system Chromium, kept offline.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTHS = {"laptop": (1280, 800), "phone": (390, 844)}


def require_browser() -> Any:
    """Playwright's sync API, or a skip (a failure under MILK_REQUIRE_BROWSER=1) saying what is missing."""
    missing = []
    try:
        from playwright import sync_api
    except ImportError:
        sync_api = None
        missing.append("the playwright package (pip install -r requirements.txt)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("MILK_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (MILK_REQUIRE_BROWSER=1)")
        pytest.skip(message)
    return sync_api


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def sync_api() -> Any:
    return require_browser()


@pytest.fixture(scope="module")
def base_url(
    sync_api: Any, sample_run: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The app serving the session's pipeline run of the sample data (it only reads it)."""
    log = tmp_path_factory.mktemp("browser") / "uvicorn.log"
    with serving(sample_run.runs_dir, log) as (base, _):
        yield base


@pytest.fixture(scope="module")
def browser(sync_api: Any) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


class Visit:
    """A browser tab that records console errors and refuses every request to another host."""

    def __init__(self, browser: Any, base: str, size: tuple[int, int]) -> None:
        width, height = size
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.host = urlsplit(base).netloc
        self.errors: list[str] = []
        self.elsewhere: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))

    def _route(self, route: Any) -> None:
        url = urlsplit(route.request.url)
        if url.scheme == "data" or url.netloc == self.host:
            route.continue_()
        else:
            self.elsewhere.append(route.request.url)
            route.abort()

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser: Any, base_url: str, request: pytest.FixtureRequest) -> Iterator[Visit]:
    tab = Visit(browser, base_url, WIDTHS[request.param])
    yield tab
    tab.close()


def chart_images(page: Any) -> list[dict[str, Any]]:
    return page.eval_on_selector_all(
        "img.chart",
        "images => images.map(i => ({alt: i.alt, complete: i.complete,"
        " width: i.naturalWidth, height: i.naturalHeight, shown: i.clientWidth}))",
    )


def first_screen_bottom(page: Any, selector: str) -> float:
    """Where ``selector`` ends, in CSS pixels from the top of the page as first shown."""
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not shown"
    return box["y"] + box["height"]


def check_chart_shows_its_forecast_end(page: Any, image: str, first_screen: bool = True) -> None:
    """The chart ``image`` (in a box that may scroll) is shown at a readable width, its right
    part (the forecast months and their fan: the right 30%) inside its box from the start,
    and (``first_screen``) at least half of it on the first screen."""
    shown = page.eval_on_selector(
        image,
        "i => { const r = i.getBoundingClientRect(), b = i.parentElement.getBoundingClientRect();"
        " return {left: r.left, right: r.right, width: r.width, top: r.top, height: r.height,"
        " boxLeft: b.left, boxRight: b.right, boxWidth: b.width}; }",
    )
    assert shown["width"] >= min(600, shown["boxWidth"] - 1), shown  # not a thumbnail
    assert shown["right"] <= shown["boxRight"] + 1, shown  # its right end is shown
    assert max(shown["left"], shown["boxLeft"]) <= shown["left"] + 0.7 * shown["width"], shown
    if first_screen:
        assert shown["top"] + shown["height"] / 2 <= page.viewport_size["height"], shown


def check_no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], "the page overflows sideways"


def size_name(page: Any) -> str:
    return next(key for key, size in WIDTHS.items() if size[0] == page.viewport_size["width"])


@pytest.mark.parametrize("visit", list(WIDTHS), indirect=True)
def test_the_first_screen_shows_next_month_its_ranges_the_last_price_the_change_and_the_fan(
    visit: Visit, base_url: str
) -> None:
    forecast = get_json(base_url + "/api/forecast?horizon=1")
    response = visit.page.goto(base_url + "/")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    figure = visit.page.text_content("#forecast-value")
    assert figure.endswith(f" {UNIT}")
    assert float(figure.split()[0].replace(",", "")) == pytest.approx(
        forecast["prediction"], abs=0.051
    )
    month = f"{forecast['year']:04d}-{forecast['month']:02d}"
    assert visit.page.get_attribute("#forecast-month time", "datetime") == month
    assert "% likely between" in visit.page.text_content("#forecast-ranges")
    assert " CLP/L in " in visit.page.text_content("#last-price")
    assert visit.page.text_content("#change").startswith(("+", "-"))
    height = visit.page.viewport_size["height"]
    for selector in ("#forecast-value", "#forecast-ranges", "#last-price", "#change", "#why"):
        assert first_screen_bottom(visit.page, selector) <= height, f"{selector} below the fold"
    check_chart_shows_its_forecast_end(visit.page, "#forecast img.chart")
    drawn_for_phones = visit.page.eval_on_selector(
        "#forecast img.chart", "i => i.currentSrc !== i.src"
    )
    assert drawn_for_phones == (size_name(visit.page) == "phone")  # the 12-month phone chart
    images = chart_images(visit.page)
    assert images, "no chart"
    for image in images:
        assert image["complete"] and image["width"] > 0 and image["height"] > 0, image
        assert image["shown"] > 0, image
    check_no_sideways_scroll(visit.page)
    ARTIFACTS.mkdir(exist_ok=True)
    visit.page.screenshot(path=str(ARTIFACTS / f"page-{size_name(visit.page)}.png"))
    visit.page.screenshot(
        path=str(ARTIFACTS / f"page-{size_name(visit.page)}-full.png"), full_page=True
    )
    assert visit.errors == []
    assert visit.elsewhere == []


@pytest.mark.parametrize("visit", list(WIDTHS), indirect=True)
def test_the_report_opens_from_the_page_lists_its_stages_and_leads_back(
    visit: Visit, base_url: str
) -> None:
    served = get_json(base_url + "/ready")["run_id"]
    visit.page.goto(base_url + "/dashboard")
    link = visit.page.locator(f'a[href="/runs/{served}/{REPORT_FILE}"]')
    with visit.page.expect_navigation() as navigation:
        link.click()
    response = navigation.value
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "sandbox" in response.headers["content-security-policy"]
    page, height = visit.page, visit.page.viewport_size["height"]
    assert served in page.text_content("h1")
    assert first_screen_bottom(page, 'a[href="/dashboard"]') <= height  # the way back
    targets = page.eval_on_selector_all(
        'a[href^="#forecast-"], a[href^="#stage-"]', "links => links.map(a => a.hash.slice(1))"
    )
    assert targets == ["forecast-summary", *(f"stage-{stage}" for stage in STAGES)]
    tops = [page.locator(f"#{target}").bounding_box()["y"] for target in targets]
    assert tops == sorted(tops)  # the summary first, then each stage in order
    check_chart_shows_its_forecast_end(page, "#forecast-summary ~ div img", first_screen=False)
    assert page.locator("table.path tbody tr").count() == FORECAST_HORIZON
    images = page.eval_on_selector_all("img", "images => images.map(i => i.complete && i.naturalWidth > 0)")  # fmt: skip
    assert images and all(images), images
    check_no_sideways_scroll(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"report-{size_name(page)}.png"))
    page.click(f'a[href="#stage-{STAGES[-1]}"]')  # the contents lead to the stage
    box = page.locator(f"#stage-{STAGES[-1]}").bounding_box()
    assert -1 < box["y"] < height, box  # scrolled to it
    with page.expect_navigation() as navigation:
        page.click('a[href="/dashboard"]')
    assert navigation.value.status == 200 and page.locator("#forecast-value").count() == 1
    assert visit.elsewhere == []
