"""What requesters do: file a ticket, reply (which reopens a resolved one within the reopen
window), mark it solved and rate the help."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from portal.auth.models import User
from portal.core.db import transaction, utcnow
from portal.core.roles import Role
from portal.core.urls import external_url
from portal.extensions import db
from portal.helpdesk import search, sla
from portal.helpdesk import slack as slack_messages
from portal.helpdesk.attachments import Upload
from portal.helpdesk.errors import HelpdeskError, InvalidTransition, NotAllowed
from portal.helpdesk.models import (
    Category,
    EventKind,
    Priority,
    Ticket,
    TicketMessage,
    TicketState,
    Via,
)
from portal.helpdesk.tickets import (
    add_message,
    apply_state,
    broadcast,
    lock_for_requester,
    mail_requester,
    message_body,
    move_to,
    record_event,
    store_uploads,
    unit_with_files,
    within_reopen_window,
)
from portal.outbox import send_email


def create_ticket(
    requester: User,
    *,
    subject: str,
    description: str,
    category: str,
    priority: str,
    uploads: Sequence[Upload] = (),
    created_by: User | None = None,
    via: Via = Via.WEB,
    now: datetime | None = None,
) -> Ticket:
    """File a ticket: the category picks the first tier, the tier's SLA starts now."""
    creator = created_by or requester
    if not requester.active or not requester.has_role(Role.DELEGATE):
        raise NotAllowed("Only delegates can file help-desk tickets.")
    priority_value = Priority(priority)
    if priority_value is Priority.URGENT and not creator.is_staff:
        raise NotAllowed("Only staff can mark a ticket urgent.")
    category_value = Category(category)
    with unit_with_files() as stored:
        now = now or utcnow()
        tier = category_value.first_tier
        ticket = Ticket(
            subject=subject.strip(),
            description=description.strip(),
            category=category_value,
            priority=priority_value,
            state=TicketState.NEW,
            tier=tier,
            requester_id=requester.id,
            created_at=now,
            updated_at=now,
            sla_started_at=now,
            sla_breached_targets=[],
        )
        search.index_new_ticket(ticket)
        db.session.add(ticket)
        db.session.flush()
        settings = sla.tier_settings(tier)
        sla.start_clock(ticket, settings, now)
        store_uploads(ticket, None, uploads, creator, stored)
        record_event(
            ticket,
            creator,
            EventKind.CREATED,
            via,
            public=True,
            now=now,
            category=category_value.value,
            priority=priority_value.value,
            tier=int(tier),
            on_behalf_of=requester.full_name if creator.id != requester.id else None,
        )
        db.session.flush()
        mail_requester(ticket, "helpdesk_received", f"We received your request: {ticket.subject}")
        if priority_value is Priority.URGENT:
            broadcast(ticket, settings, "New urgent ticket", now)
        return ticket


def requester_can_reply(ticket: Ticket, now: datetime | None = None) -> bool:
    """Whether the requester may still reply: open, or resolved within the reopen window."""
    if ticket.is_open:
        return True
    return ticket.state is TicketState.RESOLVED and within_reopen_window(ticket, now or utcnow())


def add_requester_reply(
    requester: User,
    number: int,
    body: str,
    uploads: Sequence[Upload] = (),
    via: Via = Via.WEB,
    now: datetime | None = None,
) -> TicketMessage:
    """The requester answers: a ticket waiting on them is open again, a resolved one reopens
    within the reopen window, and staff owe an update from now."""
    text = message_body(body)
    with unit_with_files() as stored:
        ticket = lock_for_requester(requester, number)
        now = now or utcnow()
        if not requester_can_reply(ticket, now):
            raise InvalidTransition(
                "This ticket is closed. Please file a new ticket and mention this one "
                f"(#{ticket.id})."
            )
        settings = sla.tier_settings(ticket.tier)
        state = ticket.state
        message = add_message(
            ticket, requester, text, uploads, stored, via=via, now=now, staff=False
        )
        record_event(
            ticket,
            requester,
            EventKind.REQUESTER_REPLIED,
            via,
            public=True,
            now=now,
            message_id=message.id,
        )
        if state is TicketState.RESOLVED:
            apply_state(ticket, TicketState.OPEN, now, settings)
            record_event(ticket, requester, EventKind.REOPENED, via, public=True, now=now)
        elif state is TicketState.WAITING_ON_REQUESTER:
            move_to(ticket, TicketState.OPEN, now, requester, via)
        if ticket.first_response_at is not None and ticket.update_started_at is None:
            ticket.update_started_at = now
        sla.recompute_due_times(ticket, settings)
        ticket.updated_at = now
        if ticket.assignee is not None and ticket.assignee.active:
            send_email(
                ticket.assignee.email,
                f"[DP0 help desk #{ticket.id}] {requester.full_name} replied: {ticket.subject}",
                "helpdesk_requester_replied",
                ticket=ticket,
                message=message,
                reopened=state is TicketState.RESOLVED,
                link=external_url("helpdesk_staff.ticket", number=ticket.id),
            )
        headline = (
            "Reopened by the requester"
            if state is TicketState.RESOLVED
            else "The requester replied"
        )
        slack_messages.update_living_messages(ticket, headline, now)
        return message


def mark_solved(requester: User, number: int, via: Via = Via.WEB) -> Ticket:
    """The requester says their problem is solved."""
    with transaction():
        ticket = lock_for_requester(requester, number)
        if not ticket.is_open:
            raise InvalidTransition("This ticket is already resolved.")
        now = utcnow()
        move_to(ticket, TicketState.RESOLVED, now, requester, via, by_requester=True)
        ticket.updated_at = now
        slack_messages.update_living_messages(ticket, "Marked solved by the requester", now)
        return ticket


def rate_ticket(
    requester: User,
    number: int,
    rating: int,
    comment: str,
    via: Via = Via.WEB,
    now: datetime | None = None,
) -> Ticket:
    """The requester rates the help they got (1-5), once the ticket is resolved; rating again
    replaces the earlier rating."""
    if not 1 <= rating <= 5:
        raise HelpdeskError("Choose a rating from 1 to 5.", field="rating")
    with transaction():
        ticket = lock_for_requester(requester, number)
        now = now or utcnow()
        if ticket.is_open:
            raise InvalidTransition("You can rate the help once the ticket is resolved.")
        ticket.rating = rating
        ticket.rating_comment = comment.strip() or None
        ticket.rated_at = now
        record_event(ticket, requester, EventKind.RATED, via, public=True, now=now, rating=rating)
        return ticket
