"""Slack both ways, against the stand-in Slack Web API over real HTTP: living Block Kit
messages per ticket and tier channel, edits and thread replies, quiet hours, an outage, rate
limits and timeouts; and signed (and badly signed) button clicks and /ticket commands."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
import yaml
from sqlalchemy import select

from portal.core.db import utcnow
from portal.extensions import db
from portal.helpdesk.models import EventKind, TicketEvent
from portal.helpdesk.staff import add_staff_message, claim_ticket, escalate_ticket
from portal.helpdesk.sweep import run_sla_sweep
from portal.outbox.models import MessageState, OutboxMessage
from tests.conftest import deliver_outbox
from tests.helpdesk.helpers import (
    MONDAY_10AM,
    act,
    file_ticket,
    load_ticket,
    slack_headers,
    slack_post,
)

PHOENIX = ZoneInfo("America/Phoenix")
MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "slack-app-manifest.yml"


def phoenix(*args: int) -> datetime:
    return datetime(*args, tzinfo=PHOENIX).astimezone(UTC)


def block_text(message: dict[str, Any]) -> str:
    """Every piece of text in a message's blocks, for assertions."""
    parts = []
    for block in message.get("blocks") or []:
        if "text" in block:
            parts.append(block["text"]["text"])
        parts += [f["text"] for f in block.get("fields", [])]
        parts += [e["text"]["text"] for e in block.get("elements", []) if "text" in e]
    return "\n".join(parts)


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    actions = [b for b in message["blocks"] if b["type"] == "actions"]
    return {e["text"]["text"]: e for e in actions[0]["elements"]}


def roots(slack, channel: str) -> list[dict[str, Any]]:
    return [m for m in slack.channels.get(channel, []) if not m["thread_ts"]]


def thread(slack, channel: str, root: dict[str, Any]) -> list[str]:
    return [m["text"] for m in slack.channels[channel] if m["thread_ts"] == root["ts"]]


def urgent_ticket(app, people) -> int:
    return file_ticket(
        app, people.tier1, subject="Notebook hub is down", category="notebook", priority="urgent"
    )


def test_a_new_urgent_ticket_posts_a_living_message_with_buttons(app, people, tiers, slack):
    with time_machine.travel(MONDAY_10AM, tick=False):
        file_ticket(app, people.delegate, subject="Not urgent")
        number = urgent_ticket(app, people)
        deliver_outbox(app)
    (post,) = slack.all_posts()
    assert slack.channels["C0TIER1"] == [post]
    assert post["text"].startswith(f"#{number} Notebook hub is down")
    text = block_text(post)
    for expected in (
        "Tala Ngata",
        "Notebook aspect",
        "Urgent",
        "Tier 1",
        "New",
        "Unassigned",
        "First response due in 30 min",
        "New urgent ticket",
    ):
        assert expected in text, expected
    assert set(buttons(post)) == {"Claim", "Acknowledge", "Open in portal"}
    assert buttons(post)["Open in portal"]["url"] == f"http://portal.test/staff/tickets/{number}"
    assert buttons(post)["Claim"]["value"] == str(number)
    # The post carries the outbox id, so a lost answer is reconciled rather than re-posted.
    assert post["metadata"]["event_type"] == "portal_outbox"


def test_later_events_edit_the_message_and_reply_in_its_thread(app, people, tiers, slack, as_user):
    with time_machine.travel(MONDAY_10AM, tick=False):
        number = urgent_ticket(app, people)
        deliver_outbox(app)
        staff = as_user(people.tier2)
        page = f"/staff/tickets/{number}"
        assert staff.submit(page + "/claim", form_url=page).status_code == 302
        staff.submit(
            page + "/reply",
            {"body": "Restarting the hub", "action": "reply", "new_state": "waiting_internal"},
            form_url=page,
        )
        act(app, people.tier2, add_staff_message, number, body="note only", internal=True)
        staff.submit(page + "/state", {"state": "resolved"}, form_url=page)
        deliver_outbox(app)
    (root,) = roots(slack, "C0TIER1")
    assert thread(slack, "C0TIER1", root) == [
        "Claimed by Samir Haddad",
        "Samir Haddad replied to the requester",
        "Resolved (Samir Haddad)",
    ]
    assert root["edits"] == 3
    assert "Resolved" in block_text(root)
    assert set(buttons(root)) == {"Open in portal"}  # nothing left to claim or acknowledge
    assert [u["ts"] for u in slack.updates] == [root["ts"]] * 3


def test_an_escalation_posts_in_the_new_tier_and_updates_the_old(app, people, tiers, slack):
    with time_machine.travel(MONDAY_10AM, tick=False):
        number = urgent_ticket(app, people)
        act(app, people.tier1, escalate_ticket, number, "Hub needs the service desk")
        deliver_outbox(app)
    (tier2_root,) = roots(slack, "C0TIER2")
    assert "Escalated from tier 1 by Tala Ngata: Hub needs the service desk" in block_text(
        tier2_root
    )
    assert "Tier 2" in block_text(tier2_root)
    (tier1_root,) = roots(slack, "C0TIER1")
    assert tier1_root["edits"] == 1
    assert thread(slack, "C0TIER1", tier1_root) == [
        "Escalated from tier 1 by Tala Ngata: Hub needs the service desk"
    ]


def test_nothing_is_posted_outside_business_hours_except_urgent_and_breached(
    app, people, tiers, slack
):
    with time_machine.travel(phoenix(2026, 3, 6, 16, 0), tick=False) as clock:  # Friday
        quiet = file_ticket(app, people.delegate, subject="Quiet one")
        clock.move_to(phoenix(2026, 3, 7, 11, 0))  # Saturday
        act(app, people.tier1, escalate_ticket, quiet, "Weekend hand-over")
        urgent = urgent_ticket(app, people)
        deliver_outbox(app)
        assert [m["text"].split(" ")[0] for m in slack.all_posts()] == [f"#{urgent}"]
        with app.app_context():
            held = db.session.scalar(
                select(OutboxMessage).where(OutboxMessage.state == MessageState.PENDING)
            )
            assert held.next_attempt_at == phoenix(2026, 3, 9, 9, 0)  # Monday's opening
        clock.move_to(phoenix(2026, 3, 9, 9, 0))
        deliver_outbox(app)
    (held_post,) = roots(slack, "C0TIER2")
    assert held_post["text"].startswith(f"#{quiet} Quiet one")


def test_a_breached_ticket_is_posted_at_once_even_at_night(app, people, tiers, slack):
    with time_machine.travel(MONDAY_10AM, tick=False) as clock:
        number = file_ticket(app, people.delegate)
        clock.move_to(phoenix(2026, 3, 2, 12, 5))
        with app.app_context():
            run_sla_sweep()  # breach: escalated to tier 2, posted at once (business hours anyway)
        clock.move_to(phoenix(2026, 3, 2, 22, 0))
        act(app, people.tier2, escalate_ticket, number, "Night shift hand-over")
        deliver_outbox(app)
    assert len(roots(slack, "C0TIER2")) == 1
    (tier3_root,) = roots(slack, "C0TIER3")
    assert "Night shift hand-over" in block_text(tier3_root)


def test_an_outage_delays_messages_but_loses_and_duplicates_none(app, people, tiers, slack):
    slack.down = True
    with time_machine.travel(MONDAY_10AM, tick=False) as clock:
        number = urgent_ticket(app, people)
        act(app, people.tier1, claim_ticket, number)
        act(app, people.tier1, add_staff_message, number, body="Looking", internal=False)
        act(app, people.tier1, escalate_ticket, number, "Needs platform access")
        deliver_outbox(app)
        assert slack.all_posts() == []
        slack.down = False
        for minutes in (5, 15, 45, 120):
            clock.move_to(MONDAY_10AM + timedelta(minutes=minutes))
            deliver_outbox(app)
    (tier1_root,) = roots(slack, "C0TIER1")
    assert thread(slack, "C0TIER1", tier1_root) == [
        "Claimed by Tala Ngata",
        "Tala Ngata replied to the requester",
        "Escalated from tier 1 by Tala Ngata: Needs platform access",
    ]
    # The edits landed in order: the message shows the last state.
    assert tier1_root["edits"] == 3
    assert "Tier 2" in block_text(tier1_root)
    assert len(roots(slack, "C0TIER2")) == 1
    with app.app_context():
        states = db.session.scalars(
            select(OutboxMessage.state).where(OutboxMessage.channel == "slack")
        ).all()
    assert set(states) == {MessageState.SENT}


def test_rate_limits_server_errors_and_timeouts_are_retried_without_duplicates(
    app, people, tiers, slack
):
    app.config["OUTBOX_SEND_TIMEOUT_SECONDS"] = 1
    with time_machine.travel(MONDAY_10AM, tick=False) as clock:
        number = urgent_ticket(app, people)
        slack.retry_after = 30
        slack.fail_statuses = [429, 500]
        deliver_outbox(app)
        assert slack.all_posts() == []
        clock.move_to(MONDAY_10AM + timedelta(seconds=10))
        deliver_outbox(app)
        assert slack.all_posts() == []  # Retry-After (30 s) is honoured
        clock.move_to(MONDAY_10AM + timedelta(minutes=2))
        deliver_outbox(app)
        clock.move_to(MONDAY_10AM + timedelta(minutes=10))
        deliver_outbox(app)
        assert len(slack.all_posts()) == 1
        # The next edit reaches Slack, but the answer is lost: it is not sent twice.
        slack.slow_after_recording, slack.delay_seconds = True, 2
        act(app, people.tier1, claim_ticket, number)
        deliver_outbox(app)
        slack.delay_seconds = 0
        clock.move_to(MONDAY_10AM + timedelta(minutes=30))
        deliver_outbox(app)
    (root,) = roots(slack, "C0TIER1")
    assert thread(slack, "C0TIER1", root) == ["Claimed by Tala Ngata"]
    assert root["edits"] >= 1


# --- Slack's requests to the portal -------------------------------------------------------------


def click(client, number: int, action: str, slack_user: str = "U0TIER1", **signing: Any):
    payload = {
        "type": "block_actions",
        "user": {"id": slack_user},
        "actions": [
            {"action_id": action, "value": str(number), "block_id": f"helpdesk_ticket_{number}"}
        ],
        "channel": {"id": "C0TIER1"},
    }
    return slack_post(client, "/slack/interactions", {"payload": json.dumps(payload)}, **signing)


def command(client, text: str, slack_user: str = "U0TIER2", **signing: Any):
    form = {"command": "/ticket", "text": text, "user_id": slack_user, "response_url": "http://x"}
    return slack_post(client, "/slack/commands", form, **signing)


def slack_events(app, number: int) -> list[tuple[str, int | None]]:
    with app.app_context():
        return [
            (e.kind, e.actor_id)
            for e in db.session.scalars(
                select(TicketEvent).where(
                    TicketEvent.ticket_id == number, TicketEvent.via == "slack"
                )
            )
        ]


def test_claim_and_acknowledge_buttons_act_as_the_linked_staff_member(
    app, client, people, tiers, slack
):
    number = urgent_ticket(app, people)
    response = click(client, number, "helpdesk_claim")
    assert response.status_code == 200
    assert response.json == {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": f"You claimed ticket #{number}.",
    }
    assert load_ticket(app, number).assignee_id == people.tier1.id
    ack = click(client, number, "helpdesk_acknowledge", slack_user="U0TIER2")
    assert ack.json["text"] == f"You acknowledged ticket #{number}."
    assert slack_events(app, number) == [
        (EventKind.CLAIMED, people.tier1.id),
        (EventKind.STATE_CHANGED, people.tier1.id),  # claimed: new -> open
        (EventKind.ACKNOWLEDGED, people.tier2.id),
    ]
    # A second click on Claim by someone else is refused, politely, in Slack.
    again = click(client, number, "helpdesk_claim", slack_user="U0TIER2")
    assert "already claimed" in again.json["text"]
    assert click(client, number, "helpdesk_open").status_code == 200
    deliver_outbox(app)
    (root,) = roots(slack, "C0TIER1")
    assert thread(slack, "C0TIER1", root) == [
        "Claimed by Tala Ngata",
        "Acknowledged by Samir Haddad",
    ]


def test_slack_users_keep_their_tier_and_must_be_linked(app, client, people, tiers):
    number = file_ticket(app, people.delegate, category="account_access")  # tier 2
    refused = click(client, number, "helpdesk_claim", slack_user="U0TIER1")
    assert refused.status_code == 200
    assert "cannot act on it" in refused.json["text"]
    assert load_ticket(app, number).assignee_id is None
    stranger = click(client, number, "helpdesk_claim", slack_user="U999")
    assert "not linked" in stranger.json["text"]
    assert "http://portal.test/account/" in stranger.json["text"]
    missing = click(client, 9999, "helpdesk_claim")
    assert "no such ticket" in missing.json["text"]


@pytest.mark.parametrize(
    "signing",
    [
        {"secret": "not-the-secret"},
        {"timestamp": int(time.time()) - 600},  # replayed: more than 5 minutes old
        {"timestamp": int(time.time()) + 600},
    ],
    ids=["wrong secret", "stale", "future"],
)
def test_bad_signatures_are_refused(app, client, people, tiers, signing):
    number = urgent_ticket(app, people)
    assert click(client, number, "helpdesk_claim", **signing).status_code == 401
    response = command(client, f"claim {number}", **signing)
    assert response.status_code == 401
    assert response.json["reason"] == "The Slack signature is missing, wrong or stale."
    assert load_ticket(app, number).assignee_id is None


def test_unsigned_and_tampered_requests_are_refused(app, client, people, tiers):
    number = urgent_ticket(app, people)
    body = "payload=" + json.dumps({"user": {"id": "U0TIER1"}, "actions": []})
    assert (
        client.post(
            "/slack/interactions", data=body, content_type="application/x-www-form-urlencoded"
        ).status_code
        == 401
    )
    headers = slack_headers(f"command=/ticket&text=show+{number}&user_id=U0TIER2")
    tampered = client.post(
        "/slack/commands",
        data=f"command=/ticket&text=claim+{number}&user_id=U0TIER2",
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )
    assert tampered.status_code == 401
    assert load_ticket(app, number).assignee_id is None
    junk = slack_post(client, "/slack/interactions", {"payload": "not json"})
    assert junk.status_code == 400


def test_the_ticket_slash_command(app, client, people, tiers, slack):
    # In the tiers' business hours, so the escalation is posted at once rather than held.
    with time_machine.travel(MONDAY_10AM, tick=False):
        number = file_ticket(
            app, people.delegate, category="account_access", subject="GitHub access"
        )
        shown = command(client, f"show #{number}")
        assert shown.status_code == 200
        assert shown.json["response_type"] == "ephemeral"
        assert "GitHub access" in shown.json["text"]
        assert "Luis Ortega" in block_text(shown.json)

        assert command(client, f"claim {number}").json["text"] == f"You claimed ticket #{number}."
        assert load_ticket(app, number).assignee_id == people.tier2.id
        assert "Say why" in command(client, f"escalate {number}").json["text"]
        escalated = command(client, f"escalate {number} Registry looks corrupt")
        assert escalated.json["text"] == f"Ticket #{number} is escalated to Tier 3: experts."
        ticket = load_ticket(app, number)
        assert (ticket.tier, ticket.assignee_id) == (3, None)
        assert slack_events(app, number) == [
            (EventKind.CLAIMED, people.tier2.id),
            (EventKind.STATE_CHANGED, people.tier2.id),
            (EventKind.ESCALATED, people.tier2.id),
        ]
        assert "Usage" in command(client, "help").json["text"]
        assert "Usage" in command(client, f"delete {number}").json["text"]
        assert "no such ticket" in command(client, "show 9999").json["text"]
        assert "not linked" in command(client, f"show {number}", slack_user="U999").json["text"]
        deliver_outbox(app)
        assert len(roots(slack, "C0TIER3")) == 1


def test_slack_requests_answer_quickly(app, client, people, tiers, slack):
    """Slack gives up after 3 seconds: the endpoint only writes to the outbox."""
    slack.delay_seconds = 5  # Slack's Web API being slow must not slow the answer
    number = urgent_ticket(app, people)
    started = time.monotonic()
    assert click(client, number, "helpdesk_claim").status_code == 200
    assert time.monotonic() - started < 1.5
    slack.delay_seconds = 0


def test_no_slack_channel_means_no_posts(app, people, slack):
    urgent_ticket(app, people)
    deliver_outbox(app)
    assert slack.all_posts() == []
    with app.app_context():
        assert (
            db.session.scalar(select(OutboxMessage).where(OutboxMessage.channel == "slack")) is None
        )
    assert utcnow()


def test_the_committed_slack_app_manifest_matches_the_portal(app):
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) >= {"chat:write", "commands"}
    (ticket_command,) = manifest["features"]["slash_commands"]
    assert ticket_command["command"] == "/ticket"
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    adapter = app.url_map.bind("portal.example.org")
    for url, endpoint in (
        (ticket_command["url"], "helpdesk_slack.commands"),
        (interactivity["request_url"], "helpdesk_slack.interactions"),
    ):
        assert url.startswith("https://portal.example.org/")
        assert (
            adapter.match(url.removeprefix("https://portal.example.org"), method="POST")[0]
            == endpoint
        )
