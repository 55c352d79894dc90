"""Tables of the outbox: messages, per-destination send rates, and leases for periodic jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.db import Base, UTCDateTime, utcnow
from portal.core.enums import LabelledEnum, enum_column


class MessageState(LabelledEnum):
    """Where a message is in its delivery."""

    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DEAD = "dead", "Dead"


class OutboxMessage(Base):
    """One outgoing message and its delivery record.

    `next_attempt_at` is when a worker may next take it: for a pending message the retry time,
    for a message being sent the end of the worker's lease, so one indexed range finds both
    new work and work abandoned by a crashed worker.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # A caller-chosen key that makes enqueueing the same message twice a no-op.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # Messages sharing a rate key are spaced out (one Slack channel, for example).
    rate_key: Mapped[str | None] = mapped_column(String(120))
    depends_on_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_message.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[MessageState] = mapped_column(
        enum_column(MessageState, 12), default=MessageState.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    last_error: Mapped[str | None] = mapped_column(Text)
    # "unknown" when the last attempt may have reached the remote: reconcile before resending.
    last_outcome: Mapped[str | None] = mapped_column(String(20))
    remote_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    depends_on: Mapped[OutboxMessage | None] = relationship(remote_side=[id])

    @property
    def summary(self) -> str:
        """A one-line description for the admin pages."""
        payload = self.payload or {}
        if self.channel == "email":
            return f"{payload.get('subject', '')} -> {payload.get('to', '')}"
        if self.channel == "slack":
            args = payload.get("args", {})
            return f"{self.action} {args.get('channel', '')}: {str(args.get('text', ''))[:80]}"
        return f"{payload.get('method', '')} {payload.get('path', '')}"


class DeliveryRate(Base):
    """The earliest time the next message for one rate key may be sent."""

    __tablename__ = "delivery_rate"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    next_allowed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobLease(Base):
    """Which worker runs a periodic job now, so several workers never run it at once."""

    __tablename__ = "job_lease"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    leased_until: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    leased_by: Mapped[str | None] = mapped_column(String(120))
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
