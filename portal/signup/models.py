"""Tables of delegate sign-up: programmes, waves, targets, privacy notices, applications, offers,
the audit trail, staff notes and cohort selection runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import User
from portal.core.db import Base, UTCDateTime, utcnow
from portal.core.enums import LabelledEnum, enum_column
from portal.outbox.models import OutboxMessage


class AdmissionMode(LabelledEnum):
    """How a wave admits the applications confirmed while it is open."""

    FCFS = "fcfs", "First come, first served"
    REVIEWED = "reviewed", "Reviewed by staff"
    COHORT = "cohort", "Cohort selection against targets"


class WaveStatus(LabelledEnum):
    """Where a wave is in its dates at a given moment."""

    UPCOMING = "upcoming", "Upcoming"
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class ApplicationState(LabelledEnum):
    """Where an application is, from submission to admission or departure."""

    UNVERIFIED = "unverified", "Email not confirmed"
    PENDING = "pending", "Under review"
    WAITLISTED = "waitlisted", "On the waitlist"
    OFFERED = "offered", "Offered a place"
    ADMITTED = "admitted", "Admitted"
    DECLINED = "declined", "Declined the offer"
    OFFER_EXPIRED = "offer_expired", "Offer expired"
    REJECTED = "rejected", "Not selected"
    WITHDRAWN = "withdrawn", "Withdrawn"

    @property
    def holds_seat(self) -> bool:
        return self in SEAT_STATES

    @property
    def is_live(self) -> bool:
        return self in LIVE_STATES


# States that hold one of the limited seats: an open offer keeps its seat until answered.
SEAT_STATES = (ApplicationState.OFFERED, ApplicationState.ADMITTED)
# States an applicant can still act on (withdraw from).
LIVE_STATES = (
    ApplicationState.UNVERIFIED,
    ApplicationState.PENDING,
    ApplicationState.WAITLISTED,
    ApplicationState.OFFERED,
    ApplicationState.ADMITTED,
)


class DataRights(LabelledEnum):
    """The applicant's answer to "do you hold Rubin data rights?"."""

    YES = "yes", "Yes"
    NO = "no", "No"
    NOT_SURE = "not_sure", "Not sure"


class OfferOutcome(LabelledEnum):
    """How an offer ended."""

    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"
    REVOKED = "revoked", "Revoked"


class EventKind(LabelledEnum):
    """What an audit-trail entry records."""

    STATE = "state", "State"
    PRIORITY = "priority", "Priority"
    WAVE = "wave", "Wave"
    PRIVACY = "privacy", "Privacy notice"


class GitHubState(LabelledEnum):
    """Where a delegate's GitHub team membership is."""

    NONE = "", "Not provisioned"
    QUEUED = "queued", "Invitation queued"
    INVITED = "invited", "Invited (waiting for the person to accept)"
    ACTIVE = "active", "Team member"
    FAILED = "failed", "Failed"
    REMOVING = "removing", "Removal queued"
    REMOVED = "removed", "Removed"


class Programme(Base):
    """A sign-up programme (DP0 delegates): its limits, guidelines and offer rules."""

    __tablename__ = "signup_programme"
    __table_args__ = (
        CheckConstraint("total_capacity >= 0", name="total_capacity_not_negative"),
        CheckConstraint("plus_one_capacity >= 0", name="plus_one_capacity_not_negative"),
        CheckConstraint("offer_lifetime_hours > 0", name="offer_lifetime_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    total_capacity: Mapped[int] = mapped_column(Integer)
    plus_one_capacity: Mapped[int] = mapped_column(Integer, default=0)
    guidelines_url: Mapped[str] = mapped_column(String(500), default="")
    guidelines_text: Mapped[str] = mapped_column(Text, default="")
    offer_lifetime_hours: Mapped[int] = mapped_column(Integer, default=7 * 24)
    accepting_applications: Mapped[bool] = mapped_column(Boolean, default=True)
    # Whether the attributes used only for cohort balance must be given (optional by default).
    cohort_attributes_required: Mapped[bool] = mapped_column(Boolean, default=False)
    # attribute name -> weight of its targets in cohort selection (1.0 when absent)
    target_weights: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    waves: Mapped[list[Wave]] = relationship(
        back_populates="programme", order_by="Wave.opens_at, Wave.id"
    )
    targets: Mapped[list[Target]] = relationship(
        back_populates="programme",
        cascade="all, delete-orphan",
        order_by="Target.attribute, Target.value",
    )
    notices: Mapped[list[PrivacyNotice]] = relationship(
        back_populates="programme", order_by="PrivacyNotice.version", passive_deletes=True
    )

    def weight_of(self, attribute: str) -> float:
        return float((self.target_weights or {}).get(attribute, 1.0))

    def __repr__(self) -> str:
        return f"<Programme {self.slug}>"


class Wave(Base):
    """One admission round of a programme: when it is open, how many it admits, and how."""

    __tablename__ = "signup_wave"
    __table_args__ = (
        UniqueConstraint("programme_id", "slug"),
        CheckConstraint("capacity >= 0", name="capacity_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("signup_programme.id", ondelete="CASCADE"), index=True
    )
    slug: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    mode: Mapped[AdmissionMode] = mapped_column(
        enum_column(AdmissionMode, 20), default=AdmissionMode.REVIEWED
    )
    carry_over_waitlist: Mapped[bool] = mapped_column(Boolean, default=True)
    waitlist_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    programme: Mapped[Programme] = relationship(back_populates="waves")

    def status(self, now: datetime) -> WaveStatus:
        """Upcoming, open or closed at the moment `now`."""
        if now < self.opens_at:
            return WaveStatus.UPCOMING
        if self.closes_at is None or now < self.closes_at:
            return WaveStatus.OPEN
        return WaveStatus.CLOSED

    def __repr__(self) -> str:
        return f"<Wave {self.programme_id}/{self.slug}>"


class Target(Base):
    """A soft target: the fraction of a cohort that should have one attribute value."""

    __tablename__ = "signup_target"
    __table_args__ = (
        UniqueConstraint("programme_id", "attribute", "value"),
        CheckConstraint("fraction >= 0 AND fraction <= 1", name="fraction_in_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("signup_programme.id", ondelete="CASCADE"), index=True
    )
    attribute: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(40))
    fraction: Mapped[float] = mapped_column(Float)

    programme: Mapped[Programme] = relationship(back_populates="targets")


class PrivacyNotice(Base):
    """One version of a programme's privacy notice: what is kept about applicants, what for and
    for how long (Markdown), with a short text per group of the form's fields and what changed
    since the version before. A version is a draft until it is published, and never changes
    after; a programme has at most one draft, the version after its newest."""

    __tablename__ = "signup_privacy_notice"
    __table_args__ = (
        UniqueConstraint("programme_id", "version"),
        CheckConstraint("version > 0", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("signup_programme.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    # form group ("admission", "cohort", "provisioning", "support") -> what it is for, how long
    purposes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    changes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    programme: Mapped[Programme] = relationship(back_populates="notices")

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    def __repr__(self) -> str:
        return f"<PrivacyNotice {self.programme_id} v{self.version}>"


class Application(Base):
    """One person's application to a programme, from submission to admission or departure.

    One per person per programme: the email and the GitHub username are unique within a
    programme. `active_sponsor_id` is set while a Plus One application is live, so the database
    itself allows a delegate only one Plus One at a time.
    """

    __tablename__ = "signup_application"
    __table_args__ = (
        UniqueConstraint("programme_id", "email"),
        UniqueConstraint("programme_id", "github_key"),
        Index("ix_signup_application_programme_state", "programme_id", "state"),
        Index("ix_signup_application_wave_state", "wave_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("signup_programme.id", ondelete="CASCADE"))
    wave_id: Mapped[int] = mapped_column(ForeignKey("signup_wave.id"))
    state: Mapped[ApplicationState] = mapped_column(
        enum_column(ApplicationState, 20), default=ApplicationState.UNVERIFIED
    )

    email: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str] = mapped_column(String(200))
    institution: Mapped[str] = mapped_column(String(200))
    institution_type: Mapped[str] = mapped_column(String(40))
    country: Mapped[str] = mapped_column(String(2))
    career_stage: Mapped[str] = mapped_column(String(40))
    data_rights: Mapped[DataRights] = mapped_column(enum_column(DataRights, 10))
    data_rights_basis: Mapped[str] = mapped_column(Text, default="")
    github_username: Mapped[str] = mapped_column(String(39))
    # The username folded to lower case: GitHub usernames are case-insensitive.
    github_key: Mapped[str] = mapped_column(String(39))
    github_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    experience_python: Mapped[str] = mapped_column(String(20))
    experience_jupyter: Mapped[str] = mapped_column(String(20))
    experience_sql: Mapped[str] = mapped_column(String(20))
    contribution: Mapped[str] = mapped_column(Text, default="")
    preferred_language: Mapped[str] = mapped_column(String(5), default="en")
    guidelines_accepted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The privacy notice version the applicant accepted (or last acknowledged), and when; none
    # for applications made before the programme had a notice.
    privacy_notice_version: Mapped[int | None] = mapped_column(Integer)
    privacy_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    is_plus_one: Mapped[bool] = mapped_column(Boolean, default=False)
    sponsor_id: Mapped[int | None] = mapped_column(
        ForeignKey("signup_application.id", ondelete="SET NULL"), index=True
    )
    active_sponsor_id: Mapped[int | None] = mapped_column(
        ForeignKey("signup_application.id", ondelete="SET NULL"), unique=True
    )
    sponsor_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Staff can move someone up the waitlist; ties go to the earlier verification.
    priority: Mapped[int] = mapped_column(Integer, default=0)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    admitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    github_state: Mapped[GitHubState] = mapped_column(
        enum_column(GitHubState, 20), default=GitHubState.NONE
    )
    github_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_message.id", ondelete="SET NULL")
    )
    github_error: Mapped[str | None] = mapped_column(Text)
    github_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    programme: Mapped[Programme] = relationship()
    wave: Mapped[Wave] = relationship()
    user: Mapped[User | None] = relationship()
    github_message: Mapped[OutboxMessage | None] = relationship()
    sponsor: Mapped[Application | None] = relationship(foreign_keys=[sponsor_id], remote_side=[id])
    # The database deletes these with the application (ON DELETE CASCADE).
    collaborations: Mapped[list[CollaborationMembership]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="CollaborationMembership.code"
    )
    events: Mapped[list[ApplicationEvent]] = relationship(
        back_populates="application",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ApplicationEvent.id",
    )
    notes: Mapped[list[StaffNote]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="StaffNote.id"
    )
    offers: Mapped[list[Offer]] = relationship(
        back_populates="application",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Offer.id",
    )

    @hybrid_property
    def has_data_rights(self) -> bool:
        """Holds Rubin data rights: the condition of every automatic admission."""
        return self.data_rights == DataRights.YES

    @property
    def is_live(self) -> bool:
        """The applicant can still act on it (withdraw)."""
        return self.state.is_live

    @property
    def collaboration_codes(self) -> list[str]:
        return [membership.code for membership in self.collaborations]

    @property
    def open_offer(self) -> Offer | None:
        return next((offer for offer in self.offers if offer.resolved_at is None), None)

    def __repr__(self) -> str:
        return f"<Application {self.id} {self.email} {self.state}>"


class CollaborationMembership(Base):
    """One Science Collaboration an applicant belongs to (a row each, so filters can index it)."""

    __tablename__ = "signup_collaboration_membership"

    application_id: Mapped[int] = mapped_column(
        ForeignKey("signup_application.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(20), primary_key=True)


class Offer(Base):
    """A seat held for a waitlisted applicant until they answer or the offer expires: the log of
    every offer made."""

    __tablename__ = "signup_offer"
    __table_args__ = (Index("ix_signup_offer_open", "resolved_at", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("signup_application.id", ondelete="CASCADE"), index=True
    )
    wave_id: Mapped[int] = mapped_column(ForeignKey("signup_wave.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[OfferOutcome | None] = mapped_column(enum_column(OfferOutcome, 20))

    application: Mapped[Application] = relationship(back_populates="offers")
    wave: Mapped[Wave] = relationship()


class ApplicationEvent(Base):
    """The audit trail: every change of state (and of priority or wave), by whom and why."""

    __tablename__ = "signup_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("signup_application.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    # Who acted, kept as text so the trail stays readable if the account goes.
    actor_label: Mapped[str] = mapped_column(String(254))
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind, 20), default=EventKind.STATE)
    from_state: Mapped[ApplicationState | None] = mapped_column(enum_column(ApplicationState, 20))
    to_state: Mapped[ApplicationState] = mapped_column(enum_column(ApplicationState, 20))
    reason: Mapped[str] = mapped_column(Text, default="")

    application: Mapped[Application] = relationship(back_populates="events")


class StaffNote(Base):
    """A private note by staff on an application (never shown to the applicant)."""

    __tablename__ = "signup_note"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("signup_application.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    author_label: Mapped[str] = mapped_column(String(254))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CohortRun(Base):
    """One cohort proposal: its inputs (seed, size, targets) and result, kept so that every
    selection can be explained and repeated."""

    __tablename__ = "signup_cohort_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wave_id: Mapped[int] = mapped_column(
        ForeignKey("signup_wave.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seed: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    targets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    pool_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    proposed_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    admitted_ids: Mapped[list[int] | None] = mapped_column(JSON)
    admitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    wave: Mapped[Wave] = relationship()
