"""Erasure on request: one service removes a person from the portal. Their own records keep
what others rely on (seats, counts, the tickets' record) under a stable pseudonym, and every
copy of their name, address, GitHub username and texts elsewhere is replaced."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import delete, false, func, or_, select, true

from portal.audit import AuditAction, record_audit
from portal.auth.models import ApiToken, User
from portal.auth.services import close_all_sessions, normalise_email
from portal.core.db import transaction, utcnow
from portal.core.errors import UserError
from portal.core.roles import Role
from portal.extensions import db
from portal.helpdesk import attachments, search
from portal.helpdesk import slack as slack_messages
from portal.helpdesk.models import Ticket, TicketAttachment, TicketMessage, TicketSlackPost
from portal.outbox.models import MessageState, OutboxMessage
from portal.privacy.export import export_dir
from portal.privacy.messages import remove_body
from portal.privacy.models import Erasure, PersonalDataExport
from portal.privacy.records import PersonRecords, emails_to, records_of
from portal.privacy.scrub import Scrubber, mentioning, scrub_database
from portal.signup import provisioning
from portal.signup.models import Application, ApplicationState, GitHubState
from portal.signup.seats import lock_programme
from portal.signup.transitions import APPLICANT

ERASED_NAME = "Erased user"
REDACTED = "[Redacted on erasure]"
ERASED_DOMAIN = "erased.invalid"
# The person's texts shorter than this are removed from their own records only: elsewhere a
# short phrase ("Thank you!") may as well be someone else's words.
MIN_SCRUBBED_TEXT = 12
# Other people's own names and addresses, which may equal the erased person's: the person's
# own rows in these columns are rewritten field by field instead.
IDENTITY_COLUMNS = (
    "user_account.email",
    "user_account.full_name",
    "user_account.github_username",
    "signup_application.email",
    "signup_application.full_name",
    "signup_application.github_username",
    "signup_application.github_key",
)
HEADLINE = "The requester's personal data was erased"
# Marks a GitHub call that still needs the real username; the delivery hook replaces it once
# the call is done.
PENDING_USERNAME = "erase_username_after_delivery"


class ErasureRefused(UserError):
    """An erasure that cannot be done, with the reason for the admin."""


def pseudonym_for(email: str) -> str:
    """The stable pseudonym of an address: the same person always gets the same one, and it
    cannot be turned back into the address without the portal's secret key."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    message = b"erasure:" + normalise_email(email).encode()
    return "erased-" + hmac.new(key, message, hashlib.sha256).hexdigest()[:16]


def _pseudonymous_email(pseudonym: str, suffix: str = "") -> str:
    return f"{pseudonym}{suffix}@{ERASED_DOMAIN}"


def _github_pseudonym(pseudonym: str, suffix: str = "") -> str:
    """GitHub logins have no underscore, so this names no GitHub account: a call sent with it
    by mistake reaches no one."""
    return pseudonym.replace("-", "_") + suffix


@dataclass(frozen=True)
class ErasurePlan:
    """What erasing one address would touch, for the confirmation page."""

    records: PersonRecords
    pseudonym: str
    messages: int
    attachments: int
    emails_waiting: int
    emails_sent: int
    github_removals: int
    staff_messages: int
    earlier: list[Erasure]


def plan_erasure(email: str) -> ErasurePlan:
    """What `erase_person` would do for this address, changing nothing."""
    records = records_of(email)
    account = records.account
    emails = db.session.scalars(emails_to(records.addresses)).all()
    pseudonym = pseudonym_for(records.email)
    return ErasurePlan(
        records=records,
        pseudonym=pseudonym,
        messages=_count(
            select(func.count()).select_from(TicketMessage).where(*_own_messages(account))
        ),
        attachments=len(_own_attachments(records)),
        emails_waiting=sum(1 for m in emails if m.state != MessageState.SENT),
        emails_sent=sum(1 for m in emails if m.state == MessageState.SENT),
        github_removals=sum(1 for a in records.applications if _on_github_team(a)),
        staff_messages=_count(
            select(func.count())
            .select_from(TicketMessage)
            .where(TicketMessage.author_id == account.id, TicketMessage.from_staff.is_(True))
        )
        if account is not None
        else 0,
        earlier=list(
            db.session.scalars(
                select(Erasure).where(Erasure.pseudonym == pseudonym).order_by(Erasure.id)
            )
        ),
    )


def _count(query: Any) -> int:
    return int(db.session.scalar(query) or 0)


def _own_messages(account: User | None) -> list[Any]:
    """The person's own words on tickets (as a requester; what they wrote as staff is the
    help desk's record and stays, under their pseudonym)."""
    if account is None:
        return [false()]
    return [TicketMessage.author_id == account.id, TicketMessage.from_staff.is_(False)]


def _own_attachments(records: PersonRecords) -> list[TicketAttachment]:
    """Files the person attached to their own tickets."""
    if records.account is None or not records.tickets:
        return []
    return list(
        db.session.scalars(
            select(TicketAttachment).where(
                TicketAttachment.ticket_id.in_([t.id for t in records.tickets]),
                TicketAttachment.uploaded_by_id == records.account.id,
            )
        )
    )


def _on_github_team(application: Application) -> bool:
    return application.github_state not in (GitHubState.NONE, GitHubState.REMOVED)


def _refuse(records: PersonRecords, email: str, confirmation: str) -> None:
    if normalise_email(confirmation) != records.email:
        raise ErasureRefused("Type the address exactly as shown to confirm.", field="confirmation")
    if records.is_empty:
        raise ErasureRefused(f"The portal holds nothing under {email}.", field="email")
    if records.account is not None and records.account.role == Role.ADMIN:
        raise ErasureRefused(
            "An admin account cannot be erased: make it a staff account first (another admin "
            "must erase it)."
        )


def erase_person(email: str, *, confirmation: str, actor: User) -> Erasure:
    """Erase the person with this address, once `confirmation` repeats it.

    Their account is closed (sessions, API tokens and sign-in methods gone) and renamed to the
    pseudonym; their applications keep their state and cohort attributes (counts stay as they
    were) without name, address, institution, GitHub username or answers; their tickets keep
    staff's replies but not their words or files; emails waiting for them are cancelled and
    those sent keep only their delivery record; they leave the GitHub team; and every copy of
    their name, address, username and texts elsewhere is replaced. Nothing of anyone else's
    is deleted.
    """
    email = normalise_email(email)
    files: list[Path] = []
    with transaction() as session:
        records = records_of(email)
        _refuse(records, email, confirmation)
        # Sign-up changes of these programmes wait until the erasure is done; read again
        # what they may have changed before the locks were taken.
        for programme_id in sorted({a.programme_id for a in records.applications}):
            lock_programme(programme_id)
        session.expire_all()
        records = records_of(email)
        pseudonym = pseudonym_for(email)
        scrubber = Scrubber(_replacements(records, pseudonym))
        summary: Counter[str] = Counter()
        now = utcnow()

        calls_in_flight = _leave_github_team(records, pseudonym, summary)
        files += _emails(records, pseudonym, scrubber, summary)
        _empty_slack_posts(records)
        if records.account is not None:
            _close_account(records.account, pseudonym)
            summary["account"] = 1
        for application in records.applications:
            _erase_application(application, pseudonym)
        summary["applications"] = len(records.applications)
        files += _erase_tickets(records, summary)
        files += _delete_exports(records, summary)
        session.flush()
        for ticket in records.tickets:
            # The channels' living messages now show the ticket without the person.
            slack_messages.update_living_messages(ticket, HEADLINE, now)

        changed = scrub_database(
            scrubber,
            skip_columns=IDENTITY_COLUMNS,
            skip_rows={"outbox_message": calls_in_flight},
        )
        summary["other_records_rewritten"] = sum(len(keys) for keys in changed.values())
        _reindex_tickets(records, changed)

        erasure = Erasure(
            pseudonym=pseudonym,
            erased_at=now,
            erased_by_id=actor.id,
            summary=dict(sorted(summary.items())),
        )
        session.add(erasure)
        session.flush()
        target = f"user:{records.account.id}" if records.account else f"erasure:{erasure.id}"
        record_audit(
            AuditAction.ERASED, target=target, after={"pseudonym": pseudonym, **erasure.summary}
        )
    for path in files:
        path.unlink(missing_ok=True)
    return erasure


def _replacements(records: PersonRecords, pseudonym: str) -> dict[str, str]:
    """What each of the person's identifiers and texts becomes wherever it was copied."""
    account = records.account
    values: dict[str, str] = {}
    for address in records.addresses:
        values[address] = _pseudonymous_email(pseudonym)
    names = {a.full_name for a in records.applications}
    usernames = {a.github_username for a in records.applications}
    if account is not None:
        names.add(account.full_name)
        usernames.add(account.github_username or "")
    for name in names:
        values.setdefault(name, ERASED_NAME)
    for username in usernames:
        if username:
            values.setdefault(username, _github_pseudonym(pseudonym))
    for text in _texts(records):
        if len(text.strip()) >= MIN_SCRUBBED_TEXT:
            values.setdefault(text, REDACTED)
    return values


def _texts(records: PersonRecords) -> list[str]:
    """Everything the person wrote in their own words."""
    texts: list[str] = []
    for application in records.applications:
        texts += [application.contribution, application.data_rights_basis]
        texts += [event.reason for event in application.events if _their_reason(event)]
    for ticket in records.tickets:
        texts += [ticket.subject, ticket.description, ticket.rating_comment or ""]
    if records.account is not None:
        texts += db.session.scalars(
            select(TicketMessage.body).where(*_own_messages(records.account))
        ).all()
    return [text for text in texts if text]


def _their_reason(event: Any) -> bool:
    """The reason an applicant typed when withdrawing (every other reason is the portal's or
    staff's words)."""
    return event.actor_label == APPLICANT.label and event.to_state == ApplicationState.WITHDRAWN


def _leave_github_team(records: PersonRecords, pseudonym: str, summary: Counter[str]) -> set[int]:
    """Take the person off the GitHub team through provisioning. An invitation not sent yet is
    cancelled; calls that are on their way keep the username until they are done (the delivery
    hook then replaces it). Returns those calls' outbox ids."""
    in_flight: set[int] = set()
    for application in records.applications:
        call = application.github_message
        if (
            call is not None
            and call.state == MessageState.PENDING
            and call.payload.get("method") == "PUT"
        ):
            application.github_message = None
            db.session.delete(call)
            db.session.flush()
        elif call is not None and call.state in (MessageState.PENDING, MessageState.SENDING):
            in_flight.add(_hold_username(call, pseudonym))
        provisioning.queue_removal(application)
        removal = application.github_message
        if removal is not None and removal is not call and removal.state == MessageState.PENDING:
            in_flight.add(_hold_username(removal, pseudonym))
            summary["github_removals"] += 1
    return in_flight


def _hold_username(call: OutboxMessage, pseudonym: str) -> int:
    call.payload = {**call.payload, PENDING_USERNAME: _github_pseudonym(pseudonym)}
    return call.id


def replace_username_after_delivery(message: OutboxMessage) -> None:
    """The delivery hook for GitHub calls: once a call made for an erased person is done (sent
    or given up), its path and error name the pseudonym instead of the username."""
    replacement = (message.payload or {}).get(PENDING_USERNAME)
    if not replacement or message.state not in (MessageState.SENT, MessageState.DEAD):
        return
    payload = {key: value for key, value in message.payload.items() if key != PENDING_USERNAME}
    head, _, username = str(payload.get("path", "")).rpartition("/")
    payload["path"] = f"{head}/{replacement}"
    message.payload = payload
    scrubber = Scrubber({username: replacement})
    if message.last_error:
        message.last_error = scrubber.text(message.last_error)
    for application in db.session.scalars(
        select(Application).where(Application.github_message_id == message.id)
    ):
        if application.github_error:
            application.github_error = scrubber.text(application.github_error)


def _emails(
    records: PersonRecords, pseudonym: str, scrubber: Scrubber, summary: Counter[str]
) -> list[Path]:
    """Cancel the emails still waiting for the person; keep only the delivery record of those
    sent to them and of anyone else's that mentions them. Returns mailbox files to delete."""
    files: list[Path] = []
    now = utcnow()
    own_ids = set()
    for message in db.session.scalars(emails_to(records.addresses)).all():
        own_ids.add(message.id)
        if message.state != MessageState.SENT:
            db.session.delete(message)
            summary["emails_cancelled"] += 1
            continue
        mail_file = remove_body(message, now)
        files += [mail_file] if mail_file else []
        message.payload = {**message.payload, "to": _pseudonymous_email(pseudonym)}
        summary["emails_emptied"] += 1
    if not scrubber:
        return files
    others = db.session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.channel == "email",
            OutboxMessage.id.not_in(own_ids) if own_ids else true(),
            mentioning(scrubber, OutboxMessage.payload),
        )
    ).all()
    for message in others:
        payload = message.payload or {}
        if scrubber.mentions(payload.get("text")) or scrubber.mentions(payload.get("html")):
            mail_file = remove_body(message, now)
            files += [mail_file] if mail_file else []
            summary["emails_mentioning_emptied"] += 1
    return files


def _empty_slack_posts(records: PersonRecords) -> None:
    """Empty every Slack message about the person's tickets (posted or waiting): the root
    posts, their edits and their thread replies."""
    if not records.tickets:
        return
    chain = set(
        db.session.scalars(
            select(TicketSlackPost.root_message_id).where(
                TicketSlackPost.ticket_id.in_([t.id for t in records.tickets])
            )
        )
    )
    frontier = set(chain)
    while frontier:
        frontier = (
            set(
                db.session.scalars(
                    select(OutboxMessage.id).where(OutboxMessage.depends_on_id.in_(frontier))
                )
            )
            - chain
        )
        chain |= frontier
    now = utcnow()
    for message in db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(chain))):
        remove_body(message, now)


def _close_account(account: User, pseudonym: str) -> None:
    close_all_sessions(account)
    db.session.execute(delete(ApiToken).where(ApiToken.user_id == account.id))
    account.email = _unique_email(
        pseudonym, User.email, User.id != account.id, record_id=str(account.id)
    )
    account.full_name = ERASED_NAME
    account.password_hash = None
    account.github_id = None
    account.github_username = None
    account.slack_user_id = None
    account.active = False


def _unique_email(pseudonym: str, column: Any, *others: Any, record_id: str) -> str:
    """The pseudonymous address, or (when an earlier erasure of the same person already gave
    it to another record) the same with this record's id."""
    candidate = _pseudonymous_email(pseudonym)
    if db.session.scalar(select(func.count()).where(column == candidate, *others)):
        return _pseudonymous_email(pseudonym, f".{record_id}")
    return candidate


def _erase_application(application: Application, pseudonym: str) -> None:
    """Keep the application's state and cohort attributes (counts and the cohort's record
    need no identity); remove who it was and what they wrote."""
    same_programme = Application.programme_id == application.programme_id
    others = (same_programme, Application.id != application.id)
    application.email = _unique_email(
        pseudonym, Application.email, *others, record_id=str(application.id)
    )
    key = _github_pseudonym(pseudonym)
    if db.session.scalar(select(func.count()).where(Application.github_key == key, *others)):
        key = _github_pseudonym(pseudonym, f"_{application.id}")
    application.github_key = key
    application.github_username = ""
    application.github_verified = False
    application.github_error = None
    application.full_name = ERASED_NAME
    application.institution = ""
    application.data_rights_basis = ""
    application.contribution = ""
    for note in application.notes:
        note.body = REDACTED
    for event in application.events:
        if _their_reason(event):
            event.reason = REDACTED


def _erase_tickets(records: PersonRecords, summary: Counter[str]) -> list[Path]:
    """Keep the person's tickets for the record (staff's replies, the history, the SLA
    figures) without their words or their files. Returns the files to delete."""
    if records.account is None:
        return []
    for ticket in records.tickets:
        ticket.subject = REDACTED
        ticket.description = REDACTED
        ticket.rating_comment = None
    own = db.session.scalars(select(TicketMessage).where(*_own_messages(records.account))).all()
    for message in own:
        message.body = REDACTED
    files = _own_attachments(records)
    if files:
        db.session.execute(
            delete(TicketAttachment).where(TicketAttachment.id.in_([f.id for f in files]))
        )
    summary["tickets"] = len(records.tickets)
    summary["messages_redacted"] = len(own)
    summary["files_deleted"] = len(files)
    return [attachments.path_of(f.stored_name) for f in files]


def _delete_exports(records: PersonRecords, summary: Counter[str]) -> list[Path]:
    account_id = records.account.id if records.account is not None else None
    exports = db.session.scalars(
        select(PersonalDataExport).where(
            or_(
                PersonalDataExport.email.in_(sorted(records.addresses)),
                PersonalDataExport.user_id == account_id if account_id else false(),
            )
        )
    ).all()
    for export in exports:
        db.session.delete(export)
    summary["exports_deleted"] = len(exports)
    return [export_dir() / e.stored_name for e in exports if e.stored_name]


def _reindex_tickets(records: PersonRecords, changed: dict[str, list[tuple[Any, ...]]]) -> None:
    """Rebuild the search document of every ticket whose text changed (PostgreSQL keeps one;
    it must not keep the erased words)."""
    ticket_ids = {t.id for t in records.tickets}
    ticket_ids |= {key[0] for key in changed.get("helpdesk_ticket", [])}
    message_ids = [key[0] for key in changed.get("helpdesk_message", [])]
    if message_ids:
        ticket_ids |= set(
            db.session.scalars(
                select(TicketMessage.ticket_id).where(TicketMessage.id.in_(message_ids))
            )
        )
    for ticket_id in sorted(ticket_ids):
        ticket = db.session.get(Ticket, ticket_id)
        if ticket is None:
            continue
        ticket.search_vector = None
        search.index_new_ticket(ticket)
        for message in ticket.messages:
            search.index_message(ticket, message.body, internal=message.internal)
