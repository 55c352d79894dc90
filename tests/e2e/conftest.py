"""Fixtures of the end-to-end suite: the running portal (stack.py), Chromium, the page auditor
(audit.py) and the arranger that sets the scene through the services (arrange.py)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.e2e.arrange import Arranger
from tests.e2e.audit import ARTIFACTS, Auditor, Screenshots
from tests.e2e.stack import ROOT, Stack, postgres_database

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DESKTOP = {"width": 1280, "height": 900}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e" in str(item.path):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test, so fixtures can tell that it failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    docs_index = ROOT / "docs" / "_build" / "html" / "index.html"
    assert docs_index.exists(), "build the documentation first (make docs)"
    workdir = tmp_path_factory.mktemp("e2e")
    drop = None
    if os.environ.get("TEST_DATABASE_URL"):
        database_url, drop = postgres_database(os.environ["TEST_DATABASE_URL"])
    else:
        database_url = f"sqlite:///{workdir / 'portal.db'}"
    running = Stack(workdir, database_url)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        if drop is not None:
            drop()


@pytest.fixture(scope="session")
def arrange(stack: Stack) -> Arranger:
    assert stack.app is not None
    return Arranger(stack.app)


# --- the browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    chromium = shutil.which(CHROMIUM) or CHROMIUM
    launched = playwright_driver.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def auditor() -> Auditor:
    """Every page the journeys visit, checked by axe-core and for both widths; the HTML is
    kept for the Nu Html Checker, which runs once over all of it (test_valid_html)."""
    for folder in ("html", "widths"):
        shutil.rmtree(ARTIFACTS / folder, ignore_errors=True)
    return Auditor()


@pytest.fixture(scope="session")
def screenshots() -> Screenshots:
    return Screenshots(os.environ.get("E2E_SCREENSHOT_DIR"))


def new_context(
    browser: Browser, stack: Stack, *, javascript: bool = True, **options: Any
) -> BrowserContext:
    # axe-core is injected as a script: the portal's CSP would block it, so the test context
    # bypasses CSP rather than the portal weakening its policy.
    context = browser.new_context(
        base_url=stack.url,
        viewport=DESKTOP,
        bypass_csp=True,
        java_script_enabled=javascript,
        accept_downloads=True,
        locale="en-GB",
        timezone_id="UTC",
        **options,
    )
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def contexts(
    request: pytest.FixtureRequest, browser: Browser, stack: Stack, auditor: Auditor
) -> Iterator[Any]:
    """Make browser contexts (one per person); closes them and fails the test on any page
    problem the auditor found."""
    made: list[BrowserContext] = []
    auditor.start_test()

    def _make(*, javascript: bool = True) -> Page:
        context = new_context(browser, stack, javascript=javascript)
        made.append(context)
        page = context.new_page()
        auditor.watch(page, javascript=javascript)
        return page

    yield _make
    failed = getattr(request.node, "report_call", None)
    for number, context in enumerate(made, 1):
        if failed is not None and failed.failed:
            for page in context.pages:
                folder = ARTIFACTS / "failures"
                folder.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=folder / f"{request.node.name}-{number}.png", full_page=True)
        context.close()
    auditor.assert_clean()
