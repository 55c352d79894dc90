"""Slack from outside: a correctly signed request sent again is not acted on again, what people
wrote reaches Slack escaped in every field, and malformed signed payloads are refused."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import time_machine
from sqlalchemy import func, select, update

from portal.auth.models import User
from portal.auth.services import create_user
from portal.core.request_input import MAX_ID
from portal.core.roles import Role, SupportTier
from portal.extensions import db
from portal.helpdesk.models import EventKind, SlackRequest, TicketEvent
from tests.conftest import deliver_outbox
from tests.helpdesk.helpers import MONDAY_10AM, file_ticket, load_ticket, slack_headers, slack_post

MARKUP_SUBJECT = "<!channel> <https://evil.example|click>"
ESCAPED_SUBJECT = "&lt;!channel&gt; &lt;https://evil.example|click&gt;"
# What must never reach Slack raw: a ping of everyone, and a link someone else labelled.
RAW_MARKUP = ("<!channel>", "<!here>", "<https://evil.example")


def signed(path: str, form: dict[str, str]) -> dict[str, Any]:
    """One signed request, to send as many times as a replay would."""
    body = urlencode(form)
    return {
        "path": path,
        "data": body,
        "content_type": "application/x-www-form-urlencoded",
        "headers": slack_headers(body),
    }


def command_request(text: str, slack_user: str = "U0TIER1") -> dict[str, Any]:
    form = {"command": "/ticket", "text": text, "user_id": slack_user, "trigger_id": "1.2.abc"}
    return signed("/slack/commands", form)


def click_request(number: int, action: str, slack_user: str = "U0TIER1") -> dict[str, Any]:
    payload = {
        "type": "block_actions",
        "trigger_id": "1.2.def",
        "user": {"id": slack_user},
        "actions": [{"action_id": action, "value": str(number)}],
    }
    return signed("/slack/interactions", {"payload": json.dumps(payload)})


def events(app, number: int, kind: EventKind) -> int:
    with app.app_context():
        return len(
            db.session.scalars(
                select(TicketEvent).where(TicketEvent.ticket_id == number, TicketEvent.kind == kind)
            ).all()
        )


def test_a_signed_escalate_command_sent_twice_2_s_apart_escalates_once(app, client, people, tiers):
    with time_machine.travel(MONDAY_10AM, tick=False) as clock:
        number = file_ticket(app, people.delegate)
        request = command_request(f"escalate {number} The TAP service needs tier 2")
        first = client.post(**request)
        assert first.json["text"] == f"Ticket #{number} is escalated to Tier 2: service desk."
        clock.shift(timedelta(seconds=2))
        replay = client.post(**request)
    assert replay.status_code == 200
    assert replay.json["response_type"] == "ephemeral"
    assert "already received" in replay.json["text"]
    assert load_ticket(app, number).tier == 2
    assert events(app, number, EventKind.ESCALATED) == 1


def test_a_signed_acknowledge_click_sent_twice_is_recorded_once(app, client, people, tiers):
    with time_machine.travel(MONDAY_10AM, tick=False) as clock:
        number = file_ticket(app, people.delegate)
        request = click_request(number, "helpdesk_acknowledge")
        assert client.post(**request).json["text"] == f"You acknowledged ticket #{number}."
        clock.shift(timedelta(seconds=2))
        replay = client.post(**request)
        assert replay.status_code == 200
        assert "already received" in replay.json["text"]
        assert events(app, number, EventKind.ACKNOWLEDGED) == 1
        # A new click (Slack signs each request afresh) is acted on as usual.
        clock.shift(timedelta(seconds=1))
        again = client.post(**click_request(number, "helpdesk_acknowledge"))
        assert again.json["text"] == f"You acknowledged ticket #{number}."
    assert events(app, number, EventKind.ACKNOWLEDGED) == 2


def test_copies_sent_at_the_same_moment_act_once(app, people, tiers):
    number = file_ticket(app, people.delegate)
    request = command_request(f"escalate {number} Both copies at once")
    start = threading.Barrier(4)
    answers: list[str] = []

    def send() -> None:
        client = app.test_client()
        start.wait()
        answers.append(client.post(**request).json["text"])

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum("is escalated" in answer for answer in answers) == 1
    assert sum("already received" in answer for answer in answers) == 3
    assert load_ticket(app, number).tier == 2


def test_requests_are_remembered_only_while_their_signature_is_accepted(app, client, people, tiers):
    with time_machine.travel(MONDAY_10AM, tick=False) as clock:
        number = file_ticket(app, people.delegate)
        request = click_request(number, "helpdesk_acknowledge")
        client.post(**request)
        clock.shift(timedelta(minutes=6))
        # Past the window the signature itself is refused, so nothing needs remembering.
        assert client.post(**request).status_code == 401
        client.post(**click_request(number, "helpdesk_acknowledge"))
    with app.app_context():
        remembered = db.session.scalar(select(func.count()).select_from(SlackRequest))
    assert remembered == 1  # the new click's; the old one was forgotten
    assert events(app, number, EventKind.ACKNOWLEDGED) == 2


@pytest.mark.parametrize(
    "payload",
    [
        {"user": {"id": "U0TIER1"}, "actions": "helpdesk_claim"},
        {"user": {"id": "U0TIER1"}, "actions": ["helpdesk_claim"]},
        {"user": {"id": "U0TIER1"}, "actions": [None]},
        {"user": {"id": "U0TIER1"}, "actions": [[1, 2]]},
        {"user": {"id": "U0TIER1"}, "actions": []},
        {"user": {"id": "U0TIER1"}, "actions": {"0": {"action_id": "helpdesk_claim"}}},
        {"user": {"id": "U0TIER1"}, "actions": [{"action_id": "helpdesk_claim", "value": 1}]},
        {"user": {"id": "U0TIER1"}, "actions": [{"action_id": ["x"], "value": "1"}]},
        {"user": {"id": "U0TIER1"}, "actions": [{"action_id": "helpdesk_claim", "value": "-1"}]},
        {
            "user": {"id": "U0TIER1"},
            "actions": [{"action_id": "helpdesk_claim", "value": str(MAX_ID + 1)}],
        },
        {"user": "U0TIER1", "actions": [{"action_id": "helpdesk_claim", "value": "1"}]},
        {"user": {"id": 7}, "actions": [{"action_id": "helpdesk_claim", "value": "1"}]},
        ["not", "an", "object"],
        "just a string",
    ],
)
def test_a_signed_interaction_of_the_wrong_shape_is_refused_with_a_reason(
    app, client, people, tiers, payload
):
    response = slack_post(client, "/slack/interactions", {"payload": json.dumps(payload)})
    assert response.status_code == 400
    assert response.json["reason"] == "The interaction payload is not one this app sends."


def strings(value: Any) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def test_what_people_wrote_reaches_slack_escaped_in_every_field(app, client, people, tiers, slack):
    with app.app_context():
        requester = create_user(
            email="eve@example.org",
            full_name="Eve <!here> & Co",
            password=None,
            role=Role.STAFF,  # staff may file urgent tickets, which are posted at once
            tier=SupportTier.COMMUNITY_ENGAGEMENT,
        )
        db.session.execute(
            update(User).where(User.id == people.tier2.id).values(full_name="Sam <!channel>")
        )
        db.session.commit()
        db.session.refresh(requester)
        db.session.expunge(requester)
    answers = []
    with time_machine.travel(MONDAY_10AM, tick=False):
        number = file_ticket(
            app, requester, subject=MARKUP_SUBJECT, category="notebook", priority="urgent"
        )
        answers.append(client.post(**click_request(number, "helpdesk_claim")).json)
        answers.append(
            client.post(
                **command_request(f"escalate {number} see <https://evil.example|this> <!here>")
            ).json
        )
        answers.append(client.post(**command_request(f"claim {number}", "U0TIER2")).json)
        # Refused, quoting who has it: the name is escaped in the refusal too.
        answers.append(client.post(**command_request(f"claim {number}", "U0TIER3")).json)
        answers.append(client.post(**command_request(f"show {number}", "U0TIER2")).json)
        deliver_outbox(app)

    calls = [args for method, args in slack.received if method.startswith("chat.")]
    # Posts in tier 1 (new) and tier 2 (escalated); in tier 1 an edit and a thread reply for
    # the claim, the escalation and the second claim; in tier 2 the same for the second claim.
    assert len(calls) == 10
    for payload in [*calls, *answers]:
        for text in strings(payload):
            assert not any(raw in text for raw in RAW_MARKUP), text
    fallbacks = [args["text"] for args in calls if "blocks" in args] + [answers[-1]["text"]]
    assert len(fallbacks) == 7
    for text in fallbacks:  # the notification text of every post, edit and the show answer
        assert ESCAPED_SUBJECT in text, text
    assert "Eve &lt;!here&gt; &amp; Co" in json.dumps(answers[-1]["blocks"])
    threads = [args["text"] for args in calls if args.get("thread_ts")]
    assert "Claimed by Sam &lt;!channel&gt;" in threads
    assert any("see &lt;https://evil.example|this&gt; &lt;!here&gt;" in t for t in threads)
    assert "Sam &lt;!channel&gt; has already claimed" in answers[3]["text"]
    # Our own usage text shows its placeholder rather than being read as markup.
    usage = client.post(**command_request("help")).json["text"]
    assert "&lt;reason&gt;" in usage
