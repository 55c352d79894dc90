"""A ticket's SLA clock: due times from its tier's targets and calendar, stops while the
requester has the ball, and outcomes for the attainment figures."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from portal.core.roles import SupportTier
from portal.extensions import db
from portal.helpdesk.business_hours import add_business_minutes, business_minutes_between
from portal.helpdesk.models import SlaOutcome, SlaTarget, Ticket, TierSettings


def tier_settings(tier: int) -> TierSettings:
    """The saved settings of a tier, or its defaults."""
    return db.session.get(TierSettings, tier) or TierSettings.defaults(tier)


def all_tier_settings() -> dict[SupportTier, TierSettings]:
    """Every tier's settings, saved or default."""
    saved = {s.tier: s for s in db.session.scalars(select(TierSettings))}
    return {tier: saved.get(tier) or TierSettings.defaults(tier) for tier in SupportTier}


def start_clock(ticket: Ticket, settings: TierSettings, now: datetime) -> None:
    """Start the targets of the ticket's (new) tier from `now`: the new tier's SLA applies
    from the moment the ticket reaches it."""
    ticket.sla_started_at = now
    ticket.sla_paused_minutes = 0.0
    ticket.sla_paused_at = now if ticket.clock_stopped else None
    ticket.sla_breached_targets = []
    ticket.warned_for_due_at = None
    if ticket.update_started_at is not None:
        ticket.update_started_at = now
    recompute_due_times(ticket, settings)


def stop_clock(ticket: Ticket, now: datetime) -> None:
    """Stop the clock (waiting on the requester, resolved); a pending follow-up obligation
    ends, because the requester now has the ball."""
    if ticket.sla_paused_at is None:
        ticket.sla_paused_at = now
    ticket.update_started_at = None
    recompute_due_times(ticket, None)


def resume_clock(ticket: Ticket, settings: TierSettings, now: datetime) -> None:
    """Restart a stopped clock; the business minutes it was stopped push every target back."""
    if ticket.sla_paused_at is not None:
        calendar = settings.sla_calendar(ticket.priority)
        ticket.sla_paused_minutes += max(
            business_minutes_between(calendar, ticket.sla_paused_at, now), 0.0
        )
        ticket.sla_paused_at = None
    recompute_due_times(ticket, settings)


def recompute_due_times(ticket: Ticket, settings: TierSettings | None) -> None:
    """Set the due time of every pending target and the earliest of them."""
    if settings is None or ticket.clock_stopped or ticket.sla_paused_at is not None:
        ticket.first_response_due_at = ticket.update_due_at = ticket.resolution_due_at = None
        ticket.next_due_at = None
        return
    calendar = settings.sla_calendar(ticket.priority)
    breached = set(ticket.sla_breached_targets or [])

    def due(target: SlaTarget, start: datetime, stopped_minutes: float) -> datetime | None:
        if target in breached:
            return None
        minutes = settings.target_minutes(ticket.priority, target) + stopped_minutes
        return add_business_minutes(calendar, start, minutes)

    paused = ticket.sla_paused_minutes or 0.0
    ticket.first_response_due_at = (
        due(SlaTarget.FIRST_RESPONSE, ticket.sla_started_at, paused)
        if ticket.first_response_at is None
        else None
    )
    ticket.update_due_at = (
        due(SlaTarget.UPDATE, ticket.update_started_at, 0.0) if ticket.update_started_at else None
    )
    ticket.resolution_due_at = due(SlaTarget.RESOLUTION, ticket.sla_started_at, paused)
    pending = [d for _, d in ticket.due_times()]
    ticket.next_due_at = min(pending) if pending else None


def resolution_due(ticket: Ticket, settings: TierSettings, now: datetime) -> datetime | None:
    """When the resolution target falls due, counting a stopped clock as stopped until `now`
    (what resolving a ticket that waits on its requester is measured against)."""
    if SlaTarget.RESOLUTION in (ticket.sla_breached_targets or []):
        return None
    calendar = settings.sla_calendar(ticket.priority)
    stopped = ticket.sla_paused_minutes or 0.0
    if ticket.sla_paused_at is not None:
        stopped += max(business_minutes_between(calendar, ticket.sla_paused_at, now), 0.0)
    minutes = settings.target_minutes(ticket.priority, SlaTarget.RESOLUTION) + stopped
    return add_business_minutes(calendar, ticket.sla_started_at, minutes)


def record_outcome(
    ticket: Ticket,
    target: SlaTarget,
    due_at: datetime | None,
    now: datetime,
    *,
    met: bool | None = None,
) -> None:
    """Remember whether a target was met in the ticket's current tier (nothing when it had no
    running clock); unless told, it was met if `now` is by its due time."""
    if due_at is None:
        return
    db.session.add(
        SlaOutcome(
            ticket_id=ticket.id,
            tier=ticket.tier,
            priority=ticket.priority,
            target=target,
            due_at=due_at,
            completed_at=now,
            met=now <= due_at if met is None else met,
        )
    )
