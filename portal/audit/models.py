"""The audit log's table: one append-only row per audited action, and the actions it knows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.db import Base, UTCDateTime, utcnow
from portal.core.enums import LabelledEnum


class AuditAction(LabelledEnum):
    """The audited actions. Rows store the value as plain text, so a feature may record an
    action before it is listed here (it is then shown by its value)."""

    ROLE_CHANGED = "user.role", "Role or tier changed"
    ACCOUNT_ACTIVATED = "user.activated", "Account activated"
    ACCOUNT_DEACTIVATED = "user.deactivated", "Account deactivated"
    ACCOUNT_CREATED = "user.created", "Account created or invited"
    PROGRAMME_CREATED = "programme.created", "Programme created"
    PROGRAMME_CHANGED = "programme.changed", "Programme changed"
    WAVE_CREATED = "wave.created", "Wave created"
    WAVE_CHANGED = "wave.changed", "Wave changed"
    TARGETS_CHANGED = "programme.targets", "Cohort targets changed"
    BULK_DECISION = "applications.decision", "Decision on applications"
    WAITLIST_CLOSED = "programme.waitlist_closed", "Waitlist closed"
    TIER_SETTINGS_CHANGED = "helpdesk.tier_settings", "Tier settings changed"
    OUTBOX_RETRIED = "outbox.retried", "Outbox message retried"
    DELEGATES_EXPORTED = "export.delegates", "Delegates exported"
    APPLICATIONS_EXPORTED = "export.applications", "Applications read through the API"
    AUDIT_EXPORTED = "export.audit", "Audit log exported"
    PERSONAL_DATA_EXPORTED = "export.personal_data", "Personal data exported"
    ERASED = "privacy.erased", "Personal data erased"
    PRIVACY_NOTICE_CHANGED = "privacy.notice", "Privacy notice changed"
    RETENTION_RUN = "privacy.retention", "Retention schedule run"


class AuditEntry(Base):
    """Who did what to which target, when and from where, with the values before and after.

    The actor is kept as an account id without a foreign key: deleting or erasing an account
    neither touches the log nor is blocked by it, and the log names the actor through the
    account row (its pseudonym once erased), so the log itself holds no email addresses.
    """

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_action_at", "action", "at"),
        Index("ix_audit_entry_actor_at", "actor_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(60))
    # What was acted on, as "kind:id" (for example "user:12", "wave:3", "tier:2").
    target: Mapped[str] = mapped_column(String(120), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    remote_addr: Mapped[str | None] = mapped_column(String(45))
