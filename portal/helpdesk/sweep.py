"""The help desk's periodic jobs: the SLA sweep (warn before a breach; on a breach escalate to
the next tier, or flag it in the top tier) and closing tickets resolved longer ago than the
reopen window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import and_, or_, select

from portal.core.db import transaction, utcnow
from portal.core.roles import SupportTier
from portal.core.templating import format_datetime, format_duration
from portal.extensions import db
from portal.helpdesk import sla
from portal.helpdesk import slack as slack_messages
from portal.helpdesk.models import EventKind, SlaTarget, Ticket, TicketState, TierSettings, Via
from portal.helpdesk.tickets import (
    broadcast,
    hand_over,
    move_to,
    notify_state,
    record_event,
    reopen_window,
)

SweepOutcome = Literal["warned", "escalated", "breached"]


def run_sla_sweep(batch: int = 200, max_batches: int = 25) -> dict[SweepOutcome, int]:
    """Warn before breaches and act on them. One indexed range over `next_due_at` finds the
    work; each warning and each breach happens once (the ticket records it, and its clock
    moves on)."""
    counts: dict[SweepOutcome, int] = {"warned": 0, "escalated": 0, "breached": 0}
    now = utcnow()
    for _ in range(max_batches):
        with transaction():
            tiers = sla.all_tier_settings()
            leads = {t: timedelta(minutes=s.warning_minutes) for t, s in tiers.items()}
            due_or_warnable = [
                and_(Ticket.tier == tier, Ticket.next_due_at <= now + lead)
                for tier, lead in leads.items()
            ]
            rows = db.session.scalars(
                select(Ticket)
                .where(
                    Ticket.is_open,
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
                outcome = sweep_ticket(ticket, tiers, now)
                if outcome is not None:
                    counts[outcome] += 1
        if len(rows) < batch:
            break
    return counts


def sweep_ticket(
    ticket: Ticket, tiers: dict[SupportTier, TierSettings], now: datetime
) -> SweepOutcome | None:
    """Act on one ticket's clock at `now`: a breach, a warning, or nothing yet."""
    breached = [(target, due) for target, due in ticket.due_times() if due <= now]
    if breached:
        return "escalated" if _breach(ticket, breached, tiers, now) else "breached"
    if ticket.next_due_at is None or ticket.warned_for_due_at == ticket.next_due_at:
        return None
    target, due = ticket.due_times()[0]
    ticket.warned_for_due_at = due
    record_event(
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
        tiers[ticket.tier_enum],
        f"SLA warning: {target.label.lower()} due in {format_duration(left)}",
        now,
        dedupe_key=f"helpdesk:{ticket.id}:warning:{target.value}:{due.isoformat()}",
    )
    return "warned"


def _breach(
    ticket: Ticket,
    breached: list[tuple[SlaTarget, datetime]],
    tiers: dict[SupportTier, TierSettings],
    now: datetime,
) -> bool:
    """Record a breach and escalate to the next tier; in the top tier, flag it. Returns
    whether the ticket was escalated."""
    for target, due in breached:
        sla.record_outcome(ticket, target, due, now, met=False)
    ticket.breached_at = ticket.breached_at or now
    names = ", ".join(f"{t.label.lower()} (due {format_datetime(d)})" for t, d in breached)
    record_event(
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
    ticket.updated_at = now
    if not ticket.tier_enum.is_top:
        hand_over(
            ticket,
            SupportTier(ticket.tier + 1),
            now,
            None,
            EventKind.ESCALATED,
            Via.SYSTEM,
            reason=f"SLA breached: {names}",
            headline=f"Escalated automatically from tier {ticket.tier}: {names} breached",
            dedupe_key=key,
        )
        return True
    settings = tiers[ticket.tier_enum]
    ticket.sla_breached_targets = sorted(
        {*(ticket.sla_breached_targets or []), *(t.value for t, _ in breached)}
    )
    sla.recompute_due_times(ticket, settings)
    broadcast(ticket, settings, f"SLA breached in tier {ticket.tier}: {names}", now, dedupe_key=key)
    return False


def close_resolved_tickets(batch: int = 500) -> int:
    """Close tickets resolved longer ago than the reopen window; returns how many."""
    now = utcnow()
    with transaction():
        rows = db.session.scalars(
            select(Ticket)
            .where(
                Ticket.state == TicketState.RESOLVED, Ticket.resolved_at <= now - reopen_window()
            )
            .order_by(Ticket.resolved_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        for ticket in rows:
            close_resolved(ticket, now)
        return len(rows)


def close_resolved(ticket: Ticket, now: datetime) -> None:
    """Close a resolved ticket whose reopen window has passed, and tell the requester."""
    old_label = ticket.state.requester_label
    move_to(ticket, TicketState.CLOSED, now, None, Via.SYSTEM, auto=True)
    ticket.updated_at = now
    notify_state(ticket, old_label)
