"""Journey 2: programme staff open a cohort wave (loaded from its programme file), review its
applications with filters, run cohort selection, compare it with first-come-first-served,
adjust it and admit; an admitted applicant gets the admission email and is in the export."""

from __future__ import annotations

import csv
import io
from typing import Any

from playwright.sync_api import expect

from tests.e2e.arrange import Arranger
from tests.e2e.audit import Auditor, Screenshots
from tests.e2e.people import sign_in
from tests.e2e.stack import Stack

PROGRAMME = "DP0 cohort trial delegates"


def test_staff_select_adjust_and_admit_a_cohort(
    contexts: Any, arrange: Arranger, stack: Stack, auditor: Auditor, screenshots: Screenshots
) -> None:
    pool = arrange.cohort_pool(12)
    staff = arrange.programme_staff("Grace Okafor")
    page = contexts()
    sign_in(page, staff.email)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign-up").click()
    page.get_by_label("Programme", exact=True).select_option(label=PROGRAMME)
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(PROGRAMME)
    auditor.check(page, "sign-up dashboard")
    screenshots.take(page, "signup-dashboard")

    # Review: the pending applications of graduate students.
    page.get_by_role("link", name="Applications", exact=True).click()
    page.get_by_label("State").select_option(label="Under review")
    page.get_by_label("Attribute").select_option(label="Career stage: Graduate student")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table tbody tr")
    expect(rows).not_to_have_count(0)
    assert rows.count() < len(pool)
    expect(page.get_by_label("Attribute")).to_have_value("career_stage:graduate")
    auditor.check(page, "review queue filtered")
    screenshots.take(page, "review-queue")

    # Cohort selection, beside first come, first served.
    page.get_by_role("link", name="Dashboard").click()
    page.get_by_role("link", name="Cohort selection").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cohort selection for Cohort wave")
    auditor.check(page, "cohort selection")
    page.get_by_label("Cohort size").fill("4")
    page.get_by_role("button", name="Propose").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cohort proposal")
    comparison = page.locator("table.signup-compare")
    expect(comparison.get_by_role("columnheader", name="First come, first served")).to_be_visible()
    auditor.check(page, "cohort proposal")
    screenshots.take(page, "cohort-proposal", full_page=True)

    # Adjust: leave the first proposed person out and take the first one left in the pool.
    picks = page.locator("input[name='ids']")
    ticked = [picks.nth(i) for i in range(picks.count()) if picks.nth(i).is_checked()]
    assert len(ticked) == 4
    left_out = ticked[0]
    chosen = next(picks.nth(i) for i in range(picks.count()) if not picks.nth(i).is_checked())
    chosen_name = page.locator(f"label[for='{chosen.get_attribute('id')}']").inner_text()
    chosen_name = chosen_name.removeprefix("Select ")
    left_out.uncheck()
    chosen.check()
    page.get_by_role("button", name="Compare my selection").click()
    expect(page.get_by_text("Ticked: the selection you made")).to_be_visible()
    auditor.check(page, "cohort adjusted")
    page.get_by_label("Note for the audit trail (optional)").fill("Balanced for regions.")
    page.get_by_role("button", name="Admit the ticked people to Cohort wave").click()
    expect(page.get_by_text("4 admitted")).to_be_visible()
    auditor.check(page, "cohort admitted")

    chosen_email = pool[chosen_name]
    admission = stack.wait_for_mail(chosen_email, "You are admitted to " + PROGRAMME)
    assert chosen_name in stack.mailbox.text(admission)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign-up").click()
    page.get_by_label("Programme", exact=True).select_option(label=PROGRAMME)
    page.get_by_role("button", name="Show").click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Delegates CSV").click()
    exported = list(csv.DictReader(io.StringIO(download_info.value.path().read_text())))
    assert chosen_email in [row["email"] for row in exported]
    assert len(exported) >= 4
