"""Shared steps of the help desk: reading tickets for those who may see them, who may work on a
ticket, the state machine, and the steps every action takes inside its unit of work (locking,
history, messages and their files, tier changes, mail to the requester, Slack)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.auth.models import User
from portal.core.db import transaction
from portal.core.roles import Role, SupportTier
from portal.core.urls import external_url
from portal.extensions import db
from portal.helpdesk import attachments, search, sla
from portal.helpdesk import slack as slack_messages
from portal.helpdesk.attachments import Upload
from portal.helpdesk.errors import HelpdeskError, InvalidTransition, NotAllowed, TicketNotFound
from portal.helpdesk.models import (
    DONE_STATES,
    OPEN_STATES,
    EventKind,
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

# Which states staff may move a ticket to from each state. Closed is final: a requester who
# needs more help files a follow-up ticket.
STAFF_TRANSITIONS: dict[TicketState, set[TicketState]] = {
    state: {TicketState.OPEN, TicketState.WAITING_ON_REQUESTER, TicketState.WAITING_INTERNAL,
            TicketState.RESOLVED, TicketState.CLOSED} - {state}
    for state in OPEN_STATES
}  # fmt: skip
STAFF_TRANSITIONS[TicketState.RESOLVED] = {TicketState.OPEN, TicketState.CLOSED}
STAFF_TRANSITIONS[TicketState.CLOSED] = set()


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


def ticket_attachment(
    ticket: Ticket, attachment_id: int, *, for_requester: bool
) -> TicketAttachment | None:
    """A file of the ticket; files on internal notes do not exist for the requester."""
    found = db.session.get(TicketAttachment, attachment_id)
    if found is None or found.ticket_id != ticket.id or (for_requester and found.internal):
        return None
    return found


def can_work_on(user: User, ticket: Ticket) -> bool:
    """Admins work on any ticket; staff on tickets of their own tier or a lower one. Staff
    without a tier can read tickets and add internal notes, nothing more."""
    if not user.active or not user.is_staff:
        return False
    if user.is_admin:
        return True
    return user.support_tier is not None and user.support_tier >= ticket.tier


def require_worker(actor: User, ticket: Ticket) -> None:
    if not can_work_on(actor, ticket):
        raise NotAllowed(
            f"This ticket is in {ticket.tier_enum.label}; your account cannot act on it. "
            "You can add an internal note."
        )


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


def staff_for_slack_member(slack_user_id: str) -> User | None:
    """The active staff account whose profile is linked to this Slack member."""
    if not slack_user_id:
        return None
    user = db.session.scalar(select(User).where(User.slack_user_id == slack_user_id))
    if user is None or not user.active or not user.is_staff:
        return None
    return user


# --- rules checked before anything changes ------------------------------------------------------


def message_body(body: str) -> str:
    """The text of a reply or note, which cannot be empty."""
    text = body.strip()
    if not text:
        raise HelpdeskError("Write a message.", field="body")
    return text


def reason_for(reason: str, message: str) -> str:
    """The reason given for a hand-over (escalating, moving back), which cannot be missing."""
    text = reason.strip()
    if len(text) < 3:
        raise HelpdeskError(message, field="reason")
    return text


def check_transition(ticket: Ticket, target: TicketState) -> None:
    if target != ticket.state and target not in STAFF_TRANSITIONS[ticket.state]:
        raise InvalidTransition(
            f"A ticket that is {ticket.state.label.lower()} cannot become {target.label.lower()}."
        )


def reopen_window() -> timedelta:
    """How long after resolving a requester's reply still reopens the ticket; after it, the
    ticket closes."""
    return timedelta(days=current_app.config["HELPDESK_REOPEN_DAYS"])


def within_reopen_window(ticket: Ticket, now: datetime) -> bool:
    return ticket.resolved_at is not None and now <= ticket.resolved_at + reopen_window()


# --- steps inside a unit of work ----------------------------------------------------------------


def lock_ticket(number: int) -> Ticket:
    """The ticket, locked for this transaction (FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE
    transaction already holds the write lock)."""
    ticket = db.session.scalar(
        select(Ticket)
        .where(Ticket.id == number)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if ticket is None:
        raise TicketNotFound()
    return ticket


def lock_for_requester(requester: User, number: int) -> Ticket:
    """The requester's own ticket, locked (anyone else's does not exist for them)."""
    ticket = lock_ticket(number)
    if ticket.requester_id != requester.id:
        raise TicketNotFound()
    return ticket


def lock_for_worker(actor: User, number: int, *, open_only: str | None = None) -> Ticket:
    """The ticket, locked for a staff action that `actor` must be able to work on; with
    `open_only`, the refusal when the ticket is resolved or closed."""
    ticket = lock_ticket(number)
    require_worker(actor, ticket)
    if open_only is not None and not ticket.is_open:
        raise InvalidTransition(open_only)
    return ticket


def record_event(
    ticket: Ticket,
    actor: User | None,
    kind: EventKind,
    via: Via,
    *,
    now: datetime,
    public: bool = False,
    **data: Any,
) -> TicketEvent:
    """Add an entry to the ticket's history (`public` ones the requester sees too)."""
    event = TicketEvent(
        ticket_id=ticket.id,
        actor_id=actor.id if actor else None,
        kind=kind,
        data=data,
        via=via,
        public=public,
        created_at=now,
    )
    db.session.add(event)
    return event


def change(old: object, new: object) -> dict[str, Any]:
    """History data for a change ("from" is a Python keyword, so not an argument name)."""
    return {"from": old, "to": new}


@contextmanager
def unit_with_files() -> Iterator[list[str]]:
    """A unit of work that also writes attachment files (their stored names are collected in
    the list it gives): if it rolls back, the files written for it are deleted, so no file
    outlives its row."""
    stored: list[str] = []
    try:
        with transaction():
            yield stored
    except BaseException:
        attachments.remove(stored)
        raise


def store_uploads(
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


def add_message(
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
        body=body,
        internal=internal,
        from_staff=staff,
        via=via,
        created_at=now,
    )
    db.session.add(message)
    db.session.flush()
    store_uploads(ticket, message, uploads, author, stored)
    search.index_message(ticket, message.body, internal=internal)
    return message


def apply_state(
    ticket: Ticket, new: TicketState, now: datetime, settings: TierSettings
) -> TicketState:
    """Move the ticket to `new`, keeping its timestamps and SLA clock in step; returns the old
    state."""
    old = ticket.state
    if new == old:
        return old
    if new is TicketState.RESOLVED:
        sla.record_outcome(
            ticket, SlaTarget.RESOLUTION, sla.resolution_due(ticket, settings, now), now
        )
        ticket.resolved_at = now
        ticket.resolution_tier = ticket.tier
    if new is TicketState.CLOSED:
        ticket.closed_at = now
    if old is TicketState.RESOLVED and new.is_open:
        ticket.resolved_at = None
        ticket.resolution_tier = None
    ticket.state = new
    if new.stops_clock:
        sla.stop_clock(ticket, now)
    elif old.stops_clock:
        sla.resume_clock(ticket, settings, now)
    return old


def move_to(
    ticket: Ticket,
    new: TicketState,
    now: datetime,
    actor: User | None,
    via: Via,
    *,
    kind: EventKind = EventKind.STATE_CHANGED,
    **data: Any,
) -> TicketState:
    """Move the ticket to `new` and record the change in the history the requester sees too;
    returns the old state."""
    old = apply_state(ticket, new, now, sla.tier_settings(ticket.tier))
    record_event(ticket, actor, kind, via, public=True, now=now, **change(old, new), **data)
    return old


def hand_over(
    ticket: Ticket,
    new_tier: SupportTier,
    now: datetime,
    actor: User | None,
    kind: EventKind,
    via: Via,
    *,
    reason: str,
    headline: str,
    dedupe_key: str | None = None,
) -> None:
    """Move the ticket to another tier: it leaves its assignee (it belongs in the new tier's
    unassigned queue), the new tier's SLA starts now, and the new tier's channel hears of it
    (`headline`) as do the channels it was already in."""
    old_tier = ticket.tier
    previous_assignee = ticket.assignee
    ticket.tier = new_tier
    ticket.assignee_id = None
    settings = sla.tier_settings(new_tier)
    sla.start_clock(ticket, settings, now)
    record_event(
        ticket,
        actor,
        kind,
        via,
        public=True,
        now=now,
        **change(old_tier, int(new_tier)),
        reason=reason,
        auto=actor is None,
        unassigned=previous_assignee.full_name if previous_assignee else None,
    )
    ticket.updated_at = now
    broadcast(ticket, settings, headline, now, dedupe_key=dedupe_key)


def broadcast(
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


def ticket_link(ticket: Ticket) -> str:
    return external_url("helpdesk.ticket", number=ticket.id)


def rate_link(ticket: Ticket) -> str | None:
    """Where the requester rates the help, once the ticket is done."""
    if ticket.state in DONE_STATES:
        return ticket_link(ticket) + "#rate"
    return None


def mail_requester(ticket: Ticket, template: str, subject: str, **context: Any) -> None:
    requester = ticket.requester
    if not requester.active:
        return
    send_email(
        requester.email,
        f"[DP0 help desk #{ticket.id}] {subject}",
        template,
        ticket=ticket,
        user=requester,
        link=ticket_link(ticket),
        state_label=ticket.state.requester_label,
        **context,
    )


def notify_state(ticket: Ticket, old_label: str) -> None:
    """Mail the requester when the state they see has changed."""
    if ticket.state.requester_label == old_label:
        return
    mail_requester(
        ticket,
        "helpdesk_state",
        f"{ticket.state.requester_label}: {ticket.subject}",
        old_label=old_label,
        rate_link=rate_link(ticket),
        reopen_days=current_app.config["HELPDESK_REOPEN_DAYS"],
    )


def actor_name(actor: User | None) -> str:
    return actor.full_name if actor else "The help desk"
