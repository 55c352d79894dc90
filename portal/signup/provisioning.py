"""Access for admitted delegates: their GitHub team membership (REST calls sent by the outbox),
its status for staff, and the delegate lists the platform's identity system imports."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from flask import current_app
from sqlalchemy import Select, select
from sqlalchemy.sql.elements import ColumnElement

from portal.audit import AuditAction, record_audit
from portal.core.csv_files import csv_text
from portal.core.db import transaction, utcnow
from portal.extensions import db
from portal.outbox import enqueue
from portal.outbox.models import MessageState, OutboxMessage
from portal.signup.models import Application, ApplicationState, GitHubState, Programme
from portal.signup.seats import lock_programme

# A membership call that failed only because GitHub stayed unreachable through every retry of
# the outbox is tried again this long after it gave up.
RETRY_EXHAUSTED_AFTER = timedelta(hours=6)


def github_team() -> tuple[str, str] | None:
    """(organization, team slug) when team provisioning is configured."""
    config = current_app.config
    if config["GITHUB_TOKEN"] and config["GITHUB_ORG"] and config["GITHUB_TEAM"]:
        return str(config["GITHUB_ORG"]), str(config["GITHUB_TEAM"])
    return None


def _membership_call(application: Application, method: str) -> None:
    team = github_team()
    assert team is not None
    org, slug = team
    previous = application.github_message
    message = enqueue(
        "github",
        "team_membership",
        {
            "method": method,
            "path": f"/orgs/{quote(org)}/teams/{quote(slug)}/memberships/"
            f"{quote(application.github_username)}",
        },
        # An invitation and a removal for the same person must reach GitHub in order.
        depends_on=previous
        if previous is not None and previous.state in (MessageState.PENDING, MessageState.SENDING)
        else None,
    )
    application.github_message = message
    application.github_state = GitHubState.QUEUED if method == "PUT" else GitHubState.REMOVING
    application.github_error = None
    application.github_updated_at = utcnow()


def queue_invitation(application: Application) -> None:
    """Invite an admitted delegate to the team (in the caller's transaction)."""
    if github_team() is not None:
        _membership_call(application, "PUT")


def queue_removal(application: Application) -> None:
    """Take a departing delegate off the team. GitHub answers 404 for someone who never joined,
    which the outbox counts as done, so the call is made whenever an invitation was queued."""
    if github_team() is None or application.github_state in (
        GitHubState.NONE,
        GitHubState.REMOVING,
        GitHubState.REMOVED,
    ):
        return
    _membership_call(application, "DELETE")


def record_delivery(message: OutboxMessage) -> None:
    """The outbox's word on a membership call, in the transaction that records it: the
    delegate's team status follows at once. A call that a later one has replaced changes
    nothing; the row lock keeps a concurrent new call from being overwritten."""
    application = db.session.scalar(
        select(Application)
        .where(Application.github_message_id == message.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if application is None:
        return
    if message.state == MessageState.SENT:
        if application.github_state == GitHubState.REMOVING:
            application.github_state = GitHubState.REMOVED
        else:
            application.github_state = (
                GitHubState.ACTIVE if message.remote_id == "active" else GitHubState.INVITED
            )
        application.github_error = None
        application.github_updated_at = utcnow()
    elif message.state == MessageState.DEAD:
        application.github_state = GitHubState.FAILED
        application.github_error = message.last_error
        application.github_updated_at = utcnow()
    elif message.last_error:
        application.github_error = f"Retrying: {message.last_error}"


def retry_calls_that_gave_up(programme: Programme, now: datetime) -> int:
    """Send again the failed calls of a programme that failed only because GitHub stayed
    unreachable through every retry of the outbox, RETRY_EXHAUSTED_AFTER after they gave up
    (a refusal waits for staff). Runs in the caller's unit of work, programme locked."""
    if github_team() is None:
        return 0
    rows = db.session.scalars(
        select(Application)
        .join(Application.github_message)
        .where(
            Application.programme_id == programme.id,
            Application.github_state == GitHubState.FAILED,
            OutboxMessage.attempts >= current_app.config["OUTBOX_MAX_ATTEMPTS"],
            Application.github_updated_at <= now - RETRY_EXHAUSTED_AFTER,
        )
    ).all()
    for application in rows:
        _retry(application)
    return len(rows)


def _retry(application: Application) -> None:
    admitted = application.state == ApplicationState.ADMITTED
    _membership_call(application, "PUT" if admitted else "DELETE")


def _resend(programme_id: int, *conditions: ColumnElement[bool]) -> int:
    """Send the membership call each matching delegate of a programme needs, now."""
    if github_team() is None:
        return 0
    with transaction() as session:
        lock_programme(programme_id)
        rows = session.scalars(
            select(Application).where(Application.programme_id == programme_id, *conditions)
        ).all()
        for application in rows:
            _retry(application)
        return len(rows)


def retry_failed(programme_id: int) -> int:
    """Staff: send every failed membership call of a programme again now."""
    return _resend(programme_id, Application.github_state == GitHubState.FAILED)


def invite_missing(programme_id: int) -> int:
    """Staff: invite admitted delegates who were admitted before GitHub was configured."""
    return _resend(
        programme_id,
        Application.state == ApplicationState.ADMITTED,
        Application.github_state.in_([GitHubState.NONE, GitHubState.REMOVED]),
    )


def memberships(programme_id: int) -> Select[Application]:
    """The provisioning page's rows: admitted delegates and everyone with a team status."""
    return (
        select(Application)
        .where(
            Application.programme_id == programme_id,
            (Application.state == ApplicationState.ADMITTED)
            | (Application.github_state != GitHubState.NONE),
        )
        .order_by(Application.github_state.desc(), Application.admitted_at.desc())
    )


# --- exports for the identity system --------------------------------------------------------

EXPORT_FIELDS = ["github_username", "email", "full_name", "wave", "admitted_on", "plus_one"]


def delegate_rows(programme_id: int) -> list[dict[str, Any]]:
    """Every admitted delegate of a programme, in order of admission."""
    applications = db.session.scalars(
        select(Application)
        .where(
            Application.programme_id == programme_id,
            Application.state == ApplicationState.ADMITTED,
        )
        .order_by(Application.admitted_at, Application.id)
    ).all()
    return [
        {
            "github_username": a.github_username,
            "email": a.email,
            "full_name": a.full_name,
            "wave": a.wave.name,
            "admitted_on": a.admitted_at.date().isoformat() if a.admitted_at else "",
            "plus_one": a.is_plus_one,
        }
        for a in applications
    ]


def export_delegates(programme_id: int, file_format: str) -> list[dict[str, Any]]:
    """The delegate list for a download (`file_format` says which: csv, json or api); handing
    out personal data in bulk is recorded in the audit log."""
    with transaction():
        rows = delegate_rows(programme_id)
        record_audit(
            AuditAction.DELEGATES_EXPORTED,
            target=f"programme:{programme_id}",
            after={"format": file_format, "delegates": len(rows)},
        )
        return rows


def delegates_csv(rows: list[dict[str, Any]]) -> str:
    return csv_text(EXPORT_FIELDS, rows)
