"""Slack's requests to the portal: button clicks on ticket messages and the /ticket command.

Each request is authenticated by Slack's signature (not a session, so CSRF does not apply),
acts as the staff account linked to the Slack user, and is answered in the HTTP response
within Slack's 3 seconds; channel updates go through the outbox.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from slack_sdk.signature import SignatureVerifier

from portal.core.api import api_error
from portal.core.db import utcnow
from portal.core.security import public
from portal.core.urls import external_url
from portal.extensions import csrf
from portal.helpdesk import staff, tickets
from portal.helpdesk.errors import HelpdeskError, TicketNotFound
from portal.helpdesk.models import Via
from portal.helpdesk.slack import ACKNOWLEDGE_ACTION, CLAIM_ACTION, OPEN_ACTION, ticket_blocks

bp = Blueprint("helpdesk_slack", __name__, url_prefix="/slack")

USAGE = "Usage: `/ticket show 42`, `/ticket claim 42`, `/ticket escalate 42 <reason>`."
_COMMAND = re.compile(
    r"^\s*(?P<verb>[a-z]+)\s+#?(?P<number>\d{1,9})\b\s*(?P<rest>.*)$", re.S | re.I
)


def _verified() -> bool:
    """Whether the request carries a valid, fresh Slack signature over its exact body."""
    secret = current_app.config["SLACK_SIGNING_SECRET"]
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if not secret or not timestamp.isdigit() or not signature:
        return False
    return SignatureVerifier(secret).is_valid(
        body=request.get_data(as_text=True), timestamp=timestamp, signature=signature
    )


def _ephemeral(text: str, blocks: list[dict[str, Any]] | None = None) -> ResponseReturnValue:
    body: dict[str, Any] = {"response_type": "ephemeral", "replace_original": False, "text": text}
    if blocks:
        body["blocks"] = blocks
    return jsonify(body)


def _not_linked() -> ResponseReturnValue:
    return _ephemeral(
        "Your Slack account is not linked to a portal staff account. Add your Slack member ID "
        f"on your account page ({external_url('account.profile')}), then try again."
    )


@bp.route("/interactions", methods=["POST"])
@csrf.exempt
@public
def interactions() -> ResponseReturnValue:
    if not _verified():
        return api_error(401, "The Slack signature is missing, wrong or stale.")
    try:
        payload = json.loads(request.form.get("payload", ""))
        action = payload["actions"][0]
        action_id = str(action.get("action_id", ""))
        number = int(action.get("value", ""))
        slack_user = str(payload["user"]["id"])
    except (ValueError, KeyError, IndexError, TypeError):
        return api_error(400, "The interaction payload is not one this app sends.")
    if action_id == OPEN_ACTION:
        return "", 200  # A link button: Slack opened the page, nothing to do here.
    user = tickets.staff_for_slack_member(slack_user)
    if user is None:
        return _not_linked()
    try:
        if action_id == CLAIM_ACTION:
            staff.claim_ticket(user, number, via=Via.SLACK)
            return _ephemeral(f"You claimed ticket #{number}.")
        if action_id == ACKNOWLEDGE_ACTION:
            staff.acknowledge_ticket(user, number, via=Via.SLACK)
            return _ephemeral(f"You acknowledged ticket #{number}.")
    except HelpdeskError as exc:
        return _ephemeral(f"Ticket #{number}: {exc.message}")
    return api_error(400, f"Unknown action {action_id!r}.")


@bp.route("/commands", methods=["POST"])
@csrf.exempt
@public
def commands() -> ResponseReturnValue:
    if not _verified():
        return api_error(401, "The Slack signature is missing, wrong or stale.")
    user = tickets.staff_for_slack_member(request.form.get("user_id", ""))
    if user is None:
        return _not_linked()
    match = _COMMAND.match(request.form.get("text", ""))
    if match is None:
        return _ephemeral(USAGE)
    verb, number, rest = match["verb"].lower(), int(match["number"]), match["rest"].strip()
    try:
        if verb == "show":
            ticket = tickets.staff_ticket(user, number)
            if ticket is None:
                raise TicketNotFound()
            text, blocks = ticket_blocks(ticket, "Shown to you only", utcnow())
            return _ephemeral(text, blocks)
        if verb == "claim":
            staff.claim_ticket(user, number, via=Via.SLACK)
            return _ephemeral(f"You claimed ticket #{number}.")
        if verb == "escalate":
            if not rest:
                return _ephemeral("Say why: `/ticket escalate 42 <reason>`.")
            ticket = staff.escalate_ticket(user, number, rest, via=Via.SLACK)
            return _ephemeral(f"Ticket #{number} is escalated to {ticket.tier_enum.label}.")
    except HelpdeskError as exc:
        return _ephemeral(f"Ticket #{number}: {exc.message}")
    return _ephemeral(USAGE)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
