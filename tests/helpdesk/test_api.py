"""The help desk's JSON API: staff tokens list, show, create, reply to and escalate tickets;
errors are JSON with a reason."""

from __future__ import annotations

from typing import Any

import pytest

from portal.auth.models import User
from portal.auth.services import create_api_token
from portal.extensions import db
from tests.helpdesk.helpers import file_ticket, load_ticket


@pytest.fixture
def api(app, client, people):
    """Call the API with a tier-2 staff member's token."""
    with app.app_context():
        token = create_api_token(db.session.get(User, people.tier2.id), "tests")

    def call(method: str, path: str, json: Any = None, token_value: str | None = None):
        headers = {"Authorization": f"Bearer {token_value or token}"}
        return client.open("/api/v1/tickets" + path, method=method, json=json, headers=headers)

    return call


def test_list_and_show_tickets(app, api, people):
    number = file_ticket(app, people.delegate, subject="TAP times out")
    file_ticket(app, people.delegate, subject="Login broken", category="account_access")
    listed = api("GET", "?tier=1")
    assert listed.status_code == 200
    assert listed.json["total"] == 1
    (item,) = listed.json["tickets"]
    assert (item["number"], item["state"], item["tier"]) == (number, "new", 1)
    assert item["requester"]["email"] == "delegate@example.org"
    assert item["due"]["first_response"] is not None
    assert api("GET", "?q=login").json["total"] == 1
    assert api("GET", "?per_page=1&page=2").json["tickets"][0]["subject"] in {
        "TAP times out",
        "Login broken",
    }
    bad = api("GET", "?view=everything")
    assert bad.status_code == 422
    assert bad.json["reason"].startswith("view: Input should be 'mine'")
    assert api("GET", "?per_page=5000").status_code == 422

    shown = api("GET", f"/{number}")
    assert shown.status_code == 200
    assert shown.json["ticket"]["description"].startswith("My ADQL query")
    assert [h["kind"] for h in shown.json["ticket"]["history"]] == ["created"]
    missing = api("GET", "/9999")
    assert missing.status_code == 404
    assert missing.json["reason"] == "There is no ticket #9999."


def test_create_reply_and_escalate(app, api, people):
    created = api(
        "POST",
        "",
        {
            "subject": "Batch script cannot reach TAP",
            "description": "From a cron job.",
            "category": "api_tap",
            "priority": "urgent",
            "requester_email": "delegate@example.org",
        },
    )
    assert created.status_code == 201
    number = created.json["ticket"]["number"]
    ticket = load_ticket(app, number)
    assert (ticket.requester_id, ticket.priority, ticket.tier) == (people.delegate.id, "urgent", 1)

    note = api("POST", f"/{number}/replies", {"body": "Checked logs", "internal": True})
    assert note.status_code == 201
    assert note.json["message"]["internal"] is True
    reply = api("POST", f"/{number}/replies", {"body": "Fixed the proxy.", "state": "resolved"})
    assert reply.status_code == 201
    assert load_ticket(app, number).state == "resolved"

    open_one = file_ticket(app, people.delegate)
    escalated = api("POST", f"/{open_one}/escalate", {"reason": "Needs the service desk"})
    assert escalated.status_code == 200
    assert escalated.json["ticket"]["tier"] == 2
    shown = api("GET", f"/{open_one}").json["ticket"]
    assert shown["history"][-1]["via"] == "api"


def test_api_errors_say_what_was_wrong(app, api, people):
    number = file_ticket(app, people.delegate)
    assert api("POST", "", "not an object").status_code == 400
    invalid = api("POST", "", {"subject": "x", "category": "astrology", "description": ""})
    assert invalid.status_code == 422
    assert "category" in invalid.json["reason"]
    assert "subject" in invalid.json["reason"]
    unknown = api(
        "POST",
        "",
        {
            "subject": "Valid subject",
            "description": "d",
            "category": "portal",
            "priority": "normal",
            "requester_email": "nobody@example.org",
        },
    )
    assert unknown.status_code == 422
    assert api("POST", f"/{number}/replies", {"body": ""}).status_code == 422
    assert api("POST", f"/{number}/replies", {"body": "x", "state": "gone"}).status_code == 422
    assert api("POST", f"/{number}/escalate", {"reason": ""}).status_code == 422
    assert api("POST", "/9999/replies", {"body": "x"}).status_code == 404
    # The tier-2 token holder cannot act on a tier-3 ticket.
    api("POST", f"/{number}/escalate", {"reason": "to tier 2"})
    api("POST", f"/{number}/escalate", {"reason": "to tier 3"})
    refused = api("POST", f"/{number}/replies", {"body": "hello"})
    assert refused.status_code == 403
    assert "cannot act on it" in refused.json["reason"]
    assert api("GET", "", token_value="dp0_not-a-token").status_code == 401


def test_delegates_have_no_api_tokens(app, client, people):
    with app.app_context(), pytest.raises(Exception, match="Only staff"):
        create_api_token(db.session.get(User, people.delegate.id), "mine")
