"""Journey 4: a delegate opens the documentation from the portal, reads a tutorial with its
executed outputs and downloads the notebook."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect

from tests.e2e.arrange import Arranger
from tests.e2e.audit import Auditor, Screenshots
from tests.e2e.people import sign_in


def test_delegate_reads_a_tutorial_and_downloads_the_notebook(
    contexts: Any, arrange: Arranger, auditor: Auditor, screenshots: Screenshots
) -> None:
    delegate = arrange.delegate("Nadia Rahman")
    page = contexts()
    sign_in(page, delegate.email, auditor)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Documentation").click()
    expect(page.locator("article h1")).to_contain_text("DP0 documentation")
    auditor.check(page, "docs home")
    screenshots.take(page, "docs-home")

    page.get_by_role("link", name="Tutorials", exact=True).first.click()
    expect(page.locator("article h1")).to_contain_text("Tutorials")
    auditor.check(page, "docs tutorials")

    page.locator("article").get_by_role("link", name="Colour-magnitude").first.click()
    expect(page.locator("article h1")).to_contain_text("olour")
    outputs = page.locator(".cell_output")
    expect(outputs.first).to_be_visible()
    assert outputs.count() >= 3
    expect(page.locator(".cell_output img").first).to_be_visible()
    auditor.check(page, "docs tutorial page")
    screenshots.take(page, "docs-tutorial")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the notebook with its outputs").click()
    download = download_info.value
    assert download.suggested_filename == "03-colour-magnitude.ipynb"
    notebook = json.loads(download.path().read_text())
    executed = [c for c in notebook["cells"] if c["cell_type"] == "code" and c.get("outputs")]
    assert executed, "the downloaded notebook has no outputs"

    # The guides, with the screenshots this suite takes.
    page.locator("a.navbar-brand").click()
    page.locator("article .sd-card", has_text="Portal guide").click()
    expect(page.locator("article h1")).to_contain_text("Portal guide")
    page.locator("article").get_by_role("link", name="Applying to become a DP0 delegate").click()
    expect(page.locator("article img").first).to_be_visible()
    auditor.check(page, "docs portal guide page")
    page.locator("a.navbar-brand").click()
    page.locator("article .sd-card", has_text="Operator guide").click()
    page.locator("article").get_by_role("link", name="Creating the Slack app").click()
    expect(page.locator("article h1")).to_contain_text("Creating the Slack app")
    auditor.check(page, "docs operator guide page")
