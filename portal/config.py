"""Configuration from the environment, with development defaults kept under instance/."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

ENVIRONMENTS = ("development", "production", "testing")


class ConfigError(RuntimeError):
    """The environment does not describe a portal that can start."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _development_secret(instance_path: Path) -> str:
    """Generate the development secret once and keep it, so sessions survive restarts."""
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def load_config(
    instance_path: Path, env: str | None = None, secret_key: str | None = None
) -> dict[str, Any]:
    """Read every setting from the environment; refuse to run production without a secret."""
    env = env or os.environ.get("PORTAL_ENV", "production")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"PORTAL_ENV must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")
    production = env == "production"

    secret_key = secret_key or os.environ.get("SECRET_KEY", "")
    if not secret_key:
        if production:
            raise ConfigError("SECRET_KEY is not set: production mode refuses to start without it.")
        secret_key = _development_secret(instance_path)

    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'portal.db'}"
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")

    mail_server = os.environ.get("MAIL_SERVER", "")
    return {
        "PORTAL_ENV": env,
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(os.environ.get("SESSION_COOKIE_SECURE"), production),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _bool(os.environ.get("SESSION_COOKIE_SECURE"), production),
        "PERMANENT_SESSION_LIFETIME": 60 * 60 * 12,
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 12 * 1024 * 1024),
        "WTF_CSRF_TIME_LIMIT": 60 * 60 * 8,
        # Passwords are stored as scrypt hashes. The test suite hashes thousands of passwords
        # and checks none against an attacker, so there one round of PBKDF2 stands in.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1" if env == "testing" else "scrypt",
        # Mail: real SMTP when MAIL_SERVER is set, otherwise .eml files under instance/mail.
        "MAIL_SERVER": mail_server,
        "MAIL_PORT": _int("MAIL_PORT", 587 if mail_server else 25),
        "MAIL_USE_TLS": _bool(os.environ.get("MAIL_USE_TLS"), False),
        "MAIL_USE_SSL": _bool(os.environ.get("MAIL_USE_SSL"), False),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD", ""),
        "MAIL_SENDER": os.environ.get("MAIL_SENDER", "DP0 Portal <dp0-portal@localhost>"),
        "MAIL_DIR": str(instance_path / "mail"),
        # Slack.
        "SLACK_BOT_TOKEN": os.environ.get("SLACK_BOT_TOKEN", ""),
        "SLACK_SIGNING_SECRET": os.environ.get("SLACK_SIGNING_SECRET", ""),
        "SLACK_API_URL": os.environ.get("SLACK_API_URL", "https://slack.com/api/"),
        # GitHub: OAuth sign-in and team provisioning.
        "GITHUB_CLIENT_ID": os.environ.get("GITHUB_CLIENT_ID", ""),
        "GITHUB_CLIENT_SECRET": os.environ.get("GITHUB_CLIENT_SECRET", ""),
        "GITHUB_URL": os.environ.get("GITHUB_URL", "https://github.com").rstrip("/"),
        "GITHUB_API_URL": os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/"),
        "GITHUB_TOKEN": os.environ.get("GITHUB_TOKEN", ""),
        "GITHUB_ORG": os.environ.get("GITHUB_ORG", ""),
        "GITHUB_TEAM": os.environ.get("GITHUB_TEAM", ""),
        # Delegate sign-up (portal/signup): test-only switches, honoured only when PORTAL_ENV is
        # "testing". They hold the seat transaction open between counting seats and taking one,
        # and leave out the seat lock, so the concurrency tests show the race the lock prevents.
        "SIGNUP_RACE_WINDOW_SECONDS": float(os.environ.get("SIGNUP_RACE_WINDOW_SECONDS") or 0),
        "SIGNUP_TEST_SKIP_SEAT_LOCK": _bool(os.environ.get("SIGNUP_TEST_SKIP_SEAT_LOCK"), False),
        # The portal itself.
        "PORTAL_BASE_URL": os.environ.get("PORTAL_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "PORTAL_TIMEZONE": os.environ.get("PORTAL_TIMEZONE", "UTC"),
        "PORTAL_DOCS_DIR": os.environ.get("PORTAL_DOCS_DIR", "docs/_build/html"),
        # Reverse proxies in front of the portal whose X-Forwarded-For/-Proto/-Host it trusts
        # (0: none). Without the right number, every client behind nginx looks like one
        # address to the rate limits, or a client can forge its address.
        "PORTAL_PROXY_HOPS": _int("PORTAL_PROXY_HOPS", 0),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        # Failed sign-ins per client address (successful ones do not count).
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;50 per hour"),
        # Per email address, a backoff rather than a lock (portal/auth/backoff.py): after this
        # many wrong passwords each try waits, from the base doubling up to the ceiling, so an
        # attacker cannot keep the owner out for longer than the ceiling.
        "LOGIN_BACKOFF_FREE_FAILURES": _int("LOGIN_BACKOFF_FREE_FAILURES", 5),
        "LOGIN_BACKOFF_BASE_SECONDS": _int("LOGIN_BACKOFF_BASE_SECONDS", 5),
        "LOGIN_BACKOFF_MAX_SECONDS": _int("LOGIN_BACKOFF_MAX_SECONDS", 300),
        "LOGIN_BACKOFF_RESET_SECONDS": _int("LOGIN_BACKOFF_RESET_SECONDS", 24 * 60 * 60),
        # Forms that send an email (register, resend a link, reset): per client address, and
        # per recipient so that no one can flood an inbox from many addresses.
        "MAIL_RATE_LIMIT": os.environ.get("MAIL_RATE_LIMIT", "10 per hour"),
        "MAIL_RECIPIENT_RATE_LIMIT": os.environ.get("MAIL_RECIPIENT_RATE_LIMIT", "3 per hour"),
        "TOKEN_MAX_AGE_SECONDS": _int("TOKEN_MAX_AGE_SECONDS", 60 * 60 * 48),
        # Delivery outbox.
        "OUTBOX_MAX_ATTEMPTS": _int("OUTBOX_MAX_ATTEMPTS", 10),
        "OUTBOX_LEASE_SECONDS": _int("OUTBOX_LEASE_SECONDS", 60),
        "OUTBOX_BACKOFF_BASE_SECONDS": _int("OUTBOX_BACKOFF_BASE_SECONDS", 5),
        "OUTBOX_BACKOFF_MAX_SECONDS": _int("OUTBOX_BACKOFF_MAX_SECONDS", 3600),
        "OUTBOX_SEND_TIMEOUT_SECONDS": _int("OUTBOX_SEND_TIMEOUT_SECONDS", 15),
        "SLACK_CHANNEL_INTERVAL_MS": _int("SLACK_CHANNEL_INTERVAL_MS", 1100),
        "WORKER_POLL_SECONDS": float(os.environ.get("WORKER_POLL_SECONDS", "1.0")),
        # Help desk (tier calendars, SLA targets and Slack channels are edited by admins in
        # the portal; these are the settings of the deployment).
        "HELPDESK_REOPEN_DAYS": _int("HELPDESK_REOPEN_DAYS", 14),
        "HELPDESK_ATTACHMENT_MAX_BYTES": _int("HELPDESK_ATTACHMENT_MAX_BYTES", 5 * 1024 * 1024),
        "HELPDESK_ATTACHMENT_DIR": os.environ.get("HELPDESK_ATTACHMENT_DIR")
        or str(instance_path / "helpdesk-attachments"),
        # Personal data (portal/privacy). Exports are files under PRIVACY_EXPORT_DIR (empty:
        # instance/privacy-exports) behind a signed link that works this many hours.
        "PRIVACY_EXPORT_DIR": os.environ.get("PRIVACY_EXPORT_DIR", ""),
        "PRIVACY_EXPORT_LINK_HOURS": _int("PRIVACY_EXPORT_LINK_HOURS", 72),
        # The retention schedule the worker runs, in days (0: keep for good): cohort attributes
        # and free-text answers of applicants never admitted, after their programme closed;
        # files of closed tickets; bodies of delivered messages; audit-log entries.
        "PRIVACY_RETENTION_APPLICANT_DAYS": _int("PRIVACY_RETENTION_APPLICANT_DAYS", 180),
        "PRIVACY_RETENTION_ATTACHMENT_DAYS": _int("PRIVACY_RETENTION_ATTACHMENT_DAYS", 365),
        "PRIVACY_RETENTION_OUTBOX_BODY_DAYS": _int("PRIVACY_RETENTION_OUTBOX_BODY_DAYS", 30),
        "PRIVACY_RETENTION_AUDIT_DAYS": _int("PRIVACY_RETENTION_AUDIT_DAYS", 730),
    }
