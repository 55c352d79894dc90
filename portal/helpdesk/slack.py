"""The help desk in Slack: one living Block Kit message per ticket and channel, posted, edited
and threaded through the outbox, and held outside the tier's business hours."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from portal.core.db import transaction, utcnow
from portal.core.templating import format_duration
from portal.core.urls import external_url
from portal.extensions import db
from portal.helpdesk.models import SlackRequest, Ticket, TicketSlackPost, TierSettings
from portal.helpdesk.sla import all_tier_settings
from portal.outbox import enqueue
from portal.outbox.models import OutboxMessage

CLAIM_ACTION = "helpdesk_claim"
ACKNOWLEDGE_ACTION = "helpdesk_acknowledge"
OPEN_ACTION = "helpdesk_open"
# How far a request's timestamp may be from now for its signature to be accepted (the window
# of slack_sdk's SignatureVerifier): a replay can only arrive within it.
SIGNATURE_WINDOW = timedelta(minutes=5)


def escape(text: str) -> str:
    """Slack's mrkdwn treats &, < and > as markup: people's text must not become links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_date(moment: datetime, fallback: str) -> str:
    """A date Slack shows in each reader's own timezone."""
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def due_text(ticket: Ticket, now: datetime) -> str:
    """What the reader needs about the clock: which target is due when, or why none is."""
    if not ticket.is_open:
        return ticket.state.label
    if ticket.clock_stopped:
        return "Clock stopped: waiting on the requester"
    due = ticket.due_times()
    if not due:
        return "Breached; no target left in this tier" if ticket.breached_at else "No target"
    target, due_at = due[0]
    seconds = (due_at - now).total_seconds()
    when = _slack_date(due_at, due_at.strftime("%Y-%m-%d %H:%M UTC"))
    if seconds < 0:
        return f"{target.label} breached {format_duration(-seconds)} ago ({when})"
    return f"{target.label} due in {format_duration(seconds)} ({when})"


def ticket_blocks(ticket: Ticket, headline: str, now: datetime) -> tuple[str, list[dict[str, Any]]]:
    """The message for a ticket: plain-text fallback (notifications) and Block Kit blocks."""
    link = external_url("helpdesk_staff.ticket", number=ticket.id)
    subject = escape(ticket.subject)
    assignee = escape(ticket.assignee.full_name) if ticket.assignee else "Unassigned"
    fields = [
        ("Requester", escape(ticket.requester.full_name)),
        ("Category", ticket.category.label),
        (
            "Priority",
            ticket.priority.label + (" :rotating_light:" if ticket.is_urgent else ""),
        ),
        ("Tier", ticket.tier_enum.label),
        ("State", ticket.state.label),
        ("Assignee", assignee),
        ("Time to breach", due_text(ticket, now)),
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*<{link}|#{ticket.id} {subject}>*\n{escape(headline)}",
            },
        },
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in fields],
        },
    ]
    buttons: list[dict[str, Any]] = []
    if ticket.is_open:
        if ticket.assignee_id is None:
            buttons.append(_button("Claim", CLAIM_ACTION, str(ticket.id), style="primary"))
        buttons.append(_button("Acknowledge", ACKNOWLEDGE_ACTION, str(ticket.id)))
    buttons.append({**_button("Open in portal", OPEN_ACTION, str(ticket.id)), "url": link})
    blocks.append(
        {"type": "actions", "block_id": f"helpdesk_ticket_{ticket.id}", "elements": buttons}
    )
    # The fallback text is what notifications show: mrkdwn too, so escaped like the blocks.
    text = (
        f"#{ticket.id} {subject} ({ticket.priority.label}, "
        f"{ticket.tier_enum.label}): {escape(headline)}"
    )
    return text, blocks


def _button(label: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def first_delivery(signature: str, timestamp: int) -> bool:
    """Remember a signed Slack request; False when the same request (the same signature) was
    already received, so that a replay within the signature window is not acted on twice.
    Requests whose signature can no longer be accepted are forgotten."""
    digest = hashlib.sha256(signature.encode()).hexdigest()
    sent_at = datetime.fromtimestamp(timestamp, UTC)
    with transaction() as session:
        session.execute(delete(SlackRequest).where(SlackRequest.expires_at < utcnow()))
        try:
            # The primary key decides between two copies sent at the same moment.
            with session.begin_nested():
                session.add(SlackRequest(digest=digest, expires_at=sent_at + SIGNATURE_WINDOW))
        except IntegrityError:
            return False
    return True


def hold_until(ticket: Ticket, settings: TierSettings, now: datetime) -> datetime | None:
    """When a post may go out: at once for urgent and breached tickets and during the tier's
    business hours; otherwise at the next opening (no pages at midnight or on weekends)."""
    if ticket.is_urgent or ticket.breached_at is not None:
        return None
    opening = settings.business_calendar().next_opening(now)
    return opening if opening > now else None


def announce(
    ticket: Ticket,
    settings: TierSettings,
    headline: str,
    now: datetime,
    *,
    dedupe_key: str | None = None,
) -> None:
    """Bring the ticket to its tier channel's attention: a new living message there, or, if
    it has one already, an edit and a thread reply. Called inside the service's transaction."""
    channel = settings.slack_channel_id
    if not channel:
        return
    post = db.session.scalar(
        select(TicketSlackPost).where(
            TicketSlackPost.ticket_id == ticket.id, TicketSlackPost.channel == channel
        )
    )
    if post is not None:
        _update_post(post, ticket, headline, now, settings, dedupe_key=dedupe_key)
        return
    text, blocks = ticket_blocks(ticket, headline, now)
    root = enqueue(
        "slack",
        "chat.postMessage",
        {"args": {"channel": channel, "text": text, "blocks": blocks}},
        rate_key=f"slack:{channel}",
        not_before=hold_until(ticket, settings, now),
        dedupe_key=dedupe_key,
    )
    db.session.add(TicketSlackPost(ticket_id=ticket.id, channel=channel, root_message=root))
    db.session.flush()


def update_living_messages(
    ticket: Ticket, headline: str, now: datetime, *, skip_channel: str | None = None
) -> None:
    """Edit every living message of the ticket and add the event to their threads."""
    posts = db.session.scalars(
        select(TicketSlackPost).where(TicketSlackPost.ticket_id == ticket.id)
    ).all()
    if not posts:
        return
    tiers = all_tier_settings()
    by_channel = {s.slack_channel_id: s for s in tiers.values() if s.slack_channel_id}
    for post in posts:
        if post.channel == skip_channel:
            continue
        # A thread reply keeps the quiet hours of the tier whose channel it goes to.
        settings = by_channel.get(post.channel) or tiers[ticket.tier_enum]
        _update_post(post, ticket, headline, now, settings)


def _update_post(
    post: TicketSlackPost,
    ticket: Ticket,
    headline: str,
    now: datetime,
    settings: TierSettings,
    *,
    dedupe_key: str | None = None,
) -> None:
    text, blocks = ticket_blocks(ticket, headline, now)
    previous: OutboxMessage = post.last_update or post.root_message
    # Each edit waits for the previous one, so edits land in order even after retries; an
    # edit's remote id is the root post's, which is what the worker edits and threads on.
    update = enqueue(
        "slack",
        "chat.update",
        {"args": {"text": text, "blocks": blocks}},
        depends_on=previous,
        rate_key=f"slack:{post.channel}",
    )
    post.last_update = update
    enqueue(
        "slack",
        "chat.postMessage",
        {"args": {"channel": post.channel, "text": escape(headline)}, "thread_on_parent": True},
        depends_on=post.root_message,
        rate_key=f"slack:{post.channel}",
        not_before=hold_until(ticket, settings, now),
        dedupe_key=f"{dedupe_key}:thread:{post.channel}" if dedupe_key else None,
    )
