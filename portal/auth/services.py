"""Account rules: registration, verification, sign-in, resets, roles, GitHub identities, tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import cache

from flask import current_app
from sqlalchemy import Select, delete, func, or_, select
from werkzeug.security import check_password_hash, generate_password_hash

from portal.audit import AuditAction, record_audit, record_change
from portal.auth import backoff
from portal.auth.models import ApiToken, User, UserSession
from portal.core.db import transaction, utcnow
from portal.core.errors import UserError
from portal.core.request_input import MAX_ID
from portal.core.roles import Role, SupportTier
from portal.core.templating import format_wait
from portal.core.tokens import InvalidToken, make_token, read_token
from portal.core.urls import external_url
from portal.extensions import db
from portal.outbox import send_email


def _hash_password(password: str) -> str:
    """A salted hash of the password, by the configured method (PASSWORD_HASH_METHOD)."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


@cache
def _dummy_hash(method: str) -> str:
    """Checked against when no account matches, so a wrong email costs as much time as a wrong
    password: made by the same method as real hashes, or the timing would tell them apart."""
    return generate_password_hash("not-a-real-password", method=method)


class AuthError(UserError):
    """An account action that cannot be done, with a message for the person."""


class EmailAlreadyRegistered(AuthError):
    pass


class InvalidCredentials(AuthError):
    pass


class EmailNotVerified(AuthError):
    pass


class SignInPaused(AuthError):
    """Too many wrong passwords for this address lately: the next try must wait."""

    status = 429

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        super().__init__(
            "Too many wrong passwords for this email address. For its safety, try again in "
            f"{format_wait(seconds)}."
        )


class LastAdmin(AuthError):
    pass


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def _send_verification(user: User) -> None:
    token = make_token("verify-email", {"id": user.id, "email": user.email})
    send_email(
        user.email,
        "Confirm your email address for the DP0 portal",
        "verify_account",
        user=user,
        link=external_url("auth.verify_email", token=token),
    )


def register_account(*, email: str, full_name: str, password: str) -> None:
    """Create an applicant account and email a verification link.

    An address that already has an account gets an email saying so instead, and the person at
    the form sees the same answer either way: the form must not tell who has an account.
    """
    with transaction() as session:
        existing = find_user_by_email(email)
        if existing is not None:
            send_email(
                existing.email,
                "You already have a DP0 portal account",
                "already_registered",
                user=existing,
                login_link=external_url("auth.login"),
                reset_link=external_url("auth.request_reset"),
            )
            return
        user = User(
            email=normalise_email(email),
            full_name=full_name.strip(),
            password_hash=_hash_password(password),
            role=Role.APPLICANT,
        )
        session.add(user)
        session.flush()
        _send_verification(user)


def resend_verification(email: str) -> None:
    """Send a fresh verification link if the account exists and is unverified (silent otherwise,
    so the form does not reveal who has an account)."""
    with transaction():
        user = find_user_by_email(email)
        if user is not None and not user.email_verified:
            _send_verification(user)


def verify_email(token: str) -> User:
    """Mark the address in a verification link as verified."""
    data = read_token("verify-email", token)
    with transaction() as session:
        user = session.get(User, data.get("id"))
        if user is None or user.email != data.get("email"):
            raise InvalidToken("This link belongs to an account that no longer exists.")
        if user.email_verified_at is None:
            user.email_verified_at = utcnow()
        return user


def authenticate(email: str, password: str) -> User:
    """The account for these credentials, or an error that does not say which part was wrong.
    After several wrong passwords for one address, tries with it must wait (backoff.py)."""
    address = normalise_email(email)
    wait = backoff.seconds_to_wait(address)
    if wait:
        raise SignInPaused(wait)
    user = find_user_by_email(address)
    stored = (
        user.password_hash
        if user is not None and user.password_hash
        else _dummy_hash(current_app.config["PASSWORD_HASH_METHOD"])
    )
    password_ok = check_password_hash(stored, password)
    if user is None or not user.password_hash or not password_ok or not user.active:
        backoff.record_failure(address)
        raise InvalidCredentials("That email and password do not match an active account.")
    backoff.forget_failures(address)
    if not user.email_verified:
        raise EmailNotVerified(
            "Confirm your email address first: use the link we sent you, or ask for a new one."
        )
    return user


def record_login(user: User) -> None:
    with transaction():
        user.last_login_at = utcnow()


def request_password_reset(email: str) -> None:
    """Email a reset link if the account exists (the answer is the same either way)."""
    with transaction():
        user = find_user_by_email(email)
        if user is None or not user.active:
            return
        token = make_token("reset-password", {"id": user.id, "v": user.auth_version})
        send_email(
            user.email,
            "Reset your DP0 portal password",
            "reset_password",
            user=user,
            link=external_url("auth.reset_password", token=token),
        )


RESET_LINK_SECONDS = 60 * 60 * 2


def user_for_reset_token(token: str) -> User:
    """The account a reset link is for, if the link is genuine, fresh and unused."""
    data = read_token("reset-password", token, max_age=RESET_LINK_SECONDS)
    user = db.session.get(User, data.get("id"))
    if user is None or user.auth_version != data.get("v"):
        raise InvalidToken("This reset link has already been used. Ask for a new one.")
    return user


def reset_password(token: str, password: str) -> User:
    """Set a new password from a reset link; the link, and every session, stop working."""
    with transaction():
        user = user_for_reset_token(token)
        user.password_hash = _hash_password(password)
        _end_every_session(user)
        # Receiving the link proves the address.
        user.email_verified_at = user.email_verified_at or utcnow()
        return user


def change_password(user: User, current: str, new: str) -> None:
    with transaction():
        if not user.password_hash or not check_password_hash(user.password_hash, current):
            raise InvalidCredentials("Your current password is not right.")
        user.password_hash = _hash_password(new)
        _end_every_session(user)


def update_profile(user: User, *, full_name: str, slack_user_id: str | None) -> None:
    with transaction() as session:
        user.full_name = full_name.strip()
        if user.is_staff:
            slack_user_id = (slack_user_id or "").strip() or None
            if slack_user_id and session.scalar(
                select(User.id).where(User.slack_user_id == slack_user_id, User.id != user.id)
            ):
                raise AuthError("That Slack member ID is linked to another staff account.")
            user.slack_user_id = slack_user_id


def create_user(
    *,
    email: str,
    full_name: str,
    password: str | None,
    role: Role,
    tier: SupportTier | None = None,
    verified: bool = True,
) -> User:
    """Create an account directly (admins, staff, command line)."""
    with transaction() as session:
        if find_user_by_email(email) is not None:
            raise EmailAlreadyRegistered(f"{normalise_email(email)} already has an account.")
        user = User(
            email=normalise_email(email),
            full_name=full_name.strip(),
            password_hash=_hash_password(password) if password else None,
            role=role,
            support_tier=int(tier) if tier and role in (Role.STAFF, Role.ADMIN) else None,
            email_verified_at=utcnow() if verified else None,
        )
        session.add(user)
        session.flush()
        if user.is_staff:
            record_audit(AuditAction.ACCOUNT_CREATED, target=f"user:{user.id}", after=_access(user))
        return user


def invite_staff(*, email: str, full_name: str, role: Role, tier: SupportTier | None) -> User:
    """Create a staff account and email its owner a link to choose a password."""
    with transaction():
        user = create_user(email=email, full_name=full_name, password=None, role=role, tier=tier)
        token = make_token("reset-password", {"id": user.id, "v": user.auth_version})
        send_email(
            user.email,
            "You have a DP0 portal staff account",
            "staff_invite",
            user=user,
            link=external_url("auth.reset_password", token=token),
        )
        return user


def ensure_first_admin(email: str | None, password: str | None) -> tuple[User, str | None] | None:
    """Create the first admin if there is none; returns it and the password if one was made up."""
    with transaction() as session:
        if session.scalar(select(func.count()).select_from(User).where(User.role == Role.ADMIN)):
            return None
        generated = None
        if not password:
            generated = password = secrets.token_urlsafe(12)
        user = create_user(
            email=email or "admin@example.org",
            full_name="Portal administrator",
            password=password,
            role=Role.ADMIN,
            tier=SupportTier.EXPERT,
        )
        return user, generated


def _active_admins() -> int:
    query = select(func.count()).select_from(User).where(User.role == Role.ADMIN, User.active)
    return db.session.scalar(query) or 0


def _access(user: User) -> dict[str, object]:
    """What an account may do, as the audit log records it."""
    return {"role": user.role, "support_tier": user.support_tier}


def set_role(user: User, role: Role, tier: SupportTier | None) -> User:
    """Change what an account may do; the last admin cannot be demoted."""
    with transaction():
        if user.role == Role.ADMIN and role != Role.ADMIN and _active_admins() <= 1:
            raise LastAdmin("This is the only admin; make someone else an admin first.")
        before = _access(user)
        user.role = role
        user.support_tier = int(tier) if tier and role in (Role.STAFF, Role.ADMIN) else None
        record_change(
            AuditAction.ROLE_CHANGED, target=f"user:{user.id}", before=before, after=_access(user)
        )
        return user


def set_programme_staff(user: User, allowed: bool) -> User:
    """Give a staff account the programme-staff permission, or take it away (admins hold it
    whatever the flag says; other roles cannot hold it)."""
    with transaction():
        before = {"programme_staff": user.programme_staff}
        user.programme_staff = allowed and user.is_staff
        record_change(
            AuditAction.ROLE_CHANGED,
            target=f"user:{user.id}",
            before=before,
            after={"programme_staff": user.programme_staff},
        )
        return user


def set_active(user: User, active: bool) -> User:
    """Deactivate or reactivate an account; deactivation signs it out everywhere."""
    with transaction():
        if not active and user.role == Role.ADMIN and _active_admins() <= 1:
            raise LastAdmin("This is the only admin; it cannot be deactivated.")
        if user.active != active:
            record_audit(
                AuditAction.ACCOUNT_ACTIVATED if active else AuditAction.ACCOUNT_DEACTIVATED,
                target=f"user:{user.id}",
                before={"active": user.active},
                after={"active": active},
            )
        user.active = active
        _end_every_session(user)
        return user


def promote_to_delegate(user: User) -> None:
    """Give an applicant the delegate role (staff and admins keep theirs)."""
    with transaction():
        if user.role == Role.APPLICANT:
            user.role = Role.DELEGATE
            record_audit(
                AuditAction.ROLE_CHANGED,
                target=f"user:{user.id}",
                before={"role": Role.APPLICANT},
                after={"role": Role.DELEGATE},
            )


@dataclass(frozen=True)
class GitHubIdentity:
    id: int
    login: str
    name: str | None
    verified_email: str | None


def sign_in_with_github(identity: GitHubIdentity, signed_in: User | None) -> User:
    """The account for a GitHub identity: link it to the signed-in account, find the account it
    is linked to or whose verified email matches, or create an applicant account."""
    with transaction() as session:
        linked = session.scalar(select(User).where(User.github_id == identity.id))
        if signed_in is not None:
            if linked is not None and linked.id != signed_in.id:
                raise AuthError("This GitHub account is already linked to another portal account.")
            user = signed_in
        elif linked is not None:
            user = linked
        else:
            by_email = (
                find_user_by_email(identity.verified_email) if identity.verified_email else None
            )
            if by_email is not None and by_email.email_verified:
                user = by_email
            elif by_email is not None or not identity.verified_email:
                raise AuthError(
                    "We could not match this GitHub account to a verified email. Sign in with "
                    "your password first, then link GitHub from your account page."
                )
            else:
                user = User(
                    email=normalise_email(identity.verified_email),
                    full_name=identity.name or identity.login,
                    role=Role.APPLICANT,
                    email_verified_at=utcnow(),
                )
                session.add(user)
                session.flush()
        if not user.active:
            raise InvalidCredentials("This account has been deactivated.")
        # A username freed on GitHub can be taken by someone else: the id is what we trust.
        clash = session.scalar(
            select(User).where(
                func.lower(User.github_username) == identity.login.lower(),
                User.github_id != identity.id,
            )
        )
        if clash is not None:
            clash.github_username = None
            session.flush()
        user.github_id = identity.id
        user.github_username = identity.login
        user.last_login_at = utcnow()
        session.flush()
        return user


# --- browser sessions ---------------------------------------------------------------------------


def open_session(user: User) -> None:
    """Record a new signed-in browser for `user` and give the object its key, so the cookie
    that Flask-Login writes names this session (see `User.get_id`)."""
    key = secrets.token_urlsafe(32)
    with transaction() as session:
        session.add(UserSession(key_hash=_hash_token(key), user_id=user.id))
    user.session_key = key


def user_for_session(session_id: str) -> User | None:
    """The account a session cookie (or remember-me cookie) names, if that browser session is
    still open on the server and the account has not been signed out everywhere since."""
    user_id, version, key = [*session_id.split("."), "", ""][:3]
    if not (user_id.isdigit() and version.isdigit() and key) or int(user_id) > MAX_ID:
        return None
    row = db.session.get(UserSession, _hash_token(key))
    if row is None or row.user_id != int(user_id):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.auth_version != int(version):
        return None
    user.session_key = key
    return user


def close_session(user: User) -> None:
    """Sign this browser out on the server: its cookies, even copied ones, stop working."""
    with transaction():
        db.session.execute(
            delete(UserSession).where(UserSession.key_hash == _hash_token(user.session_key))
        )


def close_all_sessions(user: User) -> None:
    """Sign the account out in every browser (the account page's "Sign out everywhere")."""
    with transaction():
        _end_every_session(user)


def _end_every_session(user: User) -> None:
    user.auth_version += 1
    db.session.execute(delete(UserSession).where(UserSession.user_id == user.id))


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_api_token(user: User, name: str) -> str:
    """Make a bearer token for a staff member; the plain value is shown once and never stored."""
    if not user.is_staff:
        raise AuthError("Only staff accounts can have API tokens.")
    raw = "dp0_" + secrets.token_urlsafe(32)
    with transaction() as session:
        session.add(
            ApiToken(
                user=user,
                name=name.strip() or "token",
                token_hash=_hash_token(raw),
                prefix=raw[:10],
            )
        )
    return raw


def api_tokens_of(user: User) -> list[ApiToken]:
    """The account's API tokens, newest first (revoked ones too, marked as such)."""
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
        )
    )


def accounts_by_role() -> dict[Role, int]:
    """How many accounts hold each role."""
    rows = db.session.execute(select(User.role, func.count()).group_by(User.role))
    return dict(rows.all())


def account_search(text: str | None, role: str | None) -> Select[User]:
    """Accounts whose name or email contains `text`, of `role` if given, admins first."""
    query = select(User).order_by(User.role.desc(), User.full_name)
    if text and text.strip():
        like = f"%{text.strip().lower()}%"
        query = query.where(or_(func.lower(User.full_name).like(like), User.email.like(like)))
    if role:
        query = query.where(User.role == role)
    return query


def revoke_api_token(user: User, token_id: int) -> None:
    with transaction() as session:
        token = session.get(ApiToken, token_id)
        if token is None or token.user_id != user.id:
            raise AuthError("No such token.")
        token.revoked_at = token.revoked_at or utcnow()


def user_for_api_token(raw: str) -> User | None:
    """The active account a bearer token belongs to, if the token is valid. Tokens are made
    for staff only; one whose owner is no longer staff still says who it is, and the API's role
    check refuses it (403, not 401: the token is genuine, the account may not use the API)."""
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(raw)))
    if token is None or token.revoked_at is not None:
        return None
    user = token.user
    if not user.active:
        return None
    last_used = token.last_used_at
    if last_used is None or (utcnow() - last_used).total_seconds() > 60:
        with transaction():
            token.last_used_at = utcnow()
    return user
