"""Journey 5: journey 1 with the keyboard alone (Tab, Shift-Tab, Enter and Space, and typing
into fields), with a visible focus indicator at every stop."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.arrange import Arranger
from tests.e2e.audit import Auditor
from tests.e2e.keyboard import Keyboard
from tests.e2e.people import link_in
from tests.e2e.stack import Stack


def test_applicant_applies_and_accepts_with_the_keyboard_alone(
    contexts: Any, arrange: Arranger, stack: Stack, auditor: Auditor
) -> None:
    arrange.fill_first_come_wave()
    email = arrange.email("ayesha")
    page = contexts()
    keys = Keyboard(page)
    label = page.get_by_label

    page.goto("/")
    keys.tab_to(page.get_by_role("link", name="Apply to become a delegate"))
    keys.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Apply to become")

    keys.tab_to(label("Full name"))
    keys.type("Ayesha Siddiq")
    keys.tab_to(label("Email", exact=True))
    # A typo noticed one field later: back with Shift-Tab.
    keys.tab_to(label("Full name"), backwards=True)
    keys.clear_and_type("Ayesha Siddiqui")
    keys.tab_to(label("Email", exact=True))
    keys.type(email)
    keys.tab_to(label("Institution", exact=True))
    keys.type("Lahore University of Management Sciences")
    keys.tab_to(label("Type of institution"))
    keys.type("Research")
    keys.tab_to(label("Country where you work"))
    keys.type("Pakistan")
    keys.tab_to(label("Career stage"))
    keys.type("Postdoc")
    data_rights = page.get_by_role("group", name="Do you hold Rubin data rights?")
    keys.tab_to(data_rights.get_by_label("Yes"))
    keys.press("Space")
    keys.tab_to(label("What are your data rights based on?"))
    keys.type("A named in-kind contribution.")
    keys.tab_to(label("Stars, Milky Way and Local Volume"))
    keys.press("Space")
    keys.tab_to(label("GitHub username"))
    keys.type("ayesha siddiqui")  # a mistake: GitHub usernames have no spaces
    for group in (
        "Experience with Python",
        "Experience with Jupyter notebooks",
        "Experience with SQL or ADQL",
    ):
        keys.tab_to(page.get_by_role("group", name=group).get_by_label("None"))
        keys.press("Space")
    keys.tab_to(label("What do you hope to contribute to DP0?"))
    keys.type("Testing the Portal aspect with students.")
    accept = label("I have read and accept the delegate guidelines")
    keys.tab_to(accept)
    keys.press("Space")
    privacy = label("I have read the privacy notice")
    keys.tab_to(privacy)
    keys.press("Space")
    keys.tab_to(page.get_by_role("button", name="Send my application"))
    keys.press("Enter")

    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("GitHub username")
    auditor.check(page, "keyboard: application with a mistake")
    keys.tab_to(summary.get_by_role("link", name="GitHub username"))
    keys.press("Enter")
    expect(label("GitHub username")).to_be_focused()
    keys.clear_and_type("ayesha-siddiqui")
    if not accept.is_checked():
        keys.tab_to(accept)
        keys.press("Space")
    if not privacy.is_checked():
        keys.tab_to(privacy)
        keys.press("Space")
    keys.tab_to(page.get_by_role("button", name="Send my application"))
    keys.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")

    page.goto(link_in(stack.wait_for_mail(email, "Confirm your email"), "/signup/verify/"))
    expect(page.get_by_text("You are number 1 on the waitlist")).to_be_visible()
    keys.tab_to(page.get_by_role("button", name="Withdraw my application"))

    arrange.free_a_seat()
    page.goto(link_in(stack.wait_for_mail(email, "is yours if you accept it"), "/accept"))
    keys.tab_to(page.get_by_role("button", name="Yes, I accept the place"))
    keys.press("Space")
    expect(page.get_by_text("Welcome: you are admitted.")).to_be_visible()
    auditor.check(page, "keyboard: admitted")
    keys.assert_focus_always_visible()
