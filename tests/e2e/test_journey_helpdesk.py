"""Journey 3: a delegate starts a ticket, is shown matching documentation, files it anyway;
tier-1 staff reply and escalate; the Slack stand-in receives the message; a signed Claim click
from "Slack" assigns it to tier-2 staff; the delegate sees the replies and rates the help."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import urllib.request
from typing import Any
from urllib.parse import urlencode

from playwright.sync_api import Page, expect

from tests.e2e.arrange import Arranger
from tests.e2e.audit import Auditor, Screenshots
from tests.e2e.people import sign_in
from tests.e2e.stack import SLACK_SIGNING_SECRET, Stack

TIER2_CHANNEL = "C0TIER2"
TIER2_SLACK_USER = "U0SAMIR"


def slack_click(stack: Stack, action_id: str, number: int, slack_user: str) -> dict[str, Any]:
    """What Slack sends when someone clicks a button on the ticket's message: a form with the
    JSON payload, signed with the app's signing secret."""
    payload = {
        "type": "block_actions",
        "user": {"id": slack_user},
        "actions": [{"action_id": action_id, "value": str(number)}],
    }
    body = urlencode({"payload": json.dumps(payload)})
    stamp = str(int(time.time()))
    digest = hmac.new(
        SLACK_SIGNING_SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256
    ).hexdigest()
    request = urllib.request.Request(  # noqa: S310 - the local portal under test
        stack.url + "/slack/interactions",
        data=body.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": f"v0={digest}",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return dict(json.loads(response.read()))


def wait_for_slack_post(stack: Stack, channel: str, text: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        posts = stack.standin_state("slack")["channels"].get(channel, [])
        if any(text in post["text"] for post in posts):
            return
        assert time.monotonic() < deadline, f"no Slack post with {text!r} in {channel}: {posts}"
        time.sleep(0.2)


def open_ticket_from_queue(page: Page, subject: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Ticket queue").click()
    page.get_by_role("link", name=subject).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(subject)


def test_ticket_is_answered_escalated_claimed_from_slack_and_rated(
    contexts: Any, arrange: Arranger, stack: Stack, auditor: Auditor, screenshots: Screenshots
) -> None:
    arrange.open_tier(1, "C0TIER1")
    arrange.open_tier(2, TIER2_CHANNEL)
    delegate = arrange.delegate("Luis Ortega")
    tier1 = arrange.staff("Tala Ngata", tier=1)
    tier2 = arrange.staff("Samir Haddad", tier=2, slack_user_id=TIER2_SLACK_USER)
    subject = "TAP query on the object table times out"

    # The delegate starts a ticket and is shown documentation that may answer it.
    requester = contexts()
    sign_in(requester, delegate.email, auditor)
    requester.get_by_role("link", name="File a ticket").click()
    expect(requester.get_by_role("heading", level=1)).to_have_text("File a help-desk ticket")
    requester.get_by_label("Subject").press_sequentially("TAP query object times out")
    suggestions = requester.locator("#doc-suggestions")
    expect(suggestions).to_be_visible()
    expect(suggestions.get_by_role("link").first).to_be_visible()
    auditor.check(requester, "new ticket with suggestions")
    screenshots.take(requester, "ticket-suggestions")
    requester.get_by_label("Subject").fill(subject)
    requester.get_by_label("What is it about?").select_option(value="api_tap")
    requester.get_by_label("Description").fill(
        "My ADQL query on dp01_dc2_catalogs.object stops after 60 seconds with a timeout."
    )
    requester.get_by_role("button", name="File the ticket").click()
    expect(requester.get_by_text("is filed")).to_be_visible()
    number = int(re.search(r"/tickets/(\d+)", requester.url).group(1))  # type: ignore[union-attr]
    auditor.check(requester, "ticket filed")

    # Tier 1 answers and escalates.
    staff1 = contexts()
    sign_in(staff1, tier1.email)
    staff1.get_by_role("navigation", name="Main").get_by_role("link", name="Ticket queue").click()
    auditor.check(staff1, "ticket queue")
    screenshots.take(staff1, "ticket-queue")
    staff1.get_by_role("link", name=subject).click()
    staff1.get_by_role("button", name="Claim").click()
    staff1.get_by_label("Message").fill(
        "Thank you. Long queries on object can time out; we are passing this to the service desk."
    )
    staff1.get_by_role("button", name="Send reply to requester").click()
    expect(staff1.get_by_text("we are passing this to the service desk").first).to_be_visible()
    auditor.check(staff1, "staff ticket after reply")
    staff1.get_by_label("Why does the next tier need to take it?").fill(
        "Reproducible TAP timeouts need the service desk."
    )
    staff1.get_by_role("button", name="Escalate to tier 2").click()
    expect(staff1.get_by_text("Service desk").first).to_be_visible()
    auditor.check(staff1, "staff ticket escalated")
    screenshots.take(staff1, "staff-ticket", full_page=True)

    # The tier-2 channel in Slack is told, and Samir claims it there.
    wait_for_slack_post(stack, TIER2_CHANNEL, f"#{number}")
    answer = slack_click(stack, "helpdesk_claim", number, TIER2_SLACK_USER)
    assert answer["text"] == f"You claimed ticket #{number}."

    staff2 = contexts()
    sign_in(staff2, tier2.email)
    open_ticket_from_queue(staff2, subject)
    expect(staff2.locator("#assignment")).to_contain_text(tier2.name)
    auditor.check(staff2, "staff ticket claimed from Slack")
    staff2.get_by_label("Message").fill(
        "Queries on object need a spatial constraint; with one it runs in seconds."
    )
    staff2.get_by_label("Then set the state to").select_option(label="Resolved")
    staff2.get_by_role("button", name="Send reply to requester").click()
    expect(staff2.get_by_text("with one it runs in seconds").first).to_be_visible()

    # The delegate reads both replies and rates the help.
    requester.reload()
    expect(requester.get_by_text("we are passing this to the service desk")).to_be_visible()
    expect(requester.get_by_text("with one it runs in seconds")).to_be_visible()
    requester.get_by_role("group", name="How well were you helped?").get_by_label(
        "5: excellent"
    ).check()
    requester.get_by_label("Comment (optional)").fill("Clear and quick, thank you.")
    requester.get_by_role("button", name="Send rating").click()
    expect(requester.get_by_text("Thank you for rating the help.")).to_be_visible()
    auditor.check(requester, "ticket rated")
    screenshots.take(requester, "ticket-rated", full_page=True)
