"""The help desk's JSON API for scripts and integrations (staff tokens): list, show, create,
reply to and escalate tickets."""

from __future__ import annotations

from flask import Blueprint, Response, g

from portal.auth.models import User
from portal.auth.services import find_user_by_email
from portal.core.api import answer, api_error, operation
from portal.core.db import utcnow
from portal.helpdesk import queries, requesters, staff, tickets
from portal.helpdesk.api_schema import (
    Escalation,
    Message,
    MessageAnswer,
    NewReply,
    NewTicket,
    TicketAnswer,
    TicketDetail,
    TicketDetailAnswer,
    TicketList,
    TicketQuery,
    TicketSummary,
)
from portal.helpdesk.errors import TicketNotFound
from portal.helpdesk.models import Via

bp = Blueprint("helpdesk_api", __name__, url_prefix="/api/v1/tickets")

PATH = {"number": "The ticket's number."}
TAG = "tickets"


@bp.route("")
@operation(TicketList, tag=TAG, errors=[404])
def list_tickets(query: TicketQuery) -> Response:
    """Tickets as the staff queue shows them.

    The filters are the queue page's: `view`, `state`, `tier`, `category`, `priority`,
    `assignee`, `q` and `sort`."""
    page = queries.paginate(
        queries.staff_queue(g.api_user, query.to_filter(), utcnow()), query.page, query.per_page
    )
    body = TicketList(
        tickets=[TicketSummary.of(t) for t in page.items],
        page=page.page,
        per_page=query.per_page,
        total=page.total,
        total_is_capped=page.capped,
    )
    return answer(body)


@bp.route("/<int(min=1):number>")
@operation(TicketDetailAnswer, tag=TAG, errors=[404], path=PATH)
def show_ticket(number: int) -> Response:
    """A ticket with its conversation (internal notes included) and history."""
    ticket = tickets.staff_ticket(g.api_user, number)
    loaded = tickets.ticket_for_page(number) if ticket is not None else None
    if loaded is None:
        raise TicketNotFound(f"There is no ticket #{number}.")
    return answer(TicketDetailAnswer(ticket=TicketDetail.of(loaded)))


@bp.route("", methods=["POST"])
@operation(TicketAnswer, status=201, tag=TAG, errors=[415])
def create_ticket(json: NewTicket) -> Response:
    """File a ticket for the token's owner, or for the account another address names.

    With `requester_email` the ticket is filed on that delegate's behalf."""
    user: User = g.api_user
    requester = user
    if json.requester_email:
        found = find_user_by_email(json.requester_email)
        if found is None:
            return api_error(422, "requester_email: no account has this address.")
        requester = found
    ticket = requesters.create_ticket(
        requester,
        subject=json.subject,
        description=json.description,
        category=json.category,
        priority=json.priority,
        created_by=user,
        via=Via.API,
    )
    return answer(TicketAnswer(ticket=TicketSummary.of(ticket)), 201)


@bp.route("/<int(min=1):number>/replies", methods=["POST"])
@operation(MessageAnswer, status=201, tag=TAG, errors=[404, 409, 415], path=PATH)
def reply(number: int, json: NewReply) -> Response:
    """Reply to the requester, or add an internal note that only staff see.

    `"internal": true` makes it a note; `state` optionally moves the ticket on (e.g.
    "waiting_on_requester", "resolved")."""
    message = staff.add_staff_message(
        g.api_user,
        number,
        body=json.body,
        internal=json.internal,
        new_state=json.state,
        via=Via.API,
    )
    return answer(MessageAnswer(message=Message.of(message)), 201)


@bp.route("/<int(min=1):number>/escalate", methods=["POST"])
@operation(TicketAnswer, tag=TAG, errors=[404, 409, 415], path=PATH)
def escalate(number: int, json: Escalation) -> Response:
    """Hand the ticket to the next tier, saying why."""
    ticket = staff.escalate_ticket(g.api_user, number, json.reason, via=Via.API)
    return answer(TicketAnswer(ticket=TicketSummary.of(ticket)))
