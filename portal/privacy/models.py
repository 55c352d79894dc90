"""Tables of the privacy feature: personal-data exports waiting for their download, and the
record that an erasure took place (by pseudonym, never by the erased identity)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import User
from portal.core.db import Base, UTCDateTime, utcnow
from portal.core.enums import LabelledEnum, enum_column


class ExportState(LabelledEnum):
    """Where an export is: waiting for the worker, or built and waiting for its download."""

    REQUESTED = "requested", "Being prepared"
    READY = "ready", "Ready to download"


class PersonalDataExport(Base):
    """One person's request for everything the portal holds about them. The worker builds the
    file under the instance folder and emails a signed link to `email`; the file and this row
    are deleted when the link expires."""

    __tablename__ = "privacy_export"
    __table_args__ = (Index("ix_privacy_export_state_expires", "state", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Whose data, and where the link goes: the address the request was proven to belong to.
    email: Mapped[str] = mapped_column(String(254), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[ExportState] = mapped_column(
        enum_column(ExportState, 12), default=ExportState.REQUESTED
    )
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The file's random name in the exports folder, once built.
    stored_name: Mapped[str | None] = mapped_column(String(64), unique=True)
    size: Mapped[int | None] = mapped_column(Integer)


class Erasure(Base):
    """That a person's data was erased, when and by whom, and what it touched. The person is
    named only by their pseudonym, the one their records now carry."""

    __tablename__ = "privacy_erasure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(40), index=True)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    erased_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    # What was done, as counts per kind of record ({"applications": 1, "tickets": 2, ...}).
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    erased_by: Mapped[User | None] = relationship()
