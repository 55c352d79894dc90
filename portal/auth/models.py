"""User accounts with their role and support tier, and per-staff API tokens."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.db import Base, UTCDateTime, utcnow
from portal.core.enums import enum_column
from portal.core.roles import Permission, Role, SupportTier


class User(UserMixin, Base):
    """A person who can sign in: applicant, delegate, staff (with a support tier) or admin."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role, 20), default=Role.APPLICANT)
    support_tier: Mapped[int | None] = mapped_column(Integer)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    github_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    github_username: Mapped[str | None] = mapped_column(String(39), unique=True)
    slack_user_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Staff who run sign-up programmes: they see applicants' profiles and edit programmes.
    programme_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    # Part of the session id: raising it signs the account out everywhere.
    auth_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")

    # The browser session this object was loaded for (set at sign-in and by the session loader).
    session_key: str = ""

    def get_id(self) -> str:
        return f"{self.id}.{self.auth_version}.{self.session_key}"

    @property
    def is_active(self) -> bool:
        return self.active

    def has_role(self, role: Role) -> bool:
        """Roles are ordered: an admin can do what staff can, staff what delegates can."""
        return Role(self.role).rank >= role.rank

    @property
    def is_staff(self) -> bool:
        return self.has_role(Role.STAFF)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def has_permission(self, permission: Permission) -> bool:
        """Admins hold every permission; other staff hold the ones given to their account."""
        if self.is_admin:
            return True
        if permission is Permission.PROGRAMME_STAFF:
            return self.is_staff and self.programme_staff
        return False

    @property
    def is_programme_staff(self) -> bool:
        return self.has_permission(Permission.PROGRAMME_STAFF)

    @property
    def tier(self) -> SupportTier | None:
        return SupportTier(self.support_tier) if self.support_tier else None

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens")


class UserSession(Base):
    """One signed-in browser. Deleting the row signs that browser out on the server, whatever
    cookies (session or remember-me) it kept; only the key's SHA-256 is stored."""

    __tablename__ = "user_session"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
