"""Links in plain-text emails stand alone: punctuation glued to a URL becomes part of it in many
mail clients, and the clicked link then leads nowhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PORTAL = Path(__file__).resolve().parent.parent / "portal"
TEXT_EMAILS = sorted(PORTAL.glob("**/templates/email/*.txt"))
# An expression that renders a URL: external_url(...), or a variable named as a link or URL.
URL_EXPRESSION = r"\{\{[^}]*(?:external_url|link|url)[^}]*\}\}"


def test_there_are_text_emails_to_check():
    assert len(TEXT_EMAILS) > 10


@pytest.mark.parametrize("template", TEXT_EMAILS, ids=lambda path: path.name)
def test_no_punctuation_follows_a_link(template: Path):
    text = template.read_text(encoding="utf-8")
    glued = re.findall(URL_EXPRESSION + r"[.,;:!?)\]'\"]", text)
    assert not glued, f"{template.name}: punctuation right after a link: {glued}"


def test_a_rendered_email_keeps_its_links_clean(app, client, mailbox):
    from tests.conftest import deliver_outbox

    client.submit(
        "/auth/register",
        {
            "full_name": "Link Checker",
            "email": "links@example.org",
            "password": "long enough password",
            "confirm": "long enough password",
        },
    )
    deliver_outbox(app)
    [message] = mailbox.to("links@example.org")
    links = re.findall(r"https?://\S+", mailbox.text(message))
    assert links
    for link in links:
        assert not re.search(r"[.,;:!?)\]]$", link), link
