"""How a ticket's clock and labels look in lists and badges, worked out in Python once per
row (a queue page shows fifty)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.core.templating import format_datetime, format_duration
from portal.helpdesk.models import Priority, Ticket, TicketState

STATE_TONES = {TicketState.NEW: "warn", TicketState.RESOLVED: "good"}
PRIORITY_TONES = {Priority.URGENT: "bad", Priority.HIGH: "warn"}


@dataclass(frozen=True)
class DueBadge:
    """Time to the next breach: `text` to show, `tone` (a badge class), `title` in full."""

    text: str
    tone: str = ""
    title: str = ""
    quiet: bool = False


def due_badge(ticket: Ticket, now: datetime) -> DueBadge:
    if not ticket.is_open:
        return DueBadge(ticket.state.label, quiet=True)
    if ticket.clock_stopped:
        return DueBadge("Clock stopped", title="Waiting on the requester")
    due = ticket.due_times()
    if not due:
        if ticket.breached_at:
            return DueBadge("Breached", "bad")
        return DueBadge("No target", quiet=True)
    target, due_at = due[0]
    left = (due_at - now).total_seconds()
    title = f"{target.label} due {format_datetime(due_at)}"
    if left < 0:
        return DueBadge(f"Overdue {format_duration(-left)}", "bad", title)
    return DueBadge(format_duration(left), "warn" if left < 3600 else "", title)
