"""The core flows with JavaScript turned off: apply, confirm and read the status; file a
ticket (with the documentation search) and reply to it on both sides; review and admit."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.arrange import COHORT, Arranger
from tests.e2e.audit import Auditor
from tests.e2e.people import fill_application_form, link_in, sign_in
from tests.e2e.stack import Stack


def test_apply_confirm_and_status_without_javascript(
    contexts: Any, arrange: Arranger, stack: Stack, auditor: Auditor
) -> None:
    arrange.fill_first_come_wave()
    email = arrange.email("tomas")
    page = contexts(javascript=False)
    page.goto("/")
    page.get_by_role("link", name="Apply to become a delegate").click()
    fill_application_form(page, "Tomás Herrera", email, "tomas-herrera")
    page.get_by_label("Full name").fill("")
    page.get_by_role("button", name="Send my application").click()
    expect(page.get_by_role("alert")).to_contain_text("Full name")
    expect(page.get_by_label("GitHub username")).to_have_value("tomas-herrera")
    auditor.check(page, "no script: application with a mistake")
    page.get_by_label("Full name").fill("Tomás Herrera")
    page.get_by_label("I have read and accept the delegate guidelines").check()
    page.get_by_role("button", name="Send my application").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")

    page.goto(link_in(stack.wait_for_mail(email, "Confirm your email"), "/signup/verify/"))
    expect(page.get_by_text("You are number 1 on the waitlist")).to_be_visible()
    auditor.check(page, "no script: status")


def test_file_and_answer_a_ticket_without_javascript(
    contexts: Any, arrange: Arranger, auditor: Auditor
) -> None:
    delegate = arrange.delegate("Mei Chen")
    staff = arrange.staff("Tala Ngata", tier=1)
    requester = contexts(javascript=False)
    sign_in(requester, delegate.email)
    requester.get_by_role("link", name="File a ticket").click()
    requester.get_by_label("Subject").fill("Butler cannot find calexp images")
    requester.get_by_role("button", name="Search the documentation for this subject").click()
    expect(requester.locator("#doc-suggestions")).to_be_visible()
    expect(requester.get_by_label("Subject")).to_have_value("Butler cannot find calexp images")
    auditor.check(requester, "no script: documentation search")
    requester.get_by_label("What is it about?").select_option(value="butler_images")
    requester.get_by_label("Description").fill("butler.get('calexp', ...) raises LookupError.")
    requester.get_by_role("button", name="File the ticket").click()
    expect(requester.get_by_text("is filed")).to_be_visible()
    number = re.search(r"/tickets/(\d+)", requester.url).group(1)  # type: ignore[union-attr]

    desk = contexts(javascript=False)
    sign_in(desk, staff.email)
    desk.goto(f"/staff/tickets/{number}")
    desk.get_by_label("Message").fill("Which collection did you pass to the Butler?")
    desk.get_by_role("button", name="Send reply to requester").click()
    expect(desk.get_by_text("Which collection did you pass").first).to_be_visible()
    auditor.check(desk, "no script: staff reply")

    requester.reload()
    expect(requester.get_by_text("Which collection did you pass")).to_be_visible()
    requester.get_by_label("Your reply").fill("2.2i/runs/DP0.1, as in the tutorial.")
    requester.get_by_role("button", name="Send reply").click()
    expect(requester.get_by_text("Your reply is added")).to_be_visible()
    auditor.check(requester, "no script: requester reply")


def test_review_and_admit_without_javascript(
    contexts: Any, arrange: Arranger, stack: Stack, auditor: Auditor
) -> None:
    name = "Rosa Quispe"
    email = arrange.confirmed_application(COHORT, name, country="PE", career_stage="graduate")
    staff = arrange.programme_staff("Grace Okafor")
    page = contexts(javascript=False)
    sign_in(page, staff.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign-up").click()
    page.get_by_label("Programme", exact=True).select_option(label="DP0 cohort trial delegates")
    page.get_by_role("button", name="Show").click()
    page.get_by_role("link", name="Applications", exact=True).click()
    page.get_by_label("Search").fill(name)
    page.get_by_role("button", name="Filter").click()
    page.get_by_label(f"Select {name}").check()
    page.get_by_label("Decision for the ticked applications").select_option(label="Admit")
    page.get_by_label("Reason", exact=True).fill("Strong contribution plan.")
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.get_by_text("Admitted: 1.")).to_be_visible()
    auditor.check(page, "no script: admitted from the queue")
    stack.wait_for_mail(email, "You are admitted")
