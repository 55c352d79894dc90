"""Writing messages to the outbox, claiming them for delivery, and recording what happened."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any

from flask import current_app, render_template
from jinja2 import TemplateNotFound
from sqlalchemy import Select, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from portal.audit import AuditAction, record_audit
from portal.core.db import rows_changed, transaction, utcnow
from portal.extensions import db
from portal.outbox.hooks import run_delivery_hooks, run_delivery_hooks_after_commit
from portal.outbox.models import DeliveryRate, MessageState, OutboxMessage


def enqueue(
    channel: str,
    action: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    rate_key: str | None = None,
    depends_on: OutboxMessage | None = None,
    not_before: datetime | None = None,
) -> OutboxMessage:
    """Add a message to the caller's transaction; the worker delivers it after commit.

    With a dedupe key, a message already enqueued under that key is returned instead.
    """
    session = db.session
    if dedupe_key is not None:
        existing = session.scalar(select(OutboxMessage).filter_by(dedupe_key=dedupe_key))
        if existing is not None:
            return existing
    message = OutboxMessage(
        channel=channel,
        action=action,
        payload=payload,
        dedupe_key=dedupe_key,
        rate_key=rate_key,
        depends_on=depends_on,
        state=MessageState.PENDING,
        next_attempt_at=not_before or utcnow(),
    )
    session.add(message)
    session.flush()
    return message


def send_email(
    to: str,
    subject: str,
    template: str,
    *,
    dedupe_key: str | None = None,
    **context: Any,
) -> OutboxMessage:
    """Render `email/<template>.txt` (and `.html` when it exists) and enqueue the message."""
    context.setdefault("subject", subject)
    text = render_template(f"email/{template}.txt", **context)
    try:
        html: str | None = render_template(f"email/{template}.html", **context)
    except TemplateNotFound:
        html = None
    sender = current_app.config["MAIL_SENDER"]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    payload = {
        "to": to,
        "subject": subject,
        "text": text,
        "html": html,
        "template": template,
        # Fixed at enqueue time, so a retried send carries the same Message-ID.
        "message_id": f"<{uuid.uuid4().hex}@{domain}>",
    }
    return enqueue("email", "send", payload, dedupe_key=dedupe_key)


@dataclass(frozen=True)
class Delivery:
    """What a transport needs to send one message, read while the message was claimed."""

    id: int
    channel: str
    action: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    last_outcome: str | None
    depends_on_remote_id: str | None


def claim_due_messages(worker_id: str, limit: int = 20) -> list[Delivery]:
    """Take up to `limit` due messages for this worker under a lease.

    PostgreSQL: FOR UPDATE SKIP LOCKED lets several workers claim side by side. SQLite: the
    unit of work begins IMMEDIATE, which serialises claimers.
    """
    config = current_app.config
    lease = timedelta(seconds=config["OUTBOX_LEASE_SECONDS"])
    interval = timedelta(milliseconds=config["SLACK_CHANNEL_INTERVAL_MS"])
    claimed: list[Delivery] = []
    given_up: list[int] = []
    with transaction() as session:
        now = utcnow()
        dependency = aliased(OutboxMessage)
        rows = session.scalars(
            select(OutboxMessage)
            .outerjoin(dependency, OutboxMessage.depends_on_id == dependency.id)
            .outerjoin(DeliveryRate, DeliveryRate.key == OutboxMessage.rate_key)
            .where(
                OutboxMessage.state.in_([MessageState.PENDING, MessageState.SENDING]),
                OutboxMessage.next_attempt_at <= now,
                or_(
                    OutboxMessage.depends_on_id.is_(None),
                    dependency.state.in_([MessageState.SENT, MessageState.DEAD]),
                ),
                # Only channels with a free slot: otherwise one channel's backlog fills every
                # batch and the other channels wait behind it.
                or_(
                    DeliveryRate.key.is_(None),
                    DeliveryRate.next_allowed_at <= now,
                    DeliveryRate.next_allowed_at > now + interval,
                ),
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(of=OutboxMessage, skip_locked=True)
        ).all()
        rate_keys_tried: set[str] = set()
        for message in rows:
            dependency_row = message.depends_on
            if dependency_row is not None and dependency_row.state == MessageState.DEAD:
                message.state = MessageState.DEAD
                message.last_error = f"message {dependency_row.id} it depends on is dead"
                given_up.append(message.id)
                continue
            if message.rate_key:
                # One slot per rate key and batch: the key's other messages stay as they are
                # (the query leaves them out until the slot is free again).
                if message.rate_key in rate_keys_tried:
                    continue
                rate_keys_tried.add(message.rate_key)
                if not _take_rate_slot(message, now, interval):
                    continue
            message.state = MessageState.SENDING
            message.attempts += 1
            message.claimed_by = worker_id
            message.next_attempt_at = now + lease
            claimed.append(
                Delivery(
                    id=message.id,
                    channel=message.channel,
                    action=message.action,
                    payload=dict(message.payload),
                    attempts=message.attempts,
                    created_at=message.created_at,
                    last_outcome=message.last_outcome,
                    depends_on_remote_id=dependency_row.remote_id if dependency_row else None,
                )
            )
    run_delivery_hooks_after_commit(given_up)
    return claimed


def seconds_until_next_due(limit: float) -> float:
    """How long an idle worker may sleep: until the next message that waits only for its time
    (a retry, or its channel's next slot), and at most `limit`."""
    now = utcnow()
    dependency = aliased(OutboxMessage)
    ready_at = case(
        (
            DeliveryRate.next_allowed_at > OutboxMessage.next_attempt_at,
            DeliveryRate.next_allowed_at,
        ),
        else_=OutboxMessage.next_attempt_at,
    )
    next_ready = db.session.scalar(
        select(func.min(ready_at))
        .select_from(OutboxMessage)
        .outerjoin(dependency, OutboxMessage.depends_on_id == dependency.id)
        .outerjoin(DeliveryRate, DeliveryRate.key == OutboxMessage.rate_key)
        .where(
            OutboxMessage.state.in_([MessageState.PENDING, MessageState.SENDING]),
            or_(
                OutboxMessage.depends_on_id.is_(None),
                dependency.state.in_([MessageState.SENT, MessageState.DEAD]),
            ),
        )
    )
    if next_ready is None:
        return limit
    if next_ready.tzinfo is None:  # SQLite hands back the naive UTC it stores
        next_ready = next_ready.replace(tzinfo=UTC)
    # A floor, so that a message another worker holds locked is not polled in a busy loop.
    return min(limit, max(0.01, (next_ready - now).total_seconds()))


def _take_rate_slot(message: OutboxMessage, now: datetime, interval: timedelta) -> bool:
    """Reserve the next send slot of the message's rate key, or push the message to it."""
    session = db.session
    key = message.rate_key
    assert key is not None
    # A slot further ahead than one interval can only come from a clock that moved back
    # (or another host's skewed clock); it is not honoured, so nothing waits for hours.
    taken = rows_changed(
        session.execute(
            update(DeliveryRate)
            .where(
                DeliveryRate.key == key,
                or_(
                    DeliveryRate.next_allowed_at <= now,
                    DeliveryRate.next_allowed_at > now + interval,
                ),
            )
            .values(next_allowed_at=now + interval)
        )
    )
    if taken:
        return True
    rate = session.get(DeliveryRate, key)
    if rate is None:
        try:
            with session.begin_nested():
                session.add(DeliveryRate(key=key, next_allowed_at=now + interval))
            return True
        except IntegrityError:
            rate = session.get(DeliveryRate, key)
    if rate is not None:
        message.next_attempt_at = max(rate.next_allowed_at, now)
    return False


def record_sent(message_id: int, remote_id: str | None) -> None:
    """Mark a message delivered; it is never sent again."""
    with transaction() as session:
        message = session.get(OutboxMessage, message_id)
        if message is None:
            return
        message.state = MessageState.SENT
        message.remote_id = remote_id
        message.sent_at = utcnow()
        message.last_error = None
        message.last_outcome = "sent"
        message.next_attempt_at = message.sent_at
        run_delivery_hooks(message)
        if message.rate_key:
            # Space from when the remote answered, not from when the send began, so a slow
            # answer cannot squeeze the next message closer than the interval.
            interval = timedelta(milliseconds=current_app.config["SLACK_CHANNEL_INTERVAL_MS"])
            session.execute(
                update(DeliveryRate)
                .where(
                    DeliveryRate.key == message.rate_key,
                    DeliveryRate.next_allowed_at < message.sent_at + interval,
                )
                .values(next_allowed_at=message.sent_at + interval)
            )


def record_failure(
    message_id: int,
    error: str,
    *,
    permanent: bool = False,
    retry_after: float | None = None,
    outcome_unknown: bool = False,
) -> str:
    """Schedule a retry with exponential backoff and jitter (or the remote's Retry-After),
    or mark the message dead after too many attempts or a permanent failure."""
    config = current_app.config
    with transaction() as session:
        message = session.get(OutboxMessage, message_id)
        if message is None:
            return "missing"
        message.last_error = error[:2000]
        message.last_outcome = "unknown" if outcome_unknown else "failed"
        message.claimed_by = None
        if permanent or message.attempts >= config["OUTBOX_MAX_ATTEMPTS"]:
            message.state = MessageState.DEAD
            message.next_attempt_at = utcnow()
        else:
            message.state = MessageState.PENDING
            message.next_attempt_at = utcnow() + timedelta(
                seconds=backoff_seconds(message.attempts, retry_after)
            )
        run_delivery_hooks(message)
        return message.state


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Delay before the next attempt: the remote's Retry-After when it gave one, otherwise
    exponential backoff with jitter so that many failed messages do not retry in step."""
    config = current_app.config
    if retry_after is not None and retry_after >= 0:
        return retry_after + random.uniform(0, 0.25)  # noqa: S311 - jitter, not a secret
    ceiling = min(
        config["OUTBOX_BACKOFF_MAX_SECONDS"],
        config["OUTBOX_BACKOFF_BASE_SECONDS"] * 2 ** max(attempts - 1, 0),
    )
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


def retry_dead_message(message_id: int) -> OutboxMessage | None:
    """Put a dead message (and the dead messages waiting on it) back in the queue."""
    with transaction() as session:
        message = session.get(OutboxMessage, message_id)
        if message is None or message.state != MessageState.DEAD:
            return message
        now = utcnow()
        waiting = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.depends_on_id == message.id,
                OutboxMessage.state == MessageState.DEAD,
            )
        ).all()
        record_audit(
            AuditAction.OUTBOX_RETRIED,
            target=f"outbox_message:{message.id}",
            before={"state": message.state, "attempts": message.attempts},
            after={"state": MessageState.PENDING, "also_queued": [row.id for row in waiting]},
        )
        for row in [message, *waiting]:
            row.state = MessageState.PENDING
            row.attempts = 0
            row.next_attempt_at = now
        return message


def messages_by_state() -> dict[MessageState, int]:
    """How many messages are in each delivery state."""
    rows = db.session.execute(
        select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
    )
    return dict(rows.all())


def message_search(state: str) -> Select[OutboxMessage]:
    """Messages newest first, only those in `state` when it names one."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc())
    if state in set(MessageState):
        query = query.where(OutboxMessage.state == state)
    return query
