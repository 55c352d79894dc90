"""Routes of the help desk: requesters' tickets, the staff queue and actions, numbers, canned
replies, tier settings, Slack's endpoints and the JSON API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.auth.models import User
from portal.extensions import db
from portal.helpdesk import requesters, settings
from portal.helpdesk.attachments import Upload
from portal.helpdesk.models import TicketAttachment
from tests.route_tables import ROLES, Route, admins, delegates, everyone, staff


def setup(app: Any, users: dict[str, Any]) -> dict[str, Any]:
    """A tier-1 ticket filed by the delegate with one attachment, and a tier-1 canned reply."""
    with app.app_context():
        requester = db.session.get(User, users["delegate"].id)
        ticket = requesters.create_ticket(
            requester,
            subject="TAP query times out",
            description="After 60 seconds.",
            category="api_tap",
            priority="normal",
            uploads=[Upload(filename="query.txt", extension="txt", content=b"SELECT 1")],
        )
        attachment_id = db.session.scalar(select(TicketAttachment.id))
        admin = db.session.get(User, users["admin"].id)
        canned = settings.save_canned_reply(admin, None, tier=1, title="Hello", body="Hello!")
        return {"ticket_id": ticket.id, "attachment_id": attachment_id, "canned_id": canned.id}


def requester_only(ok: int) -> dict[str, int]:
    """Only the delegate who filed the ticket; for everyone else it does not exist."""
    return {**dict.fromkeys(ROLES, 404), "anonymous": 302, "applicant": 403, "delegate": ok}


def tiered_staff(ok: int, *, untiered: int = 403) -> dict[str, int]:
    return {**staff(ok), "staff": untiered, "programme": untiered}


TICKET = "/staff/tickets/{ticket_id}"

ROUTES = [
    # Requesters.
    Route("GET", "/tickets/", delegates(200)),
    Route("GET", "/tickets/new", delegates(200)),
    Route("POST", "/tickets/new", delegates(422)),
    Route("GET", "/tickets/suggest", delegates(200)),
    Route("GET", "/tickets/{ticket_id}", requester_only(200)),
    Route("POST", "/tickets/{ticket_id}/reply", requester_only(422)),
    Route("POST", "/tickets/{ticket_id}/rate", requester_only(422)),  # not resolved yet
    Route("POST", "/tickets/{ticket_id}/solved", requester_only(302)),
    Route("GET", "/tickets/{ticket_id}/attachments/{attachment_id}", requester_only(200)),
    # Staff: every tier reads every ticket; acting needs the ticket's tier or a higher one.
    Route("GET", "/staff/tickets/", staff(200)),
    Route("GET", TICKET, staff(200)),
    Route("POST", TICKET + "/reply", staff(422)),  # an empty message
    # Tier 1 claims it first; after that it is taken.
    Route("POST", TICKET + "/claim", {**staff(403), "tier1": 302}),
    Route("POST", TICKET + "/assign", tiered_staff(302), data={"assignee": ""}),
    Route("POST", TICKET + "/state", staff(422), data={"state": "nonsense"}),
    Route("POST", TICKET + "/escalate", staff(422)),
    Route("POST", TICKET + "/deescalate", staff(422)),
    Route("POST", TICKET + "/properties", staff(422)),
    Route("GET", TICKET + "/attachments/{attachment_id}", staff(200)),
    Route("GET", "/staff/tickets/dashboard", staff(200)),
    Route("GET", "/staff/tickets/tiers", staff(200)),
    Route("GET", "/staff/tickets/tiers/1", admins(200)),
    Route("POST", "/staff/tickets/tiers/1", admins(422)),
    Route("GET", "/staff/tickets/canned", staff(200)),
    Route("GET", "/staff/tickets/canned/new", tiered_staff(200)),
    Route("POST", "/staff/tickets/canned/new", tiered_staff(422)),
    # The canned reply belongs to tier 1: its staff and admins may edit it.
    Route("GET", "/staff/tickets/canned/{canned_id}", {**staff(403), "tier1": 200, "admin": 200}),
    Route("POST", "/staff/tickets/canned/{canned_id}", {**staff(403), "tier1": 422, "admin": 422}),
    Route(
        "POST",
        "/staff/tickets/canned/{canned_id}/delete",
        # Untiered staff are refused; after tier 1 deleted it, it is gone for the rest.
        {**staff(404), "staff": 403, "tier1": 302},
    ),
    # Slack authenticates by signature only.
    Route("POST", "/slack/interactions", everyone(401)),
    Route("POST", "/slack/commands", everyone(401)),
    # The API authenticates by token only.
    Route("GET", "/api/v1/tickets", everyone(401)),
    Route("POST", "/api/v1/tickets", everyone(401)),
    Route("GET", "/api/v1/tickets/{ticket_id}", everyone(401)),
    Route("POST", "/api/v1/tickets/{ticket_id}/replies", everyone(401)),
    Route("POST", "/api/v1/tickets/{ticket_id}/escalate", everyone(401)),
]
