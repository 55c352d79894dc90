"""Ticket history in words, for staff and (with internal details left out) for requesters."""

from __future__ import annotations

from datetime import datetime

from portal.core.roles import SupportTier
from portal.core.templating import format_datetime
from portal.helpdesk.models import (
    Category,
    EventKind,
    Priority,
    SlaTarget,
    TicketEvent,
    TicketState,
)


def _state(value: object, for_requester: bool) -> str:
    state = TicketState(str(value))
    return state.requester_label if for_requester else state.label


def _tier(value: object) -> str:
    return SupportTier(int(str(value))).label


def _targets(values: object) -> str:
    names = [SlaTarget(str(v)).label.lower() for v in values] if isinstance(values, list) else []
    return ", ".join(names) or "a target"


def describe_event(event: TicketEvent, for_requester: bool = False) -> str:
    """One line saying what happened (the actor and time are shown beside it)."""
    data = event.data or {}
    kind = event.kind
    reason = f": {data['reason']}" if data.get("reason") and not for_requester else ""
    if kind == EventKind.CREATED:
        if for_requester:
            return "Filed the ticket"
        text = (
            f"Filed the ticket ({Category.label_of(data['category'])}, "
            f"{Priority.label_of(data['priority']).lower()} priority; "
            f"routed to {_tier(data['tier'])})"
            if "priority" in data
            else "Filed the ticket"
        )
        return text + (f" for {data['on_behalf_of']}" if data.get("on_behalf_of") else "")
    if kind == EventKind.REQUESTER_REPLIED:
        return "Replied"
    if kind == EventKind.REPLIED:
        return "Replied" if for_requester else "Replied to the requester"
    if kind == EventKind.NOTE_ADDED:
        return "Added an internal note"
    if kind in (EventKind.STATE_CHANGED, EventKind.REOPENED):
        verb = "Reopened the ticket" if kind == EventKind.REOPENED else "Changed the state"
        if "from" not in data:
            return verb
        automatic = " automatically after the reopen window" if data.get("auto") else ""
        change = f"{_state(data['from'], for_requester)} \u2192 {_state(data['to'], for_requester)}"
        if for_requester and kind == EventKind.STATE_CHANGED:
            return f"Status{automatic}: {change}"
        return f"{verb}{automatic}: {change}{reason}"
    if kind == EventKind.CLAIMED:
        return "Claimed the ticket"
    if kind == EventKind.ASSIGNED:
        return f"Assigned the ticket to {data.get('assignee', 'someone')}"
    if kind == EventKind.UNASSIGNED:
        return f"Unassigned {data.get('assignee') or 'the ticket'}"
    if kind == EventKind.ACKNOWLEDGED:
        return "Acknowledged the ticket"
    if kind in (EventKind.ESCALATED, EventKind.DEESCALATED):
        if for_requester:
            return f"Passed the ticket to {_tier(data['to'])}"
        how = (
            "Escalated automatically"
            if data.get("auto")
            else ("Escalated" if kind == EventKind.ESCALATED else "Moved back")
        )
        unassigned = f" (unassigned {data['unassigned']})" if data.get("unassigned") else ""
        return f"{how} from tier {data['from']} to tier {data['to']}{reason}{unassigned}"
    if kind == EventKind.PRIORITY_CHANGED:
        old, new = Priority.label_of(data["from"]), Priority.label_of(data["to"])
        return f"Changed the priority: {old} \u2192 {new}"
    if kind == EventKind.CATEGORY_CHANGED:
        return (
            f"Changed the category: {Category.label_of(data['from'])} \u2192 "
            f"{Category.label_of(data['to'])}"
        )
    if kind == EventKind.SLA_WARNING:
        due = data.get("due_at")
        when = format_datetime(datetime.fromisoformat(due)) if isinstance(due, str) else "soon"
        return f"SLA warning: {SlaTarget(data['target']).label.lower()} due {when}"
    if kind == EventKind.SLA_BREACHED:
        return f"SLA breached in tier {data.get('tier')}: {_targets(data.get('targets'))}"
    if kind == EventKind.RATED:
        return f"Rated the help {data.get('rating')} out of 5"
    return kind.label
