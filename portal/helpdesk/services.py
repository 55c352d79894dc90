"""Help-desk rules: filing and answering tickets, the state machine, assignment, tiers and
escalation, the SLA sweep, ratings, canned replies and tier settings."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, or_, select, true
from sqlalchemy.orm import Session, selectinload

from portal.auth.models import User
from portal.core.db import transaction, utcnow
from portal.core.roles import Role
from portal.core.templating import format_datetime, format_duration
from portal.core.urls import external_url
from portal.extensions import db
from portal.helpdesk import attachments, search, sla
from portal.helpdesk import slack as slack_messages
from portal.helpdesk.attachments import Upload
from portal.helpdesk.business_hours import CalendarError
from portal.helpdesk.history import REQUESTER_STATE_LABELS
from portal.helpdesk.models import (
    OPEN_STATES,
    CannedReply,
    Category,
    EventKind,
    Priority,
    SlaTarget,
    Ticket,
    TicketAttachment,
    TicketEvent,
    TicketMessage,
    TicketState,
    TierSettings,
    Via,
)
from portal.outbox import send_email

TOP_TIER = 3


class HelpdeskError(Exception):
    """A help-desk action that cannot be done, with a message for the person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TicketNotFound(HelpdeskError):
    pass


class NotAllowed(HelpdeskError):
    pass


class InvalidTransition(HelpdeskError):
    pass


# Which states staff may move a ticket to from each state. Closed is final: a requester who
# needs more help files a follow-up ticket.
STAFF_TRANSITIONS: dict[TicketState, set[TicketState]] = {
    state: {TicketState.OPEN, TicketState.WAITING_ON_REQUESTER, TicketState.WAITING_INTERNAL,
            TicketState.RESOLVED, TicketState.CLOSED} - {state}
    for state in OPEN_STATES
}  # fmt: skip
STAFF_TRANSITIONS[TicketState.RESOLVED] = {TicketState.OPEN, TicketState.CLOSED}
STAFF_TRANSITIONS[TicketState.CLOSED] = set()


def requester_label(state: str) -> str:
    """How the requester sees a state: internal waiting is simply "in progress" to them."""
    return REQUESTER_STATE_LABELS[TicketState(state)]


# --- reading ------------------------------------------------------------------------------------


def requester_ticket(user: User, number: int) -> Ticket | None:
    """The ticket if `user` filed it (anyone else's ticket does not exist for them)."""
    ticket = db.session.get(Ticket, number)
    if ticket is None or ticket.requester_id != user.id:
        return None
    return ticket


def staff_ticket(user: User, number: int) -> Ticket | None:
    """Any ticket, for staff (every tier can read every ticket, to help and to hand over)."""
    if not user.is_staff:
        return None
    return db.session.get(Ticket, number)


def can_work_on(user: User, ticket: Ticket) -> bool:
    """Admins work on any ticket; staff on tickets of their own tier or a lower one. Staff
    without a tier can read tickets and add internal notes, nothing more."""
    if not user.active or not user.is_staff:
        return False
    if user.is_admin:
        return True
    return user.support_tier is not None and user.support_tier >= ticket.tier


def active_staff() -> list[User]:
    """Active staff and admins, by name."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.active.is_(True), User.role.in_([Role.STAFF, Role.ADMIN]))
            .order_by(User.full_name)
        )
    )


def assignable_staff(ticket: Ticket) -> list[User]:
    """Active staff who could take the ticket, by name."""
    return [u for u in active_staff() if can_work_on(u, ticket)]


def canned_replies_for(user: User) -> list[CannedReply]:
    """Canned replies of the user's tier and those for every tier (admins see them all)."""
    query = select(CannedReply).order_by(
        CannedReply.tier.is_(None), CannedReply.tier, CannedReply.title
    )
    if not user.is_admin:
        query = query.where(
            or_(CannedReply.tier.is_(None), CannedReply.tier == (user.support_tier or 0))
        )
    return list(db.session.scalars(query))


def ticket_for_page(ticket_id: int) -> Ticket | None:
    """A ticket with its conversation and history loaded in a few queries."""
    return db.session.scalar(
        select(Ticket)
        .where(Ticket.id == ticket_id)
        .options(
            selectinload(Ticket.messages).selectinload(TicketMessage.author),
            selectinload(Ticket.messages).selectinload(TicketMessage.attachments),
            selectinload(Ticket.attachments),
            selectinload(Ticket.events).selectinload(TicketEvent.actor),
        )
    )


# --- shared steps inside a unit of work ----------------------------------------------------------


def _lock(session: Session, number: int) -> Ticket:
    """The ticket, locked for this transaction (FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE
    transaction already holds the write lock)."""
    ticket = session.scalar(
        select(Ticket)
        .where(Ticket.id == number)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if ticket is None:
        raise TicketNotFound("There is no such ticket.")
    return ticket


def _record(
    ticket: Ticket,
    actor: User | None,
    kind: EventKind,
    via: Via,
    *,
    public: bool = False,
    now: datetime | None = None,
    **data: Any,
) -> TicketEvent:
    event = TicketEvent(
        ticket_id=ticket.id,
        actor_id=actor.id if actor else None,
        kind=kind.value,
        data=data,
        via=via.value,
        public=public,
        created_at=now or utcnow(),
    )
    db.session.add(event)
    return event


def _store_uploads(
    ticket: Ticket,
    message: TicketMessage | None,
    uploads: Sequence[Upload],
    uploader: User,
    stored: list[str],
) -> None:
    for upload in uploads:
        name = attachments.store(upload, ticket.id)
        stored.append(name)
        db.session.add(
            TicketAttachment(
                ticket_id=ticket.id,
                message_id=message.id if message else None,
                filename=upload.filename,
                stored_name=name,
                content_type=upload.content_type,
                size=upload.size,
                uploaded_by_id=uploader.id,
            )
        )


@contextmanager
def _unit_with_files() -> Iterator[tuple[Session, list[str]]]:
    """A unit of work that also writes attachment files: if it rolls back, the files written
    for it are deleted, so no file outlives its row."""
    stored: list[str] = []
    try:
        with transaction() as session:
            yield session, stored
    except BaseException:
        attachments.remove(stored)
        raise


def _ticket_link(ticket: Ticket) -> str:
    return external_url("helpdesk.ticket", number=ticket.id)


def _mail_requester(ticket: Ticket, template: str, subject: str, **context: Any) -> None:
    requester = ticket.requester
    if not requester.active:
        return
    send_email(
        requester.email,
        f"[DP0 help desk #{ticket.id}] {subject}",
        template,
        ticket=ticket,
        user=requester,
        link=_ticket_link(ticket),
        state_label=requester_label(ticket.state),
        **context,
    )


def _apply_state(
    ticket: Ticket, new: TicketState, now: datetime, settings: TierSettings
) -> TicketState:
    """Move the ticket to `new`, keeping its open flag, timestamps and SLA clock in step;
    returns the old state."""
    old = ticket.state_enum
    if new == old:
        return old
    if new == TicketState.RESOLVED:
        due = sla.resolution_due(ticket, settings, now)
        sla.record_outcome(
            ticket, SlaTarget.RESOLUTION, due, now, met=due is not None and now <= due
        )
        ticket.resolved_at = now
        ticket.resolution_tier = ticket.tier
    if new == TicketState.CLOSED:
        ticket.closed_at = now
    if old == TicketState.RESOLVED and new.is_open:
        ticket.resolved_at = None
        ticket.resolution_tier = None
    ticket.state = new.value
    ticket.is_open = new.is_open
    if new.stops_clock:
        sla.stop_clock(ticket, now)
    elif old.stops_clock:
        sla.resume_clock(ticket, settings, now)
    return old


def _change_tier(
    ticket: Ticket,
    new_tier: int,
    now: datetime,
    actor: User | None,
    kind: EventKind,
    via: Via,
    reason: str,
) -> TierSettings:
    """Move the ticket to another tier: it leaves its assignee (it belongs in the new tier's
    unassigned queue) and the new tier's SLA starts now."""
    old_tier = ticket.tier
    previous_assignee = ticket.assignee
    ticket.tier = new_tier
    ticket.assignee_id = None
    settings = sla.tier_settings(new_tier)
    sla.start_clock(ticket, settings, now)
    _record(
        ticket,
        actor,
        kind,
        via,
        public=True,
        now=now,
        **_change(old_tier, new_tier),
        reason=reason,
        auto=actor is None,
        unassigned=previous_assignee.full_name if previous_assignee else None,
    )
    return settings


def _broadcast(
    ticket: Ticket,
    settings: TierSettings,
    headline: str,
    now: datetime,
    *,
    dedupe_key: str | None = None,
) -> None:
    """Post (or refresh) the living message in the ticket's tier channel and update the
    ticket's messages in other channels."""
    slack_messages.announce(ticket, settings, headline, now, dedupe_key=dedupe_key)
    slack_messages.update_living_messages(
        ticket, headline, now, skip_channel=settings.slack_channel_id
    )


def _add_message(
    session: Session,
    ticket: Ticket,
    author: User,
    body: str,
    uploads: Sequence[Upload],
    stored: list[str],
    *,
    via: Via,
    now: datetime,
    staff: bool = True,
    internal: bool = False,
) -> TicketMessage:
    """Add a reply or note (by staff) or a reply (by the requester) with its attachments, and
    index it for search."""
    message = TicketMessage(
        ticket_id=ticket.id,
        author_id=author.id,
        body=body.strip(),
        internal=internal,
        from_staff=staff,
        via=via.value,
        created_at=now,
    )
    session.add(message)
    session.flush()
    _store_uploads(ticket, message, uploads, author, stored)
    search.index_message(ticket, message.body, internal=internal)
    return message


def _change(old: object, new: object) -> dict[str, Any]:
    """History data for a change ("from" is a Python keyword, so not an argument name)."""
    return {"from": old, "to": new}


def _actor_name(actor: User | None) -> str:
    return actor.full_name if actor else "The help desk"


def _touch(ticket: Ticket, now: datetime) -> None:
    ticket.updated_at = now


# --- requesters ---------------------------------------------------------------------------------


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
) -> Ticket:
    """File a ticket: the category picks the first tier, the tier's SLA starts now."""
    creator = created_by or requester
    if not requester.active or not requester.has_role(Role.DELEGATE):
        raise NotAllowed("Only delegates can file help-desk tickets.")
    priority_value = Priority(priority)
    if priority_value == Priority.URGENT and not creator.is_staff:
        raise NotAllowed("Only staff can mark a ticket urgent.")
    category_value = Category(category)
    with _unit_with_files() as (session, stored):
        now = utcnow()
        tier = int(category_value.first_tier)
        ticket = Ticket(
            subject=subject.strip(),
            description=description.strip(),
            category=category_value.value,
            priority=priority_value.value,
            state=TicketState.NEW.value,
            is_open=True,
            tier=tier,
            requester_id=requester.id,
            created_at=now,
            updated_at=now,
            sla_started_at=now,
            sla_breached_targets=[],
        )
        search.index_new_ticket(ticket)
        session.add(ticket)
        session.flush()
        settings = sla.tier_settings(tier)
        sla.start_clock(ticket, settings, now)
        _store_uploads(ticket, None, uploads, creator, stored)
        _record(
            ticket,
            creator,
            EventKind.CREATED,
            via,
            public=True,
            now=now,
            category=category_value.value,
            priority=priority_value.value,
            tier=tier,
            on_behalf_of=requester.full_name if creator.id != requester.id else None,
        )
        session.flush()
        _mail_requester(ticket, "helpdesk_received", f"We received your request: {ticket.subject}")
        if priority_value == Priority.URGENT:
            _broadcast(ticket, settings, "New urgent ticket", now)
        return ticket


def add_requester_reply(
    requester: User, number: int, body: str, uploads: Sequence[Upload] = (), via: Via = Via.WEB
) -> TicketMessage:
    """The requester answers: a ticket waiting on them is open again, a resolved one reopens
    within the reopen window, and staff owe an update from now."""
    with _unit_with_files() as (session, stored):
        ticket = _lock(session, number)
        if ticket.requester_id != requester.id:
            raise TicketNotFound("There is no such ticket.")
        now = utcnow()
        settings = sla.tier_settings(ticket.tier)
        state = ticket.state_enum
        if not requester_can_reply(ticket):
            raise InvalidTransition(
                "This ticket is closed. Please file a new ticket and mention this one "
                f"(#{ticket.id})."
            )
        message = _add_message(
            session, ticket, requester, body, uploads, stored, via=via, now=now, staff=False
        )
        _record(
            ticket,
            requester,
            EventKind.REQUESTER_REPLIED,
            via,
            public=True,
            now=now,
            message_id=message.id,
        )
        if state == TicketState.RESOLVED:
            _apply_state(ticket, TicketState.OPEN, now, settings)
            _record(ticket, requester, EventKind.REOPENED, via, public=True, now=now)
        elif state == TicketState.WAITING_ON_REQUESTER:
            _apply_state(ticket, TicketState.OPEN, now, settings)
            _record(
                ticket,
                requester,
                EventKind.STATE_CHANGED,
                via,
                public=True,
                now=now,
                **_change(state.value, TicketState.OPEN.value),
            )
        if ticket.first_response_at is not None and ticket.update_started_at is None:
            ticket.update_started_at = now
        sla.recompute_due_times(ticket, settings)
        _touch(ticket, now)
        if ticket.assignee is not None and ticket.assignee.active:
            send_email(
                ticket.assignee.email,
                f"[DP0 help desk #{ticket.id}] {requester.full_name} replied: {ticket.subject}",
                "helpdesk_requester_replied",
                ticket=ticket,
                message=message,
                reopened=state == TicketState.RESOLVED,
                link=external_url("helpdesk_staff.ticket", number=ticket.id),
            )
        headline = (
            "Reopened by the requester"
            if state == TicketState.RESOLVED
            else "The requester replied"
        )
        slack_messages.update_living_messages(ticket, headline, now)
        return message


def requester_can_reply(ticket: Ticket) -> bool:
    """Whether the requester may still reply: open, or resolved within the reopen window."""
    if ticket.is_open:
        return True
    return ticket.state == TicketState.RESOLVED and _within_reopen_window(ticket, utcnow())


def _within_reopen_window(ticket: Ticket, now: datetime) -> bool:
    days = current_app.config["HELPDESK_REOPEN_DAYS"]
    return ticket.resolved_at is not None and now <= ticket.resolved_at + timedelta(days=days)


def mark_solved(requester: User, number: int, via: Via = Via.WEB) -> Ticket:
    """The requester says their problem is solved."""
    with transaction() as session:
        ticket = _lock(session, number)
        if ticket.requester_id != requester.id:
            raise TicketNotFound("There is no such ticket.")
        if not ticket.is_open:
            raise InvalidTransition("This ticket is already resolved.")
        now = utcnow()
        old = _apply_state(ticket, TicketState.RESOLVED, now, sla.tier_settings(ticket.tier))
        _record(
            ticket,
            requester,
            EventKind.STATE_CHANGED,
            via,
            public=True,
            now=now,
            **_change(old.value, TicketState.RESOLVED.value),
            by_requester=True,
        )
        _touch(ticket, now)
        slack_messages.update_living_messages(ticket, "Marked solved by the requester", now)
        return ticket


def rate_ticket(
    requester: User, number: int, rating: int, comment: str, via: Via = Via.WEB
) -> Ticket:
    """The requester rates the help they got (1-5), once the ticket is resolved; rating again
    replaces the earlier rating."""
    if not 1 <= rating <= 5:
        raise HelpdeskError("Choose a rating from 1 to 5.")
    with transaction() as session:
        ticket = _lock(session, number)
        if ticket.requester_id != requester.id:
            raise TicketNotFound("There is no such ticket.")
        if ticket.is_open:
            raise InvalidTransition("You can rate the help once the ticket is resolved.")
        now = utcnow()
        ticket.rating = rating
        ticket.rating_comment = comment.strip() or None
        ticket.rated_at = now
        _record(ticket, requester, EventKind.RATED, via, public=True, now=now, rating=rating)
        return ticket


# --- staff --------------------------------------------------------------------------------------


def _require_worker(actor: User, ticket: Ticket) -> None:
    if not can_work_on(actor, ticket):
        raise NotAllowed(
            f"This ticket is in {ticket.tier_enum.label}; your account cannot act on it. "
            "You can add an internal note."
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
) -> TicketMessage:
    """A public reply (mailed to the requester; answers the first-response or update target)
    or an internal note (staff only, never shown or mailed to the requester)."""
    with _unit_with_files() as (session, stored):
        ticket = _lock(session, number)
        if not actor.is_staff:
            raise TicketNotFound("There is no such ticket.")
        if not internal:
            _require_worker(actor, ticket)
            if ticket.state == TicketState.CLOSED:
                raise InvalidTransition("This ticket is closed; it cannot be replied to.")
        target_state = TicketState(new_state) if new_state else None
        if target_state is not None:
            _require_worker(actor, ticket)
            _check_transition(ticket, target_state)
        now = utcnow()
        settings = sla.tier_settings(ticket.tier)
        message = _add_message(
            session, ticket, actor, body, uploads, stored, via=via, now=now, internal=internal
        )
        if internal:
            _record(ticket, actor, EventKind.NOTE_ADDED, via, now=now, message_id=message.id)
        else:
            _record(
                ticket, actor, EventKind.REPLIED, via, public=True, now=now, message_id=message.id
            )
            _answer_targets(ticket, now)
        old_label = requester_label(ticket.state)
        if target_state is None and not internal and ticket.state == TicketState.NEW:
            target_state = TicketState.OPEN
        if target_state is not None and target_state != ticket.state_enum:
            old = _apply_state(ticket, target_state, now, settings)
            _record(
                ticket,
                actor,
                EventKind.STATE_CHANGED,
                via,
                public=True,
                now=now,
                **_change(old.value, target_state.value),
            )
        sla.recompute_due_times(ticket, None if ticket.clock_stopped else settings)
        _touch(ticket, now)
        if internal:
            if target_state is not None:
                _notify_state(ticket, old_label)
                slack_messages.update_living_messages(
                    ticket, f"{ticket.state_enum.label} ({actor.full_name})", now
                )
        else:
            _mail_requester(
                ticket,
                "helpdesk_reply",
                f"New reply: {ticket.subject}",
                message=message,
                author=actor,
                state_changed=old_label != requester_label(ticket.state),
                rate_link=_rate_link(ticket),
            )
            slack_messages.update_living_messages(
                ticket, f"{actor.full_name} replied to the requester", now
            )
        return message


def _answer_targets(ticket: Ticket, now: datetime) -> None:
    """A public staff reply meets the first-response target (or the update target)."""
    if ticket.first_response_at is None:
        sla.record_outcome(
            ticket,
            SlaTarget.FIRST_RESPONSE,
            ticket.first_response_due_at,
            now,
            met=ticket.first_response_due_at is not None and now <= ticket.first_response_due_at,
        )
        ticket.first_response_at = now
        ticket.first_response_tier = ticket.tier
    if ticket.update_started_at is not None:
        sla.record_outcome(
            ticket,
            SlaTarget.UPDATE,
            ticket.update_due_at,
            now,
            met=ticket.update_due_at is not None and now <= ticket.update_due_at,
        )
        ticket.update_started_at = None


def _rate_link(ticket: Ticket) -> str | None:
    if ticket.state in (TicketState.RESOLVED, TicketState.CLOSED):
        return _ticket_link(ticket) + "#rate"
    return None


def _check_transition(ticket: Ticket, target: TicketState) -> None:
    if target != ticket.state_enum and target not in STAFF_TRANSITIONS[ticket.state_enum]:
        raise InvalidTransition(
            f"A ticket that is {ticket.state_enum.label.lower()} cannot become "
            f"{target.label.lower()}."
        )


def _notify_state(ticket: Ticket, old_label: str) -> None:
    """Mail the requester when the state they see has changed."""
    if requester_label(ticket.state) == old_label:
        return
    _mail_requester(
        ticket,
        "helpdesk_state",
        f"{requester_label(ticket.state)}: {ticket.subject}",
        old_label=old_label,
        rate_link=_rate_link(ticket),
        reopen_days=current_app.config["HELPDESK_REOPEN_DAYS"],
    )


def change_state(
    actor: User, number: int, new_state: str, *, reason: str = "", via: Via = Via.WEB
) -> Ticket:
    """Staff move a ticket through the state machine (STAFF_TRANSITIONS)."""
    target = TicketState(new_state)
    with transaction() as session:
        ticket = _lock(session, number)
        _require_worker(actor, ticket)
        _check_transition(ticket, target)
        if target == ticket.state_enum:
            return ticket
        now = utcnow()
        old_label = requester_label(ticket.state)
        old = _apply_state(ticket, target, now, sla.tier_settings(ticket.tier))
        kind = (
            EventKind.REOPENED
            if old == TicketState.RESOLVED and target.is_open
            else EventKind.STATE_CHANGED
        )
        _record(
            ticket,
            actor,
            kind,
            via,
            public=True,
            now=now,
            **_change(old.value, target.value),
            reason=reason.strip() or None,
        )
        _touch(ticket, now)
        _notify_state(ticket, old_label)
        slack_messages.update_living_messages(ticket, f"{target.label} ({_actor_name(actor)})", now)
        return ticket


def claim_ticket(actor: User, number: int, via: Via = Via.WEB) -> Ticket:
    """Take an unassigned ticket (claiming your own ticket again changes nothing)."""
    with transaction() as session:
        ticket = _lock(session, number)
        _require_worker(actor, ticket)
        if not ticket.is_open:
            raise InvalidTransition("Only open tickets can be claimed.")
        if ticket.assignee_id == actor.id:
            return ticket
        if ticket.assignee_id is not None:
            raise NotAllowed(
                f"{ticket.assignee.full_name if ticket.assignee else 'Someone'} has already "
                "claimed this ticket; ask them, or reassign it."
            )
        _assign(ticket, actor, actor, EventKind.CLAIMED, via)
        return ticket


def assign_ticket(actor: User, number: int, assignee_id: int | None, via: Via = Via.WEB) -> Ticket:
    """Give the ticket to a staff member who can work on its tier, or unassign it."""
    with transaction() as session:
        ticket = _lock(session, number)
        _require_worker(actor, ticket)
        if not ticket.is_open:
            raise InvalidTransition("Only open tickets can be assigned.")
        if assignee_id == ticket.assignee_id:
            return ticket
        now = utcnow()
        if assignee_id is None:
            previous = ticket.assignee
            ticket.assignee_id = None
            _record(
                ticket,
                actor,
                EventKind.UNASSIGNED,
                via,
                now=now,
                assignee=previous.full_name if previous else None,
            )
            _touch(ticket, now)
            slack_messages.update_living_messages(ticket, f"Unassigned by {actor.full_name}", now)
            return ticket
        assignee = session.get(User, assignee_id)
        if assignee is None or not can_work_on(assignee, ticket):
            raise NotAllowed(f"That person cannot work on {ticket.tier_enum.label} tickets.")
        _assign(
            ticket,
            actor,
            assignee,
            EventKind.CLAIMED if assignee.id == actor.id else EventKind.ASSIGNED,
            via,
        )
        return ticket


def _assign(ticket: Ticket, actor: User, assignee: User, kind: EventKind, via: Via) -> None:
    now = utcnow()
    ticket.assignee_id = assignee.id
    ticket.assignee = assignee
    _record(ticket, actor, kind, via, now=now, assignee=assignee.full_name, assignee_id=assignee.id)
    old_label = requester_label(ticket.state)
    if ticket.state == TicketState.NEW:
        _apply_state(ticket, TicketState.OPEN, now, sla.tier_settings(ticket.tier))
        _record(
            ticket,
            actor,
            EventKind.STATE_CHANGED,
            via,
            public=True,
            now=now,
            **_change(TicketState.NEW.value, TicketState.OPEN.value),
        )
        _notify_state(ticket, old_label)
    _touch(ticket, now)
    headline = (
        f"Claimed by {assignee.full_name}"
        if kind == EventKind.CLAIMED
        else f"Assigned to {assignee.full_name} by {actor.full_name}"
    )
    slack_messages.update_living_messages(ticket, headline, now)


def acknowledge_ticket(actor: User, number: int, via: Via = Via.SLACK) -> Ticket:
    """A staff member says they have seen the page (from Slack); recorded, and shown in the
    ticket's living messages."""
    with transaction() as session:
        ticket = _lock(session, number)
        _require_worker(actor, ticket)
        now = utcnow()
        _record(ticket, actor, EventKind.ACKNOWLEDGED, via, now=now)
        slack_messages.update_living_messages(ticket, f"Acknowledged by {actor.full_name}", now)
        return ticket


def escalate_ticket(actor: User, number: int, reason: str, via: Via = Via.WEB) -> Ticket:
    """Hand the ticket to the next tier by hand, with a reason."""
    reason = reason.strip()
    if len(reason) < 3:
        raise HelpdeskError("Give a reason for the escalation.")
    with transaction() as session:
        ticket = _lock(session, number)
        _require_worker(actor, ticket)
        if not ticket.is_open:
            raise InvalidTransition("Only open tickets can be escalated.")
        if ticket.tier >= TOP_TIER:
            raise InvalidTransition("This ticket is already with the experts (tier 3).")
        now = utcnow()
        old_tier = ticket.tier
        settings = _change_tier(ticket, old_tier + 1, now, actor, EventKind.ESCALATED, via, reason)
        _touch(ticket, now)
        _broadcast(
            ticket, settings, f"Escalated from tier {old_tier} by {actor.full_name}: {reason}", now
        )
        return ticket


def deescalate_ticket(
    actor: User, number: int, to_tier: int, reason: str, via: Via = Via.WEB
) -> Ticket:
    """Hand the ticket back to a lower tier, with a reason."""
    reason = reason.strip()
    if len(reason) < 3:
        raise HelpdeskError("Give a reason for moving the ticket back.")
    with transaction() as session:
        ticket = _lock(session, number)
        _require_worker(actor, ticket)
        if not ticket.is_open:
            raise InvalidTransition("Only open tickets can change tier.")
        if not 1 <= to_tier < ticket.tier:
            raise InvalidTransition("Choose a lower tier than the ticket's current one.")
        now = utcnow()
        old_tier = ticket.tier
        settings = _change_tier(ticket, to_tier, now, actor, EventKind.DEESCALATED, via, reason)
        _touch(ticket, now)
        # The lower tier learns of it like any other hand-over (in its business hours).
        _broadcast(
            ticket,
            settings,
            f"Handed back from tier {old_tier} by {actor.full_name}: {reason}",
            now,
        )
        return ticket


def update_properties(
    actor: User, number: int, *, priority: str, category: str, via: Via = Via.WEB
) -> Ticket:
    """Change priority or category. A new priority re-times the targets of the current tier;
    a new category does not move the ticket (escalate for that)."""
    new_priority = Priority(priority)
    new_category = Category(category)
    with transaction() as session:
        ticket = _lock(session, number)
        _require_worker(actor, ticket)
        now = utcnow()
        settings = sla.tier_settings(ticket.tier)
        changed = False
        if new_priority.value != ticket.priority:
            _record(
                ticket,
                actor,
                EventKind.PRIORITY_CHANGED,
                via,
                now=now,
                **_change(ticket.priority, new_priority.value),
            )
            ticket.priority = new_priority.value
            ticket.warned_for_due_at = None
            sla.recompute_due_times(ticket, settings)
            changed = True
        if new_category.value != ticket.category:
            _record(
                ticket,
                actor,
                EventKind.CATEGORY_CHANGED,
                via,
                now=now,
                **_change(ticket.category, new_category.value),
            )
            ticket.category = new_category.value
            changed = True
        if not changed:
            return ticket
        _touch(ticket, now)
        if new_priority == Priority.URGENT and ticket.is_open:
            _broadcast(ticket, settings, f"Raised to urgent by {actor.full_name}", now)
        else:
            slack_messages.update_living_messages(ticket, f"Updated by {actor.full_name}", now)
        return ticket


# --- periodic jobs ------------------------------------------------------------------------------


def run_sla_sweep(batch: int = 200, max_batches: int = 25) -> dict[str, int]:
    """Warn before breaches and act on them: escalate to the next tier, or flag the breach in
    the top tier. One indexed range over `next_due_at` finds the work; each warning and each
    breach happens once (the ticket records it, and its clock moves on)."""
    counts = {"warned": 0, "escalated": 0, "breached": 0}
    now = utcnow()
    for _ in range(max_batches):
        with transaction() as session:
            tiers = sla.all_tier_settings()
            leads = {t: timedelta(minutes=s.warning_minutes) for t, s in tiers.items()}
            due_or_warnable = [
                and_(Ticket.tier == tier, Ticket.next_due_at <= now + lead)
                for tier, lead in leads.items()
            ]
            rows = session.scalars(
                select(Ticket)
                .where(
                    Ticket.is_open == true(),
                    Ticket.next_due_at <= now + max(leads.values()),
                    or_(*due_or_warnable),
                    or_(
                        Ticket.next_due_at <= now,
                        Ticket.warned_for_due_at.is_(None),
                        Ticket.warned_for_due_at != Ticket.next_due_at,
                    ),
                )
                .order_by(Ticket.next_due_at)
                .limit(batch)
                .with_for_update(skip_locked=True)
            ).all()
            for ticket in rows:
                _sweep_ticket(ticket, tiers, now, counts)
        if len(rows) < batch:
            break
    return counts


def _sweep_ticket(
    ticket: Ticket, tiers: dict[int, TierSettings], now: datetime, counts: dict[str, int]
) -> None:
    settings = tiers[ticket.tier]
    breached = [(target, due) for target, due in ticket.due_times() if due <= now]
    if breached:
        counts["escalated" if _breach(ticket, breached, tiers, now) else "breached"] += 1
        return
    if ticket.next_due_at is None or ticket.warned_for_due_at == ticket.next_due_at:
        return
    target, due = ticket.due_times()[0]
    ticket.warned_for_due_at = due
    _record(
        ticket,
        None,
        EventKind.SLA_WARNING,
        Via.SYSTEM,
        now=now,
        target=target.value,
        due_at=due.isoformat(),
    )
    left = (due - now).total_seconds()
    slack_messages.announce(
        ticket,
        settings,
        f"SLA warning: {target.label.lower()} due in {format_duration(left)}",
        now,
        dedupe_key=f"helpdesk:{ticket.id}:warning:{target.value}:{due.isoformat()}",
    )
    counts["warned"] += 1


def _breach(
    ticket: Ticket,
    breached: list[tuple[SlaTarget, datetime]],
    tiers: dict[int, TierSettings],
    now: datetime,
) -> bool:
    """Record a breach and escalate to the next tier; in the top tier, flag it. Returns
    whether the ticket was escalated."""
    for target, due in breached:
        sla.record_outcome(ticket, target, due, now, met=False)
    ticket.breached_at = ticket.breached_at or now
    names = ", ".join(f"{t.label.lower()} (due {format_datetime(d)})" for t, d in breached)
    _record(
        ticket,
        None,
        EventKind.SLA_BREACHED,
        Via.SYSTEM,
        now=now,
        tier=ticket.tier,
        targets=[t.value for t, _ in breached],
    )
    first_target, first_due = breached[0]
    key = f"helpdesk:{ticket.id}:breach:{ticket.tier}:{first_target.value}:{first_due.isoformat()}"
    if ticket.tier < TOP_TIER:
        old_tier = ticket.tier
        settings = _change_tier(
            ticket,
            old_tier + 1,
            now,
            None,
            EventKind.ESCALATED,
            Via.SYSTEM,
            f"SLA breached: {names}",
        )
        _broadcast(
            ticket,
            settings,
            f"Escalated automatically from tier {old_tier}: {names} breached",
            now,
            dedupe_key=key,
        )
        _touch(ticket, now)
        return True
    ticket.sla_breached_targets = sorted(
        {*(ticket.sla_breached_targets or []), *(t.value for t, _ in breached)}
    )
    sla.recompute_due_times(ticket, tiers[ticket.tier])
    _broadcast(
        ticket,
        tiers[ticket.tier],
        f"SLA breached in tier {ticket.tier}: {names}",
        now,
        dedupe_key=key,
    )
    _touch(ticket, now)
    return False


def close_resolved_tickets(batch: int = 500) -> int:
    """Close tickets resolved longer ago than the reopen window; returns how many."""
    now = utcnow()
    cutoff = now - timedelta(days=current_app.config["HELPDESK_REOPEN_DAYS"])
    with transaction() as session:
        rows = session.scalars(
            select(Ticket)
            .where(Ticket.state == TicketState.RESOLVED, Ticket.resolved_at <= cutoff)
            .order_by(Ticket.resolved_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        for ticket in rows:
            old_label = requester_label(ticket.state)
            _apply_state(ticket, TicketState.CLOSED, now, sla.tier_settings(ticket.tier))
            _record(
                ticket,
                None,
                EventKind.STATE_CHANGED,
                Via.SYSTEM,
                public=True,
                now=now,
                **_change(TicketState.RESOLVED.value, TicketState.CLOSED.value),
                auto=True,
            )
            _touch(ticket, now)
            _notify_state(ticket, old_label)
        return len(rows)


# --- canned replies and tier settings -----------------------------------------------------------


def can_edit_canned(user: User, reply: CannedReply | None, tier: int | None) -> bool:
    """Admins edit every canned reply; staff those of their own tier."""
    if user.is_admin:
        return True
    if not user.is_staff or user.support_tier is None:
        return False
    tiers = {tier} | ({reply.tier} if reply is not None else set())
    return tiers == {user.support_tier}


def save_canned_reply(
    actor: User, reply_id: int | None, *, tier: int | None, title: str, body: str
) -> CannedReply:
    with transaction() as session:
        reply = session.get(CannedReply, reply_id) if reply_id is not None else None
        if reply_id is not None and reply is None:
            raise TicketNotFound("There is no such canned reply.")
        if not can_edit_canned(actor, reply, tier):
            raise NotAllowed("You can only edit canned replies of your own tier.")
        now = utcnow()
        if reply is None:
            reply = CannedReply(created_by_id=actor.id, created_at=now)
            session.add(reply)
        reply.tier = tier
        reply.title = title.strip()
        reply.body = body.strip()
        reply.updated_at = now
        session.flush()
        return reply


def delete_canned_reply(actor: User, reply_id: int) -> None:
    with transaction() as session:
        reply = session.get(CannedReply, reply_id)
        if reply is None:
            raise TicketNotFound("There is no such canned reply.")
        if not can_edit_canned(actor, reply, reply.tier):
            raise NotAllowed("You can only delete canned replies of your own tier.")
        session.delete(reply)


def save_tier_settings(actor: User, tier: int, **fields: Any) -> TierSettings:
    """Save a tier's settings (admins). Open tickets of the tier keep their due times until
    their clock next moves."""
    if not actor.is_admin:
        raise NotAllowed("Only admins can change tier settings.")
    with transaction() as session:
        settings = session.get(TierSettings, tier)
        if settings is None:
            settings = TierSettings.defaults(tier)
            session.add(settings)
        for name, value in fields.items():
            setattr(settings, name, value)
        settings.updated_at = utcnow()
        settings.updated_by_id = actor.id
        try:
            settings.business_calendar().next_opening(settings.updated_at)
        except CalendarError as exc:
            raise HelpdeskError(
                "The tier must be open at some time: give it opening hours."
            ) from exc
        return settings
