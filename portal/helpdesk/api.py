"""The help desk's JSON API for scripts and integrations (staff tokens): list, show, create,
reply to and escalate tickets."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from portal.auth.models import User
from portal.auth.services import find_user_by_email
from portal.core.api import api_error, page_args, token_required
from portal.core.db import utcnow
from portal.core.roles import Role
from portal.helpdesk import queries, requesters, staff, tickets
from portal.helpdesk.errors import TicketNotFound
from portal.helpdesk.forms import NewTicketForm, QueueFilterForm, staff_choices
from portal.helpdesk.models import Ticket, TicketEvent, TicketMessage, TicketState, Via

bp = Blueprint("helpdesk_api", __name__, url_prefix="/api/v1/tickets")


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.id,
        "subject": ticket.subject,
        "category": ticket.category,
        "priority": ticket.priority,
        "state": ticket.state,
        "tier": ticket.tier,
        "requester": {
            "id": ticket.requester_id,
            "name": ticket.requester.full_name,
            "email": ticket.requester.email,
        },
        "assignee": (
            {"id": ticket.assignee.id, "name": ticket.assignee.full_name}
            if ticket.assignee
            else None
        ),
        "created_at": _time(ticket.created_at),
        "updated_at": _time(ticket.updated_at),
        "first_response_at": _time(ticket.first_response_at),
        "resolved_at": _time(ticket.resolved_at),
        "due": {
            "first_response": _time(ticket.first_response_due_at),
            "update": _time(ticket.update_due_at),
            "resolution": _time(ticket.resolution_due_at),
            "next": _time(ticket.next_due_at),
        },
        "breached_at": _time(ticket.breached_at),
        "rating": ticket.rating,
    }


def _message_json(message: TicketMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "author": message.author.full_name if message.author else None,
        "from_staff": message.from_staff,
        "internal": message.internal,
        "body": message.body,
        "via": message.via,
        "created_at": _time(message.created_at),
        "attachments": [
            {"id": a.id, "filename": a.filename, "size": a.size} for a in message.attachments
        ],
    }


def _event_json(event: TicketEvent) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "actor": event.actor.full_name if event.actor else None,
        "via": event.via,
        "data": event.data,
        "created_at": _time(event.created_at),
    }


NOT_JSON = "Send a JSON object (Content-Type: application/json)."


def _json_body() -> dict[str, Any] | None:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


def _form_errors(form: Any) -> str:
    return "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())


@bp.route("")
@token_required(Role.STAFF)
def list_tickets() -> ResponseReturnValue:
    """Tickets as the staff queue shows them: `view`, `state`, `tier`, `category`, `priority`,
    `assignee`, `q` and `sort` as on the queue page; `page` and `per_page`."""
    page_number, per_page = page_args()
    form = QueueFilterForm(request.args, staff=staff_choices(tickets.active_staff()))
    if not form.validate():
        return api_error(400, _form_errors(form))
    page = queries.paginate(
        queries.staff_queue(g.api_user, form.to_filter(), utcnow()), page_number, per_page
    )
    return jsonify(
        tickets=[ticket_json(t) for t in page.items],
        page=page.page,
        per_page=per_page,
        total=page.total,
        # Matches are counted up to a cap: then `total` is the cap and there are more.
        total_is_capped=page.capped,
    )


@bp.route("/<int:number>")
@token_required(Role.STAFF)
def show_ticket(number: int) -> ResponseReturnValue:
    ticket = tickets.staff_ticket(g.api_user, number)
    loaded = tickets.ticket_for_page(number) if ticket is not None else None
    if loaded is None:
        raise TicketNotFound(f"There is no ticket #{number}.")
    return jsonify(
        ticket={
            **ticket_json(loaded),
            "description": loaded.description,
            "messages": [_message_json(m) for m in loaded.messages],
            "history": [_event_json(e) for e in loaded.events],
        }
    )


@bp.route("", methods=["POST"])
@token_required(Role.STAFF)
def create_ticket() -> ResponseReturnValue:
    """Create a ticket: `subject`, `description`, `category`, `priority`, and optionally
    `requester_email` (a delegate's account) to file it on their behalf."""
    body = _json_body()
    if body is None:
        return api_error(400, NOT_JSON)
    form = NewTicketForm(
        formdata=MultiDict(_strings(body)), meta={"csrf": False}, allow_urgent=True
    )
    if not form.validate():
        return api_error(422, _form_errors(form))
    user: User = g.api_user
    requester = user
    if body.get("requester_email"):
        found = find_user_by_email(str(body["requester_email"]))
        if found is None:
            return api_error(422, "requester_email: no account has this address.")
        requester = found
    ticket = requesters.create_ticket(requester, **form.ticket(), created_by=user, via=Via.API)
    return jsonify(ticket=ticket_json(ticket)), 201


def _strings(body: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in body.items() if isinstance(v, str | int | float)}


@bp.route("/<int:number>/replies", methods=["POST"])
@token_required(Role.STAFF)
def reply(number: int) -> ResponseReturnValue:
    """Reply to the requester, or add an internal note with `"internal": true`; `state`
    optionally moves the ticket on (e.g. "waiting_on_requester", "resolved")."""
    body = _json_body()
    if body is None:
        return api_error(400, NOT_JSON)
    text = body.get("body")
    if not isinstance(text, str) or len(text) > 20000:
        return api_error(422, "body: give the message text (at most 20000 characters).")
    state = body.get("state")
    if state is not None and state not in TicketState:
        return api_error(422, f"state: one of {', '.join(TicketState)}.")
    message = staff.add_staff_message(
        g.api_user,
        number,
        body=text,
        internal=bool(body.get("internal")),
        new_state=state,
        via=Via.API,
    )
    return jsonify(message=_message_json(message)), 201


@bp.route("/<int:number>/escalate", methods=["POST"])
@token_required(Role.STAFF)
def escalate(number: int) -> ResponseReturnValue:
    """Escalate to the next tier; `reason` is required."""
    body = _json_body()
    if body is None:
        return api_error(400, NOT_JSON)
    ticket = staff.escalate_ticket(g.api_user, number, str(body.get("reason") or ""), via=Via.API)
    return jsonify(ticket=ticket_json(ticket))
