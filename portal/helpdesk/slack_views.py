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
from portal.core.request_input import as_id
from portal.core.security import public
from portal.core.urls import external_url
from portal.extensions import csrf
from portal.helpdesk import slack as slack_messages
from portal.helpdesk import staff, tickets
from portal.helpdesk.errors import HelpdeskError, TicketNotFound
from portal.helpdesk.models import Via
from portal.helpdesk.slack import (
    ACKNOWLEDGE_ACTION,
    CLAIM_ACTION,
    OPEN_ACTION,
    escape,
    ticket_blocks,
)

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


def _refusal() -> ResponseReturnValue | None:
    """The answer to a request that must not be acted on: badly signed (401), or a copy of a
    request already received (200, as Slack expects, and nothing done)."""
    if not _verified():
        return api_error(401, "The Slack signature is missing, wrong or stale.")
    if not slack_messages.first_delivery(
        request.headers["X-Slack-Signature"], int(request.headers["X-Slack-Request-Timestamp"])
    ):
        return _say("This request was already received; it is not acted on again.")
    return None


def _ephemeral(text: str, blocks: list[dict[str, Any]] | None = None) -> ResponseReturnValue:
    """An answer only the asker sees; `text` and `blocks` are mrkdwn, escaped already."""
    body: dict[str, Any] = {"response_type": "ephemeral", "replace_original": False, "text": text}
    if blocks:
        body["blocks"] = blocks
    return jsonify(body)


def _say(text: str) -> ResponseReturnValue:
    """An answer in plain words (which may quote what people wrote), escaped for mrkdwn."""
    return _ephemeral(escape(text))


def _not_linked() -> ResponseReturnValue:
    return _say(
        "Your Slack account is not linked to a portal staff account. Add your Slack member ID "
        f"on your account page ({external_url('account.profile')}), then try again."
    )


def _button_click(payload: str) -> tuple[str, int, str] | None:
    """The action, ticket number and Slack user of a click on one of this app's buttons, or
    None when the payload has any other shape (every part is checked: it is signed, not
    trusted to be well formed)."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    actions, user = data.get("actions"), data.get("user")
    if not (isinstance(actions, list) and actions and isinstance(user, dict)):
        return None
    action, slack_user = actions[0], user.get("id")
    if not (isinstance(action, dict) and isinstance(slack_user, str)):
        return None
    action_id, value = action.get("action_id"), action.get("value")
    number = as_id(value) if isinstance(value, str) else None
    if not isinstance(action_id, str) or number is None:
        return None
    return action_id, number, slack_user


@bp.route("/interactions", methods=["POST"])
@csrf.exempt
@public
def interactions() -> ResponseReturnValue:
    refusal = _refusal()
    if refusal is not None:
        return refusal
    clicked = _button_click(request.form.get("payload", ""))
    if clicked is None:
        return api_error(400, "The interaction payload is not one this app sends.")
    action_id, number, slack_user = clicked
    if action_id == OPEN_ACTION:
        return "", 200  # A link button: Slack opened the page, nothing to do here.
    user = tickets.staff_for_slack_member(slack_user)
    if user is None:
        return _not_linked()
    try:
        if action_id == CLAIM_ACTION:
            staff.claim_ticket(user, number, via=Via.SLACK)
            return _say(f"You claimed ticket #{number}.")
        if action_id == ACKNOWLEDGE_ACTION:
            staff.acknowledge_ticket(user, number, via=Via.SLACK)
            return _say(f"You acknowledged ticket #{number}.")
    except HelpdeskError as exc:
        return _say(f"Ticket #{number}: {exc.message}")
    return api_error(400, f"Unknown action {action_id!r}.")


@bp.route("/commands", methods=["POST"])
@csrf.exempt
@public
def commands() -> ResponseReturnValue:
    refusal = _refusal()
    if refusal is not None:
        return refusal
    user = tickets.staff_for_slack_member(request.form.get("user_id", ""))
    if user is None:
        return _not_linked()
    match = _COMMAND.match(request.form.get("text", ""))
    if match is None:
        return _say(USAGE)
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
            return _say(f"You claimed ticket #{number}.")
        if verb == "escalate":
            if not rest:
                return _say("Say why: `/ticket escalate 42 <reason>`.")
            ticket = staff.escalate_ticket(user, number, rest, via=Via.SLACK)
            return _say(f"Ticket #{number} is escalated to {ticket.tier_enum.label}.")
    except HelpdeskError as exc:
        return _say(f"Ticket #{number}: {exc.message}")
    return _say(USAGE)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
