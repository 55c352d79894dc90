"""The retention schedule: what the worker erases once its time has come (the answers of
applicants never admitted, files of closed tickets, the bodies of delivered messages, old
audit entries), listed for admins before it acts and run by the worker or the command line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import Select, delete, func, or_, select, update

from portal.audit import AuditAction, purge_audit_before, record_audit
from portal.audit.models import AuditEntry
from portal.core.db import transaction, utcnow
from portal.extensions import db
from portal.helpdesk import attachments
from portal.helpdesk.models import Ticket, TicketAttachment, TicketState
from portal.outbox.models import MessageState, OutboxMessage
from portal.privacy.messages import CHANNELS_WITH_BODIES, body_kept, remove_body
from portal.signup.models import SEAT_STATES, Application, CollaborationMembership, Wave

# The plan also says what comes due within this many days, so nothing is a surprise.
COMING_DAYS = 30
BATCH = 500
# What retention leaves of an application that was never admitted: who applied and what
# became of it, without the attributes that cohort selection balanced or their answers.
ERASED_ANSWERS: dict[str, Any] = {
    "institution": "",
    "institution_type": "",
    "country": "",
    "career_stage": "",
    "experience_python": "",
    "experience_jupyter": "",
    "experience_sql": "",
    "data_rights_basis": "",
    "contribution": "",
}


@dataclass(frozen=True)
class Rule:
    """One line of the schedule: what it erases, after how long (a setting), how to find the
    records due at a cutoff and how to erase a batch of them."""

    name: str
    label: str
    setting: str
    due: Callable[[datetime], Select[Any]]
    # (ids due, cutoff, now) -> (records erased, files to delete once committed)
    erase: Callable[[list[int], datetime, datetime], tuple[int, list[Path]]]

    def days(self) -> int:
        return int(current_app.config[self.setting])


@dataclass(frozen=True)
class Step:
    """A rule as it stands at one moment: how many records are due, and how many more come due
    within COMING_DAYS (what a run did, after a run)."""

    name: str
    label: str
    days: int
    cutoff: datetime | None
    due: int
    coming: int


@dataclass(frozen=True)
class RetentionPlan:
    at: datetime
    steps: list[Step]

    @property
    def total(self) -> int:
        return sum(step.due for step in self.steps)

    def lines(self, verb: str) -> list[str]:
        """The plan as text for the command line; `verb` says what happens to what is due."""
        lines = []
        for step in self.steps:
            if not step.days:
                lines.append(f"{step.label}: kept (retention off)")
                continue
            assert step.cutoff is not None
            lines.append(
                f"{step.label}, older than {step.days} days (before {step.cutoff:%Y-%m-%d}): "
                f"{step.due} {verb}, {step.coming} more in the next {COMING_DAYS} days"
            )
        return lines


# --- the rules -----------------------------------------------------------------------------


def _closed_programmes() -> Any:
    """Each programme whose every wave has an end, with when the last one ended."""
    return (
        select(Wave.programme_id, func.max(Wave.closes_at).label("closed_at"))
        .group_by(Wave.programme_id)
        .having(func.count(Wave.closes_at) == func.count(Wave.id))
        .subquery()
    )


def _applicants_due(cutoff: datetime) -> Select[Any]:
    """Applications never admitted, whose programme closed before `cutoff`, with answers left."""
    closed = _closed_programmes()
    answers = [getattr(Application, name) != "" for name in ERASED_ANSWERS]
    return (
        select(Application.id)
        .join(closed, closed.c.programme_id == Application.programme_id)
        .where(
            closed.c.closed_at <= cutoff,
            Application.admitted_at.is_(None),
            Application.state.not_in(SEAT_STATES),
            or_(*answers, Application.collaborations.any()),
        )
    )


def _erase_answers(ids: list[int], _cutoff: datetime, _now: datetime) -> tuple[int, list[Path]]:
    db.session.execute(
        delete(CollaborationMembership).where(CollaborationMembership.application_id.in_(ids))
    )
    db.session.execute(
        update(Application)
        .where(Application.id.in_(ids))
        .values(ERASED_ANSWERS)
        .execution_options(synchronize_session=False)
    )
    return len(ids), []


def _attachments_due(cutoff: datetime) -> Select[Any]:
    return (
        select(TicketAttachment.id)
        .join(Ticket, Ticket.id == TicketAttachment.ticket_id)
        .where(Ticket.state == TicketState.CLOSED, Ticket.closed_at <= cutoff)
    )


def _delete_attachments(
    ids: list[int], _cutoff: datetime, _now: datetime
) -> tuple[int, list[Path]]:
    names = db.session.scalars(
        select(TicketAttachment.stored_name).where(TicketAttachment.id.in_(ids))
    ).all()
    db.session.execute(delete(TicketAttachment).where(TicketAttachment.id.in_(ids)))
    return len(ids), [attachments.path_of(name) for name in names]


def _bodies_due(cutoff: datetime) -> Select[Any]:
    return select(OutboxMessage.id).where(
        OutboxMessage.state == MessageState.SENT,
        OutboxMessage.sent_at <= cutoff,
        OutboxMessage.channel.in_(CHANNELS_WITH_BODIES),
        body_kept(),
    )


def _remove_bodies(ids: list[int], _cutoff: datetime, now: datetime) -> tuple[int, list[Path]]:
    files = []
    for message in db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))):
        mail_file = remove_body(message, now)
        if mail_file is not None:
            files.append(mail_file)
    return len(ids), files


def _audit_due(cutoff: datetime) -> Select[Any]:
    return select(AuditEntry.id).where(AuditEntry.at < cutoff)


def _purge_audit(_ids: list[int], cutoff: datetime, _now: datetime) -> tuple[int, list[Path]]:
    return purge_audit_before(cutoff), []


RULES = [
    Rule(
        "applicants",
        "Cohort attributes and answers of applicants never admitted, after the programme closed",
        "PRIVACY_RETENTION_APPLICANT_DAYS",
        _applicants_due,
        _erase_answers,
    ),
    Rule(
        "attachments",
        "Files attached to closed tickets",
        "PRIVACY_RETENTION_ATTACHMENT_DAYS",
        _attachments_due,
        _delete_attachments,
    ),
    Rule(
        "message_bodies",
        "Text of delivered emails and Slack messages (their delivery record stays)",
        "PRIVACY_RETENTION_OUTBOX_BODY_DAYS",
        _bodies_due,
        _remove_bodies,
    ),
    Rule(
        "audit",
        "Audit-log entries",
        "PRIVACY_RETENTION_AUDIT_DAYS",
        _audit_due,
        _purge_audit,
    ),
]


# --- planning and running -------------------------------------------------------------------


def _count(query: Select[Any]) -> int:
    return int(db.session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def retention_plan(now: datetime | None = None) -> RetentionPlan:
    """What a run at `now` would erase, rule by rule, and what comes due soon after."""
    now = now or utcnow()
    steps = []
    for rule in RULES:
        days = rule.days()
        if days <= 0:
            steps.append(Step(rule.name, rule.label, 0, None, 0, 0))
            continue
        cutoff = now - timedelta(days=days)
        due = _count(rule.due(cutoff))
        soon = _count(rule.due(cutoff + timedelta(days=COMING_DAYS)))
        steps.append(Step(rule.name, rule.label, days, cutoff, due, soon - due))
    return RetentionPlan(now, steps)


def run_retention(now: datetime | None = None) -> RetentionPlan:
    """Erase what is due at `now`, in batches (each its own unit of work; files are deleted
    once their rows are gone); returns what was done. A run that erased anything is recorded
    in the audit log."""
    plan = retention_plan(now)
    done = []
    for rule, step in zip(RULES, plan.steps, strict=True):
        erased = 0
        while step.cutoff is not None:
            with transaction() as session:
                ids = list(session.scalars(rule.due(step.cutoff).limit(BATCH)))
                count, files = rule.erase(ids, step.cutoff, plan.at) if ids else (0, [])
            for path in files:
                path.unlink(missing_ok=True)
            erased += count
            if len(ids) < BATCH:
                break
        done.append(Step(step.name, step.label, step.days, step.cutoff, erased, step.coming))
    result = RetentionPlan(plan.at, done)
    if result.total:
        with transaction():
            record_audit(
                AuditAction.RETENTION_RUN,
                target="retention",
                after={step.name: step.due for step in result.steps},
            )
    return result
