"""What staff do on a ticket: reply or add internal notes, move it through the state machine,
claim and assign it, escalate it or hand it back, and change its priority or category."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from portal.auth.models import User
from portal.core.db import transaction, utcnow
from portal.core.roles import TOP_TIER, SupportTier
from portal.extensions import db
from portal.helpdesk import sla
from portal.helpdesk import slack as slack_messages
from portal.helpdesk.attachments import Upload
from portal.helpdesk.errors import InvalidTransition, NotAllowed, TicketNotFound
from portal.helpdesk.models import (
    Category,
    EventKind,
    Priority,
    SlaTarget,
    Ticket,
    TicketMessage,
    TicketState,
    Via,
)
from portal.helpdesk.tickets import (
    actor_name,
    add_message,
    broadcast,
    can_work_on,
    change,
    check_transition,
    hand_over,
    lock_for_worker,
    lock_ticket,
    mail_requester,
    message_body,
    move_to,
    notify_state,
    rate_link,
    reason_for,
    record_event,
    require_worker,
    unit_with_files,
)


def add_staff_message(
    actor: User,
    number: int,
    *,
    body: str,
    internal: bool,
    new_state: str | None = None,
    uploads: Sequence[Upload] = (),
    via: Via = Via.WEB,
    now: datetime | None = None,
) -> TicketMessage:
    """A public reply (mailed to the requester; answers the first-response or update target)
    or an internal note (staff only, never shown or mailed to the requester)."""
    text = message_body(body)
    with unit_with_files() as stored:
        ticket = lock_ticket(number)
        if not actor.is_staff:
            raise TicketNotFound()
        if not internal:
            require_worker(actor, ticket)
            if ticket.state is TicketState.CLOSED:
                raise InvalidTransition("This ticket is closed; it cannot be replied to.")
        target_state = TicketState(new_state) if new_state else None
        if target_state is not None:
            require_worker(actor, ticket)
            check_transition(ticket, target_state)
        now = now or utcnow()
        settings = sla.tier_settings(ticket.tier)
        message = add_message(
            ticket, actor, text, uploads, stored, via=via, now=now, internal=internal
        )
        if internal:
            record_event(ticket, actor, EventKind.NOTE_ADDED, via, now=now, message_id=message.id)
        else:
            record_event(
                ticket, actor, EventKind.REPLIED, via, public=True, now=now, message_id=message.id
            )
            _answer_targets(ticket, now)
        old_label = ticket.state.requester_label
        if target_state is None and not internal and ticket.state is TicketState.NEW:
            target_state = TicketState.OPEN
        if target_state is not None and target_state != ticket.state:
            move_to(ticket, target_state, now, actor, via)
        sla.recompute_due_times(ticket, None if ticket.clock_stopped else settings)
        ticket.updated_at = now
        if internal:
            if target_state is not None:
                notify_state(ticket, old_label)
                slack_messages.update_living_messages(
                    ticket, f"{ticket.state.label} ({actor.full_name})", now
                )
        else:
            mail_requester(
                ticket,
                "helpdesk_reply",
                f"New reply: {ticket.subject}",
                message=message,
                author=actor,
                state_changed=old_label != ticket.state.requester_label,
                rate_link=rate_link(ticket),
            )
            slack_messages.update_living_messages(
                ticket, f"{actor.full_name} replied to the requester", now
            )
        return message


def _answer_targets(ticket: Ticket, now: datetime) -> None:
    """A public staff reply meets the first-response target (or the update target)."""
    if ticket.first_response_at is None:
        sla.record_outcome(ticket, SlaTarget.FIRST_RESPONSE, ticket.first_response_due_at, now)
        ticket.first_response_at = now
        ticket.first_response_tier = ticket.tier
    if ticket.update_started_at is not None:
        sla.record_outcome(ticket, SlaTarget.UPDATE, ticket.update_due_at, now)
        ticket.update_started_at = None


def change_state(
    actor: User,
    number: int,
    new_state: str,
    *,
    reason: str = "",
    via: Via = Via.WEB,
    now: datetime | None = None,
) -> Ticket:
    """Staff move a ticket through the state machine (STAFF_TRANSITIONS)."""
    target = TicketState(new_state)
    with transaction():
        ticket = lock_for_worker(actor, number)
        check_transition(ticket, target)
        if target == ticket.state:
            return ticket
        now = now or utcnow()
        old_label = ticket.state.requester_label
        reopened = ticket.state is TicketState.RESOLVED and target.is_open
        move_to(
            ticket,
            target,
            now,
            actor,
            via,
            kind=EventKind.REOPENED if reopened else EventKind.STATE_CHANGED,
            reason=reason.strip() or None,
        )
        ticket.updated_at = now
        notify_state(ticket, old_label)
        slack_messages.update_living_messages(ticket, f"{target.label} ({actor_name(actor)})", now)
        return ticket


def claim_ticket(
    actor: User, number: int, via: Via = Via.WEB, now: datetime | None = None
) -> Ticket:
    """Take an unassigned ticket (claiming your own ticket again changes nothing)."""
    with transaction():
        ticket = lock_for_worker(actor, number, open_only="Only open tickets can be claimed.")
        if ticket.assignee_id == actor.id:
            return ticket
        if ticket.assignee_id is not None:
            raise NotAllowed(
                f"{ticket.assignee.full_name if ticket.assignee else 'Someone'} has already "
                "claimed this ticket; ask them, or reassign it."
            )
        _assign(ticket, actor, actor, EventKind.CLAIMED, via, now or utcnow())
        return ticket


def assign_ticket(actor: User, number: int, assignee_id: int | None, via: Via = Via.WEB) -> Ticket:
    """Give the ticket to a staff member who can work on its tier, or unassign it."""
    with transaction():
        ticket = lock_for_worker(actor, number, open_only="Only open tickets can be assigned.")
        if assignee_id == ticket.assignee_id:
            return ticket
        now = utcnow()
        if assignee_id is None:
            previous = ticket.assignee
            ticket.assignee_id = None
            record_event(
                ticket,
                actor,
                EventKind.UNASSIGNED,
                via,
                now=now,
                assignee=previous.full_name if previous else None,
            )
            ticket.updated_at = now
            slack_messages.update_living_messages(ticket, f"Unassigned by {actor.full_name}", now)
            return ticket
        assignee = db.session.get(User, assignee_id)
        if assignee is None or not can_work_on(assignee, ticket):
            raise NotAllowed(f"That person cannot work on {ticket.tier_enum.label} tickets.")
        kind = EventKind.CLAIMED if assignee.id == actor.id else EventKind.ASSIGNED
        _assign(ticket, actor, assignee, kind, via, now)
        return ticket


def _assign(
    ticket: Ticket, actor: User, assignee: User, kind: EventKind, via: Via, now: datetime
) -> None:
    ticket.assignee_id = assignee.id
    ticket.assignee = assignee
    record_event(
        ticket, actor, kind, via, now=now, assignee=assignee.full_name, assignee_id=assignee.id
    )
    old_label = ticket.state.requester_label
    if ticket.state is TicketState.NEW:
        move_to(ticket, TicketState.OPEN, now, actor, via)
        notify_state(ticket, old_label)
    ticket.updated_at = now
    headline = (
        f"Claimed by {assignee.full_name}"
        if kind is EventKind.CLAIMED
        else f"Assigned to {assignee.full_name} by {actor.full_name}"
    )
    slack_messages.update_living_messages(ticket, headline, now)


def acknowledge_ticket(actor: User, number: int, via: Via = Via.SLACK) -> Ticket:
    """A staff member says they have seen the page (from Slack); recorded, and shown in the
    ticket's living messages."""
    with transaction():
        ticket = lock_for_worker(actor, number)
        now = utcnow()
        record_event(ticket, actor, EventKind.ACKNOWLEDGED, via, now=now)
        slack_messages.update_living_messages(ticket, f"Acknowledged by {actor.full_name}", now)
        return ticket


def escalate_ticket(
    actor: User, number: int, reason: str, via: Via = Via.WEB, now: datetime | None = None
) -> Ticket:
    """Hand the ticket to the next tier by hand, with a reason."""
    reason = reason_for(reason, "Give a reason for the escalation.")
    with transaction():
        ticket = lock_for_worker(actor, number, open_only="Only open tickets can be escalated.")
        if ticket.tier_enum.is_top:
            raise InvalidTransition(
                f"This ticket is already with the experts ({TOP_TIER.short_label.lower()})."
            )
        hand_over(
            ticket,
            SupportTier(ticket.tier + 1),
            now or utcnow(),
            actor,
            EventKind.ESCALATED,
            via,
            reason=reason,
            headline=f"Escalated from tier {ticket.tier} by {actor.full_name}: {reason}",
        )
        return ticket


def deescalate_ticket(
    actor: User, number: int, to_tier: int, reason: str, via: Via = Via.WEB
) -> Ticket:
    """Hand the ticket back to a lower tier, with a reason."""
    reason = reason_for(reason, "Give a reason for moving the ticket back.")
    with transaction():
        ticket = lock_for_worker(actor, number, open_only="Only open tickets can change tier.")
        if to_tier not in SupportTier or to_tier >= ticket.tier:
            raise InvalidTransition("Choose a lower tier than the ticket's current one.")
        # The lower tier learns of it like any other hand-over (in its business hours).
        hand_over(
            ticket,
            SupportTier(to_tier),
            utcnow(),
            actor,
            EventKind.DEESCALATED,
            via,
            reason=reason,
            headline=f"Handed back from tier {ticket.tier} by {actor.full_name}: {reason}",
        )
        return ticket


def update_properties(
    actor: User,
    number: int,
    *,
    priority: str,
    category: str,
    via: Via = Via.WEB,
    now: datetime | None = None,
) -> Ticket:
    """Change priority or category. A new priority re-times the targets of the current tier;
    a new category does not move the ticket (escalate for that)."""
    new_priority = Priority(priority)
    new_category = Category(category)
    with transaction():
        ticket = lock_for_worker(actor, number)
        now = now or utcnow()
        settings = sla.tier_settings(ticket.tier)
        changed = False
        if new_priority != ticket.priority:
            record_event(
                ticket,
                actor,
                EventKind.PRIORITY_CHANGED,
                via,
                now=now,
                **change(ticket.priority.value, new_priority.value),
            )
            ticket.priority = new_priority
            ticket.warned_for_due_at = None
            sla.recompute_due_times(ticket, settings)
            changed = True
        if new_category != ticket.category:
            record_event(
                ticket,
                actor,
                EventKind.CATEGORY_CHANGED,
                via,
                now=now,
                **change(ticket.category.value, new_category.value),
            )
            ticket.category = new_category
            changed = True
        if not changed:
            return ticket
        ticket.updated_at = now
        if new_priority is Priority.URGENT and ticket.is_open:
            broadcast(ticket, settings, f"Raised to urgent by {actor.full_name}", now)
        else:
            slack_messages.update_living_messages(ticket, f"Updated by {actor.full_name}", now)
        return ticket
