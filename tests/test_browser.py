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
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pipeline_cli import cli

from milk_forecast.run_folder.layout import REPORT_FILE, UNIT

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_argv(port: int) -> list[str]:
    """compose.yaml's api command (the entry point's flags) on a loopback port."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    argv = list(compose["services"]["api"]["command"])
    argv[argv.index("--host") + 1], argv[argv.index("--port") + 1] = "127.0.0.1", str(port)
    return [sys.executable, "-m", *argv]


def wait_ready(base: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(base + "/ready", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    pytest.fail(f"{base}/ready never answered 200:\n{log.read_text()}")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def sync_api() -> Any:
    return require_browser()


@pytest.fixture(scope="module")
def base_url(sync_api: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app serving one real pipeline run of the sample data."""
    scratch = tmp_path_factory.mktemp("browser")
    runs_dir = scratch / "runs"
    done = cli("--data-dir", ROOT / "data" / "sample", "--runs-dir", runs_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    port = free_port()
    log = scratch / "uvicorn.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            serve_argv(port),
            cwd=ROOT,
            env={**os.environ, "RUNS_DIR": str(runs_dir)},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server, log)
        yield base
    finally:
        server.terminate()
        server.wait(20)


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


@pytest.mark.parametrize("visit", list(WIDTHS), indirect=True)
def test_the_page_renders_the_forecast_and_both_charts(visit: Visit, base_url: str) -> None:
    forecast = get_json(base_url + "/api/forecast?horizon=1")
    response = visit.page.goto(base_url + "/")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    figure = visit.page.text_content("#forecast-value")
    assert figure == f"{forecast['prediction']:,.2f} {UNIT}"
    assert visit.page.text_content("#forecast-month") == (
        f"{forecast['year']:04d}-{forecast['month']:02d}"
    )
    images = chart_images(visit.page)
    assert len(images) == 2, images
    for image in images:
        assert image["complete"] and image["width"] > 0 and image["height"] > 0, image
        assert image["shown"] > 0, image
    width = visit.page.evaluate("document.documentElement.scrollWidth")
    assert width <= visit.page.viewport_size["width"], "the page overflows sideways"
    name = next(key for key, size in WIDTHS.items() if size[0] == visit.page.viewport_size["width"])
    ARTIFACTS.mkdir(exist_ok=True)
    visit.page.screenshot(path=str(ARTIFACTS / f"page-{name}.png"), full_page=True)
    assert visit.errors == []
    assert visit.elsewhere == []


@pytest.mark.parametrize("visit", ["laptop"], indirect=True)
def test_the_served_runs_report_link_opens_its_report(visit: Visit, base_url: str) -> None:
    served = get_json(base_url + "/ready")["run_id"]
    visit.page.goto(base_url + "/dashboard")
    link = visit.page.locator(f'a[href="/runs/{served}/{REPORT_FILE}"]')
    with visit.page.expect_navigation() as navigation:
        link.click()
    response = navigation.value
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "sandbox" in response.headers["content-security-policy"]
    assert served in visit.page.text_content("body")
    assert visit.page.locator("table").count() > 0
    images = visit.page.eval_on_selector_all(
        "img", "images => images.map(i => i.complete && i.naturalWidth > 0)"
    )
    assert images and all(images), images
    ARTIFACTS.mkdir(exist_ok=True)
    visit.page.screenshot(path=str(ARTIFACTS / "report-laptop.png"))
    assert visit.elsewhere == []
