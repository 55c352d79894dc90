"""Tables of the help desk: tickets, messages, attachments, history, SLA outcomes, Slack posts,
canned replies and per-tier settings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import User
from portal.core.db import Base, UTCDateTime, utcnow
from portal.core.enums import LabelledEnum, enum_column
from portal.core.roles import SupportTier
from portal.helpdesk.business_hours import Calendar
from portal.outbox.models import OutboxMessage


class TicketState(LabelledEnum):
    """Where a ticket is in its life; the label is what staff see."""

    NEW = "new", "New"
    OPEN = "open", "Open"
    WAITING_ON_REQUESTER = "waiting_on_requester", "Waiting on requester"
    WAITING_INTERNAL = "waiting_internal", "Waiting on staff (internal)"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"

    @property
    def is_open(self) -> bool:
        return self not in DONE_STATES

    @property
    def stops_clock(self) -> bool:
        """States in which the SLA clock does not run: the requester has the ball, or the
        ticket is done."""
        return self is TicketState.WAITING_ON_REQUESTER or self in DONE_STATES

    @property
    def requester_label(self) -> str:
        """How the requester sees the state: waiting on staff internally is simply "in
        progress" to them."""
        return _REQUESTER_LABELS[self]


DONE_STATES = frozenset({TicketState.RESOLVED, TicketState.CLOSED})
OPEN_STATES = tuple(s for s in TicketState if s.is_open)
_REQUESTER_LABELS = {
    TicketState.NEW: "Received",
    TicketState.OPEN: "In progress",
    TicketState.WAITING_ON_REQUESTER: "Waiting for your reply",
    TicketState.WAITING_INTERNAL: "In progress",
    TicketState.RESOLVED: "Resolved",
    TicketState.CLOSED: "Closed",
}


class Priority(LabelledEnum):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Category(LabelledEnum):
    ACCOUNT_ACCESS = "account_access", "Account and access"
    PORTAL = "portal", "Portal"
    NOTEBOOK = "notebook", "Notebook aspect"
    API_TAP = "api_tap", "API / TAP queries"
    BUTLER_IMAGES = "butler_images", "Butler and images"
    DATA_PRODUCTS = "data_products", "Data products and data quality"
    DOCUMENTATION = "documentation", "Documentation"
    OTHER = "other", "Other"

    @property
    def first_tier(self) -> SupportTier:
        """Routing: account and access problems need the service desk; the rest start with
        community engagement."""
        if self is Category.ACCOUNT_ACCESS:
            return SupportTier.SERVICE_DESK
        return SupportTier.COMMUNITY_ENGAGEMENT


class SlaTarget(LabelledEnum):
    FIRST_RESPONSE = "first_response", "First response"
    UPDATE = "update", "Update"
    RESOLUTION = "resolution", "Resolution"


class Via(LabelledEnum):
    """Where an action came from."""

    WEB = "web"
    SLACK = "slack"
    API = "api"
    SYSTEM = "system"


class EventKind(LabelledEnum):
    CREATED = "created"
    REQUESTER_REPLIED = "requester_replied"
    REPLIED = "replied"
    NOTE_ADDED = "note_added"
    STATE_CHANGED = "state_changed"
    REOPENED = "reopened"
    CLAIMED = "claimed"
    ASSIGNED = "assigned"
    UNASSIGNED = "unassigned"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    DEESCALATED = "deescalated"
    PRIORITY_CHANGED = "priority_changed"
    CATEGORY_CHANGED = "category_changed"
    SLA_WARNING = "sla_warning"
    SLA_BREACHED = "sla_breached"
    RATED = "rated"


# Open tickets, as index predicates: the queues and the sweep read only open tickets, so their
# indexes hold only those (the SQL the `Ticket.is_open` expression renders).
_OPEN_ROWS = text(
    "state NOT IN (" + ", ".join(f"'{state.value}'" for state in sorted(DONE_STATES)) + ")"
)


def _open_index(name: str, *columns: str) -> Index:
    return Index(name, *columns, postgresql_where=_OPEN_ROWS, sqlite_where=_OPEN_ROWS)


class Ticket(Base):
    """A request for help from a delegate, with the SLA clock of the tier it is in.

    The due times are those of targets still pending; `next_due_at` is the earliest of them
    (NULL while the clock is stopped), so the SLA sweep and the queues read one index.
    """

    __tablename__ = "helpdesk_ticket"
    __table_args__ = (
        # Each queue filter with its sort (due soonest, then number), so a page is read in
        # index order; the sweep reads the first one.
        _open_index("ix_helpdesk_ticket_open_due", "next_due_at", "id"),
        Index("ix_helpdesk_ticket_due", "next_due_at", "id"),
        _open_index("ix_helpdesk_ticket_assignee_due", "assignee_id", "next_due_at", "id"),
        _open_index("ix_helpdesk_ticket_tier_due", "tier", "assignee_id", "next_due_at", "id"),
        Index("ix_helpdesk_ticket_state_due", "state", "next_due_at", "id"),
        _open_index("ix_helpdesk_ticket_open_breached", "breached_at"),
        Index("ix_helpdesk_ticket_updated", "updated_at", "id"),
        Index("ix_helpdesk_ticket_created", "created_at", "id"),
        Index("ix_helpdesk_ticket_requester", "requester_id", "updated_at"),
        Index("ix_helpdesk_ticket_first_response", "first_response_at"),
        Index("ix_helpdesk_ticket_resolved", "resolved_at"),
        Index("ix_helpdesk_ticket_search", "search_vector", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[Category] = mapped_column(enum_column(Category, 30))
    priority: Mapped[Priority] = mapped_column(enum_column(Priority, 10), default=Priority.NORMAL)
    state: Mapped[TicketState] = mapped_column(
        enum_column(TicketState, 24), default=TicketState.NEW
    )
    tier: Mapped[int] = mapped_column(Integer, default=1)
    # RESTRICT: a ticket holds staff's replies and the SLA record, so deleting its requester
    # must not take it along; erasure pseudonymises the requester instead.
    requester_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_tier: Mapped[int | None] = mapped_column(Integer)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_tier: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # The SLA clock of the current tier: started on entering the tier, stopped while the
    # requester has the ball (the stopped business minutes are added to the targets).
    sla_started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sla_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sla_paused_minutes: Mapped[float] = mapped_column(Float, default=0.0)
    # Since when the requester has been waiting for an answer to a follow-up.
    update_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Targets already breached in the top tier, where there is no one left to escalate to.
    sla_breached_targets: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    update_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The due time a breach warning was last sent for: one warning per due time.
    warned_for_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the ticket first missed an SLA target.
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Staff full-text search on PostgreSQL (subject, description, replies and notes); kept up
    # to date by the services. SQLite has no tsvector and searches with LIKE instead.
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR().with_variant(Text(), "sqlite"), nullable=True, deferred=True
    )

    requester: Mapped[User] = relationship(foreign_keys=[requester_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    messages: Mapped[list[TicketMessage]] = relationship(
        back_populates="ticket", order_by="TicketMessage.id", cascade="all, delete-orphan"
    )
    attachments: Mapped[list[TicketAttachment]] = relationship(
        back_populates="ticket", order_by="TicketAttachment.id", cascade="all, delete-orphan"
    )
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="all, delete-orphan"
    )
    slack_posts: Mapped[list[TicketSlackPost]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan"
    )

    @hybrid_property
    def is_open(self) -> bool:
        """Derived from the state: in SQL, the condition the open-ticket indexes are built on."""
        return self.state.is_open

    @is_open.inplace.expression
    @classmethod
    def _is_open_expression(cls) -> ColumnElement[bool]:
        # The states as literals, as in the indexes' predicate: a database matches a partial
        # index to a query by its text, and cannot see through a bound parameter.
        return cls.state.not_in(
            bindparam(
                "done_states",
                sorted(DONE_STATES),
                expanding=True,
                literal_execute=True,
                unique=True,
            )
        )

    @property
    def tier_enum(self) -> SupportTier:
        return SupportTier(self.tier)

    @property
    def is_urgent(self) -> bool:
        return self.priority is Priority.URGENT

    @property
    def clock_stopped(self) -> bool:
        return self.state.stops_clock

    def due_times(self) -> list[tuple[SlaTarget, datetime]]:
        """Pending targets and their due times, earliest first."""
        pairs = [
            (SlaTarget.FIRST_RESPONSE, self.first_response_due_at),
            (SlaTarget.UPDATE, self.update_due_at),
            (SlaTarget.RESOLUTION, self.resolution_due_at),
        ]
        return sorted(((t, d) for t, d in pairs if d is not None), key=lambda pair: pair[1])

    def public_messages(self) -> list[TicketMessage]:
        return [m for m in self.messages if not m.internal]

    def public_events(self) -> list[TicketEvent]:
        return [e for e in self.events if e.public]

    def __repr__(self) -> str:
        return f"<Ticket {self.id} {self.state} tier {self.tier}>"


class TicketMessage(Base):
    """A reply on a ticket: from the requester, a public reply from staff, or an internal note
    (staff only: never shown or mailed to the requester)."""

    __tablename__ = "helpdesk_message"
    __table_args__ = (Index("ix_helpdesk_message_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("helpdesk_ticket.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    from_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    via: Mapped[Via] = mapped_column(enum_column(Via, 10), default=Via.WEB)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    author: Mapped[User | None] = relationship()
    attachments: Mapped[list[TicketAttachment]] = relationship(
        back_populates="message", order_by="TicketAttachment.id"
    )


class TicketAttachment(Base):
    """A file attached to a ticket (with the description) or to one of its messages. The bytes
    live under the instance folder, named by `stored_name`, never in the database."""

    __tablename__ = "helpdesk_attachment"
    __table_args__ = (Index("ix_helpdesk_attachment_ticket", "ticket_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("helpdesk_ticket.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("helpdesk_message.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(200))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="attachments")
    message: Mapped[TicketMessage | None] = relationship(back_populates="attachments")

    @property
    def internal(self) -> bool:
        return self.message is not None and self.message.internal


class TicketEvent(Base):
    """One entry of a ticket's append-only history: who did what, when, and how."""

    __tablename__ = "helpdesk_event"
    __table_args__ = (
        Index("ix_helpdesk_event_ticket", "ticket_id", "id"),
        Index("ix_helpdesk_event_kind_created", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("helpdesk_ticket.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind, 30))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    via: Mapped[Via] = mapped_column(enum_column(Via, 10), default=Via.WEB)
    # Whether the requester sees this entry in their ticket's history.
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


@event.listens_for(TicketEvent, "before_update")
@event.listens_for(TicketEvent, "before_delete")
def _history_is_append_only(_mapper: Any, _connection: Any, target: TicketEvent) -> None:
    raise RuntimeError(f"ticket history is append-only (event {target.id})")


class SlaOutcome(Base):
    """A target met or missed in one tier, for the attainment figures."""

    __tablename__ = "helpdesk_sla_outcome"
    __table_args__ = (Index("ix_helpdesk_sla_outcome_completed", "completed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("helpdesk_ticket.id", ondelete="CASCADE"), index=True
    )
    tier: Mapped[int] = mapped_column(Integer)
    priority: Mapped[Priority] = mapped_column(enum_column(Priority, 10))
    target: Mapped[SlaTarget] = mapped_column(enum_column(SlaTarget, 20))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    met: Mapped[bool] = mapped_column(Boolean)


class TicketSlackPost(Base):
    """The living Slack message of a ticket in one channel: later events edit the root post
    (each edit waits for the one before, so an old edit never lands after a newer one) and
    reply in its thread."""

    __tablename__ = "helpdesk_slack_post"
    __table_args__ = (UniqueConstraint("ticket_id", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("helpdesk_ticket.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    root_message_id: Mapped[int] = mapped_column(ForeignKey("outbox_message.id"))
    last_update_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_message.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="slack_posts")
    root_message: Mapped[OutboxMessage] = relationship(foreign_keys=[root_message_id])
    last_update: Mapped[OutboxMessage | None] = relationship(foreign_keys=[last_update_id])


class SlackRequest(Base):
    """A signed request from Slack that was acted on, remembered (by a digest of its signature)
    for as long as that signature is accepted, so that the same request sent again is not."""

    __tablename__ = "helpdesk_slack_request"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class CannedReply(Base):
    """A reusable answer for one tier (or every tier when `tier` is NULL)."""

    __tablename__ = "helpdesk_canned_reply"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tier: Mapped[int | None] = mapped_column(Integer, index=True)
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    EVERY_TIER = "Every tier"

    @property
    def tier_label(self) -> str:
        return SupportTier(self.tier).label if self.tier else self.EVERY_TIER


# Business minutes (urgent: calendar minutes, round the clock) per priority and target. Each
# tier owes its own targets from the moment a ticket reaches it, so an unanswered normal
# ticket escalates after 2 business hours in tier 1, 4 in tier 2 and is flagged after 8 in
# tier 3.
DEFAULT_SLA_MINUTES: dict[SupportTier, dict[str, dict[str, int]]] = {
    SupportTier.COMMUNITY_ENGAGEMENT: {
        "low": {"first_response": 480, "update": 960, "resolution": 2400},
        "normal": {"first_response": 120, "update": 480, "resolution": 1440},
        "high": {"first_response": 60, "update": 240, "resolution": 960},
        "urgent": {"first_response": 30, "update": 60, "resolution": 480},
    },
    SupportTier.SERVICE_DESK: {
        "low": {"first_response": 960, "update": 1440, "resolution": 4800},
        "normal": {"first_response": 240, "update": 480, "resolution": 2400},
        "high": {"first_response": 120, "update": 240, "resolution": 1440},
        "urgent": {"first_response": 60, "update": 120, "resolution": 720},
    },
    SupportTier.EXPERT: {
        "low": {"first_response": 1440, "update": 2400, "resolution": 7200},
        "normal": {"first_response": 480, "update": 960, "resolution": 4800},
        "high": {"first_response": 240, "update": 480, "resolution": 2400},
        "urgent": {"first_response": 120, "update": 240, "resolution": 1440},
    },
}
_WEEKDAYS_ONLY = [[[480, 1020]]] * 5 + [[], []]  # Monday to Friday, 08:00-17:00
DEFAULT_TIER_SETTINGS: dict[SupportTier, dict[str, Any]] = {
    # Rubin's operations are run from Tucson (Arizona keeps standard time all year).
    SupportTier.COMMUNITY_ENGAGEMENT: {
        "timezone": "America/Phoenix", "holiday_country": "US", "holiday_subdivision": "AZ",
        "weekly_hours": _WEEKDAYS_ONLY, "warning_minutes": 30,
    },
    SupportTier.SERVICE_DESK: {
        "timezone": "America/Phoenix", "holiday_country": "US", "holiday_subdivision": "AZ",
        "weekly_hours": _WEEKDAYS_ONLY, "warning_minutes": 60,
    },
    # Data-facility experts, on California time.
    SupportTier.EXPERT: {
        "timezone": "America/Los_Angeles", "holiday_country": "US", "holiday_subdivision": "CA",
        "weekly_hours": [[[540, 1020]]] * 5 + [[], []], "warning_minutes": 60,
    },
}  # fmt: skip


class TierSettings(Base):
    """Admin-editable settings of one support tier: its Slack channel, its business-hours
    calendar, its SLA targets and how long before a breach to warn. A tier without a row
    uses DEFAULT_TIER_SETTINGS."""

    __tablename__ = "helpdesk_tier_settings"

    tier: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    slack_channel_id: Mapped[str | None] = mapped_column(String(32))
    timezone: Mapped[str] = mapped_column(String(64))
    weekly_hours: Mapped[list[list[list[int]]]] = mapped_column(JSON)
    holiday_country: Mapped[str | None] = mapped_column(String(8))
    holiday_subdivision: Mapped[str | None] = mapped_column(String(16))
    closed_dates: Mapped[list[str]] = mapped_column(JSON, default=list)
    sla_minutes: Mapped[dict[str, dict[str, int]]] = mapped_column(JSON)
    warning_minutes: Mapped[int] = mapped_column(Integer, default=60)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )

    @classmethod
    def defaults(cls, tier: int) -> TierSettings:
        """Unsaved settings with the defaults of one tier."""
        base = DEFAULT_TIER_SETTINGS[SupportTier(tier)]
        return cls(
            tier=tier,
            slack_channel_id=None,
            timezone=base["timezone"],
            weekly_hours=[list(map(list, day)) for day in base["weekly_hours"]],
            holiday_country=base["holiday_country"],
            holiday_subdivision=base["holiday_subdivision"],
            closed_dates=[],
            sla_minutes={p: dict(t) for p, t in DEFAULT_SLA_MINUTES[SupportTier(tier)].items()},
            warning_minutes=base["warning_minutes"],
        )

    @property
    def tier_enum(self) -> SupportTier:
        return SupportTier(self.tier)

    def business_calendar(self) -> Calendar:
        return Calendar(
            timezone=self.timezone,
            weekly=tuple(tuple((int(s), int(e)) for s, e in day) for day in self.weekly_hours),
            holiday_country=self.holiday_country or None,
            holiday_subdivision=self.holiday_subdivision or None,
            closed_dates=frozenset(date.fromisoformat(d) for d in self.closed_dates or []),
        )

    def sla_calendar(self, priority: Priority) -> Calendar:
        """Urgent tickets run on a round-the-clock clock; the rest on business hours."""
        if priority is Priority.URGENT:
            return Calendar.round_the_clock()
        return self.business_calendar()

    def target_minutes(self, priority: Priority, target: SlaTarget) -> int:
        return int(self.sla_minutes[priority][target])
