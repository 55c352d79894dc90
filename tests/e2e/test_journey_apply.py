"""Journey 1: an applicant finds the form from the home page, makes a mistake and sees it
explained without losing what was typed, applies, confirms by the emailed link, is waitlisted
with a position, gets an offer when a seat frees, and accepts it."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.arrange import Arranger
from tests.e2e.audit import Auditor, Screenshots
from tests.e2e.people import fill_application_form, link_in
from tests.e2e.stack import Stack


def test_applicant_is_waitlisted_offered_a_seat_and_accepts(
    contexts: Any, arrange: Arranger, stack: Stack, auditor: Auditor, screenshots: Screenshots
) -> None:
    arrange.fill_first_come_wave()
    email = arrange.email("camila")
    page = contexts()

    page.goto("/")
    auditor.check(page, "home")
    screenshots.take(page, "home")
    page.get_by_role("link", name="Apply to become a delegate").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Apply to become")
    expect(page.get_by_role("link", name="Apply", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    auditor.check(page, "application form")
    screenshots.take(page, "apply-form")

    # A mistake: a GitHub username with a space in it.
    fill_application_form(page, "Camila Rojas", email, "camila rojas")
    page.get_by_role("button", name="Send my application").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Please check what you entered")
    expect(summary).to_contain_text("GitHub username")
    github = page.get_by_label("GitHub username")
    expect(github).to_have_attribute("aria-invalid", "true")
    # What was typed is still there.
    expect(page.get_by_label("Full name")).to_have_value("Camila Rojas")
    expect(page.get_by_label("Country where you work")).to_have_value("CL")
    expect(page.get_by_label("Galaxies")).to_be_checked()
    expect(page.get_by_label("What do you hope to contribute to DP0?")).to_have_value(
        "A Spanish-language tutorial on colour-magnitude diagrams."
    )
    auditor.check(page, "application form with a mistake")
    screenshots.take(page, "apply-mistake")

    summary.get_by_role("link", name="GitHub username").click()
    expect(github).to_be_focused()
    github.fill("camila-rojas")
    page.get_by_label("I have read and accept the delegate guidelines").check()
    page.get_by_role("button", name="Send my application").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    auditor.check(page, "check your email")

    confirm = stack.wait_for_mail(email, "Confirm your email")
    page.goto(link_in(confirm, "/signup/verify/"))
    expect(page.get_by_text("You are on the waitlist")).to_be_visible()
    expect(page.get_by_text("You are number 1 on the waitlist")).to_be_visible()
    expect(page.get_by_role("link", name="Apply", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    auditor.check(page, "status: waitlisted")
    screenshots.take(page, "status-waitlisted")
    stack.wait_for_mail(email, "waitlist")

    arrange.free_a_seat()
    offer = stack.wait_for_mail(email, "is yours if you accept it")
    page.goto(link_in(offer, "/accept"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Accept your place")
    auditor.check(page, "accept the offer")
    screenshots.take(page, "offer-accept")
    page.get_by_role("button", name="Yes, I accept the place").click()
    expect(page.get_by_text("Welcome: you are admitted.")).to_be_visible()
    expect(page.get_by_text("Admitted", exact=True)).to_be_visible()
    auditor.check(page, "status: admitted")
    screenshots.take(page, "status-admitted")
    stack.wait_for_mail(email, "You are admitted")
