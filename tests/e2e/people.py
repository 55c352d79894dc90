"""What people do in the browser again and again: sign in, sign out, open an emailed link."""

from __future__ import annotations

import re
from email.message import EmailMessage

from playwright.sync_api import Page, expect

from tests.conftest import Mailbox
from tests.e2e.audit import Auditor
from tests.e2e.stack import PASSWORD


def sign_in(
    page: Page, email: str, auditor: Auditor | None = None, password: str = PASSWORD
) -> None:
    """Sign in through the navigation's "Sign in" link and the form."""
    if page.url == "about:blank":
        page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in").click()
    if auditor is not None:
        auditor.check(page, "sign-in form")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in")
    ).to_be_visible()


def link_in(message: EmailMessage, contains: str) -> str:
    """The first link in an email's text whose address contains `contains`."""
    for link in re.findall(r"https?://\S+", Mailbox.text(message)):
        if contains in link:
            return link
    raise AssertionError(f"no link with {contains!r} in {message['Subject']!r}")


def fill_application_form(page: Page, name: str, email: str, github: str) -> None:
    """Fill in the delegate application as an applicant would (the GitHub username last)."""
    page.get_by_label("Full name").fill(name)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Institution", exact=True).fill("Universidad de Chile")
    page.get_by_label("Type of institution").select_option(label="Research university")
    page.get_by_label("Country where you work").select_option(label="Chile")
    page.get_by_label("Career stage").select_option(label="Graduate student")
    page.get_by_role("group", name="Do you hold Rubin data rights?").get_by_label("Yes").check()
    page.get_by_label("What are your data rights based on?").fill(
        "Graduate student at a Chilean institution."
    )
    page.get_by_label("Galaxies").check()
    for group in ("Experience with Python", "Experience with Jupyter notebooks"):
        page.get_by_role("group", name=group).get_by_label("Intermediate").check()
    page.get_by_role("group", name="Experience with SQL or ADQL").get_by_label("Beginner").check()
    page.get_by_label("What do you hope to contribute to DP0?").fill(
        "A Spanish-language tutorial on colour-magnitude diagrams."
    )
    page.get_by_label("GitHub username").fill(github)
    page.get_by_label("I have read and accept the delegate guidelines").check()
    page.get_by_label("I have read the privacy notice").check()
