"""Self-service export: a person asks for everything the portal holds about them, the worker
builds one JSON document and emails a signed, expiring link to it, and the file is deleted
when the link expires."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import delete, select

from portal.audit import AuditAction, record_audit
from portal.auth.models import ApiToken, User, UserSession
from portal.auth.services import normalise_email
from portal.core.db import transaction, utcnow
from portal.core.templating import format_datetime
from portal.core.tokens import InvalidToken, make_token, read_token
from portal.core.urls import external_url
from portal.extensions import db
from portal.helpdesk.models import Ticket
from portal.outbox import send_email
from portal.privacy.models import ExportState, PersonalDataExport
from portal.privacy.records import emails_to, records_of
from portal.signup import links
from portal.signup.models import Application, ApplicationEvent
from portal.signup.transitions import APPLICANT, SPONSOR, SYSTEM

PURPOSE = "privacy-export"
# One export per person in this time: asking again sends no second email.
REQUEST_INTERVAL = timedelta(hours=1)
# Who acted on an application, as the export names them: the person, their sponsor and the
# portal by role; staff only as staff (their identity is theirs, not the applicant's).
NAMED_ACTORS = {APPLICANT.label, SPONSOR.label, SYSTEM.label}
ABOUT = (
    "Everything the DP0 community portal holds about the person with this email address: "
    "their account, applications (with their history, offers and the programme staff's notes "
    "on them), help-desk tickets with the public conversation and the list of files, API "
    "token names, signed-in browsers and the emails the portal sent them. Internal help-desk "
    "notes and the identities of staff are not included; ask the operators for them."
)


def export_dir() -> Path:
    """Where built exports wait for their download (PRIVACY_EXPORT_DIR, or the instance
    folder's privacy-exports)."""
    configured = current_app.config["PRIVACY_EXPORT_DIR"]
    folder = Path(configured) if configured else Path(current_app.instance_path) / "privacy-exports"
    # Absolute: send_file would read a relative path from the package, not the working folder.
    return folder.resolve()


def link_lifetime() -> timedelta:
    return timedelta(hours=current_app.config["PRIVACY_EXPORT_LINK_HOURS"])


# --- asking --------------------------------------------------------------------------------------


def request_export(email: str, account: User | None, *, via: str) -> PersonalDataExport:
    """Queue an export of what the portal holds under `email` (proven to be the requester's
    by their signed-in account or their emailed status link). Asking again within the hour
    is the same request: the person gets one email."""
    email = normalise_email(email)
    with transaction() as session:
        now = utcnow()
        recent = session.scalar(
            select(PersonalDataExport)
            .where(
                PersonalDataExport.email == email,
                PersonalDataExport.requested_at > now - REQUEST_INTERVAL,
            )
            .order_by(PersonalDataExport.requested_at.desc())
            .limit(1)
        )
        if recent is not None:
            return recent
        export = PersonalDataExport(
            email=email,
            user_id=account.id if account is not None else None,
            state=ExportState.REQUESTED,
            requested_at=now,
        )
        session.add(export)
        session.flush()
        record_audit(
            AuditAction.PERSONAL_DATA_EXPORTED,
            target=f"export:{export.id}",
            after={"step": "requested", "via": via},
        )
        return export


def request_own_export(account: User) -> PersonalDataExport:
    """A signed-in person asks for their data."""
    return request_export(account.email, account, via="account page")


def request_export_by_status_link(token: str) -> PersonalDataExport:
    """An applicant asks from their status page (no account needed); InvalidToken when the
    link is not good."""
    application = links.application_for_status_token(token)
    return request_export(application.email, None, via="status link")


def export_for_operator(email: str) -> dict[str, Any]:
    """The document at once, for an operator answering a request that came another way (the
    command line); recorded in the audit log like every export."""
    with transaction():
        account = records_of(email).account
        document = personal_data(email)
        record_audit(
            AuditAction.PERSONAL_DATA_EXPORTED,
            target=f"user:{account.id}" if account is not None else "export:command-line",
            after={"step": "built", "via": "command line"},
        )
        return document


# --- building (the worker) -------------------------------------------------------------------


def run_export_jobs() -> None:
    """The worker's job: build the exports asked for, delete those whose link expired."""
    build_requested_exports()
    remove_expired_exports()


def build_requested_exports(limit: int = 10) -> int:
    """Build waiting exports, oldest first; returns how many were built."""
    waiting = db.session.scalars(
        select(PersonalDataExport.id)
        .where(PersonalDataExport.state == ExportState.REQUESTED)
        .order_by(PersonalDataExport.requested_at)
        .limit(limit)
    ).all()
    return sum(_build(export_id) for export_id in waiting)


def _build(export_id: int) -> bool:
    directory = export_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = secrets.token_hex(16) + ".json"
    path = directory / name
    try:
        with transaction() as session:
            export = session.get(PersonalDataExport, export_id, with_for_update=True)
            if export is None or export.state != ExportState.REQUESTED:
                return False
            content = json.dumps(personal_data(export.email), indent=2, ensure_ascii=False).encode()
            path.write_bytes(content)
            path.chmod(0o600)
            now = utcnow()
            export.state = ExportState.READY
            export.built_at = now
            export.expires_at = now + link_lifetime()
            export.stored_name = name
            export.size = len(content)
            send_email(
                export.email,
                "Your personal data from the DP0 portal",
                "privacy_export_ready",
                link=download_link(export),
                expires=format_datetime(export.expires_at),
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return True


def remove_expired_exports() -> int:
    """Delete the files and rows of exports whose link has expired."""
    with transaction() as session:
        expired = session.scalars(
            select(PersonalDataExport).where(
                PersonalDataExport.state == ExportState.READY,
                PersonalDataExport.expires_at <= utcnow(),
            )
        ).all()
        names = [export.stored_name for export in expired if export.stored_name]
        session.execute(
            delete(PersonalDataExport).where(
                PersonalDataExport.id.in_([export.id for export in expired])
            )
        )
    remove_files(names)
    return len(names)


def remove_files(stored_names: list[str]) -> None:
    """Delete export files (after the rows that named them are gone)."""
    for stored_name in stored_names:
        (export_dir() / stored_name).unlink(missing_ok=True)


# --- the download ---------------------------------------------------------------------------


def _file_digest(stored_name: str) -> str:
    return hashlib.sha256(stored_name.encode()).hexdigest()[:16]


def download_link(export: PersonalDataExport) -> str:
    assert export.stored_name is not None
    token = make_token(PURPOSE, {"id": export.id, "f": _file_digest(export.stored_name)})
    return external_url("privacy.download", token=token)


def open_download(token: str) -> tuple[Path, str]:
    """The file a download link names and the name to save it under, if the link is genuine
    and current; InvalidToken otherwise. Each download is recorded in the audit log."""
    data = read_token(PURPOSE, token, max_age=int(link_lifetime().total_seconds()))
    with transaction() as session:
        export = session.get(PersonalDataExport, data.get("id"))
        if (
            export is None
            or export.state != ExportState.READY
            or export.stored_name is None
            or not hmac.compare_digest(_file_digest(export.stored_name), str(data.get("f")))
            or export.expires_at is None
            or export.expires_at <= utcnow()
        ):
            raise InvalidToken("This download link has expired. Ask for your data again.")
        path = export_dir() / export.stored_name
        if not path.is_file():
            raise InvalidToken("This download link has expired. Ask for your data again.")
        record_audit(
            AuditAction.PERSONAL_DATA_EXPORTED,
            target=f"export:{export.id}",
            after={"step": "downloaded"},
        )
        built = export.built_at or utcnow()
        return path, f"dp0-portal-personal-data-{built:%Y-%m-%d}.json"


# --- the document ----------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def personal_data(email: str) -> dict[str, Any]:
    """Everything the portal holds about the person with this address, as one JSON-ready
    document, and nothing about anyone else."""
    records = records_of(email)
    account = records.account
    return {
        "about": ABOUT,
        "email": records.email,
        "generated_at": _time(utcnow()),
        "portal": current_app.config["PORTAL_BASE_URL"],
        "account": _account(account) if account is not None else None,
        "signed_in_browsers": _sessions(account),
        "api_tokens": _tokens(account),
        "applications": [_application(a) for a in records.applications],
        "tickets": [_ticket(t, account) for t in records.tickets] if account else [],
        "emails": [
            {
                "to": message.payload.get("to"),
                "subject": message.payload.get("subject"),
                "text": message.payload.get("text"),
                "state": message.state.label,
                "queued_at": _time(message.created_at),
                "sent_at": _time(message.sent_at),
            }
            for message in db.session.scalars(emails_to(records.addresses))
        ],
    }


def _account(user: User) -> dict[str, Any]:
    return {
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role.label,
        "support_tier": user.tier.label if user.tier else None,
        "github_username": user.github_username,
        "slack_member_id": user.slack_user_id,
        "active": user.active,
        "email_verified_at": _time(user.email_verified_at),
        "created_at": _time(user.created_at),
        "last_sign_in_at": _time(user.last_login_at),
    }


def _sessions(user: User | None) -> list[dict[str, Any]]:
    if user is None:
        return []
    rows = db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.created_at)
    )
    return [{"signed_in_at": _time(row.created_at)} for row in rows]


def _tokens(user: User | None) -> list[dict[str, Any]]:
    """The account's API tokens by name: the secret is never stored, so never exported."""
    if user is None:
        return []
    rows = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at)
    )
    return [
        {
            "name": token.name,
            "created_at": _time(token.created_at),
            "last_used_at": _time(token.last_used_at),
            "revoked_at": _time(token.revoked_at),
        }
        for token in rows
    ]


def _event_actor(event: ApplicationEvent) -> str:
    return event.actor_label if event.actor_label in NAMED_ACTORS else "programme staff"


def _application(application: Application) -> dict[str, Any]:
    return {
        "programme": application.programme.name,
        "wave": application.wave.name,
        "state": application.state.label,
        "email": application.email,
        "full_name": application.full_name,
        "institution": application.institution,
        "institution_type": application.institution_type,
        "country": application.country,
        "career_stage": application.career_stage,
        "science_collaborations": application.collaboration_codes,
        "data_rights": application.data_rights.label,
        "data_rights_basis": application.data_rights_basis,
        "github_username": application.github_username,
        "github_verified": application.github_verified,
        "github_team": application.github_state.label,
        "experience": {
            "python": application.experience_python,
            "jupyter": application.experience_jupyter,
            "sql": application.experience_sql,
        },
        "contribution": application.contribution,
        "preferred_language": application.preferred_language,
        "plus_one": application.is_plus_one,
        "waitlist_priority": application.priority,
        "guidelines_accepted_at": _time(application.guidelines_accepted_at),
        "privacy_notice_version": application.privacy_notice_version,
        "privacy_notice_accepted_at": _time(application.privacy_accepted_at),
        "submitted_at": _time(application.created_at),
        "confirmed_at": _time(application.verified_at),
        "decided_at": _time(application.decided_at),
        "admitted_at": _time(application.admitted_at),
        "history": [
            {
                "at": _time(event.created_at),
                "what": event.kind.label,
                "from": event.from_state.label if event.from_state else None,
                "to": event.to_state.label,
                "reason": event.reason,
                "by": _event_actor(event),
            }
            for event in application.events
        ],
        "offers": [
            {
                "made_at": _time(offer.created_at),
                "expires_at": _time(offer.expires_at),
                "answered_at": _time(offer.resolved_at),
                "outcome": offer.outcome.label if offer.outcome else None,
            }
            for offer in application.offers
        ],
        # Staff's notes are personal data about the applicant (their assessment), so they
        # are theirs to see; who wrote each note is the staff member's, and stays out.
        "staff_notes": [
            {"at": _time(note.created_at), "text": note.body} for note in application.notes
        ],
    }


def _ticket(ticket: Ticket, requester: User) -> dict[str, Any]:
    return {
        "number": ticket.id,
        "subject": ticket.subject,
        "description": ticket.description,
        "category": ticket.category.label,
        "priority": ticket.priority.label,
        "state": ticket.state.requester_label,
        "created_at": _time(ticket.created_at),
        "resolved_at": _time(ticket.resolved_at),
        "closed_at": _time(ticket.closed_at),
        "rating": ticket.rating,
        "rating_comment": ticket.rating_comment,
        "messages": [
            {
                "at": _time(message.created_at),
                "from": "you" if message.author_id == requester.id else "help desk",
                "text": message.body,
            }
            for message in ticket.public_messages()
        ],
        "files": [
            {
                "name": attachment.filename,
                "type": attachment.content_type,
                "bytes": attachment.size,
                "added_at": _time(attachment.created_at),
                "added_by": "you" if attachment.uploaded_by_id == requester.id else "help desk",
            }
            for attachment in ticket.attachments
            if not attachment.internal
        ],
        "history": [
            {"at": _time(event.created_at), "what": event.kind.label}
            for event in ticket.public_events()
        ],
    }
