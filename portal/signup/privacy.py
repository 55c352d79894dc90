"""A programme's privacy notice: its versions, drafts and publication, and who must see a change."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from flask import current_app, has_app_context
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from portal.audit import AuditAction, record_audit
from portal.auth.models import User
from portal.core.db import transaction, utcnow
from portal.core.enums import LabelledEnum
from portal.extensions import db
from portal.signup.errors import InvalidConfig, NotAllowed
from portal.signup.models import LIVE_STATES, Application, EventKind, PrivacyNotice
from portal.signup.queries import owned_by
from portal.signup.seats import lock_programme
from portal.signup.transitions import APPLICANT, record_event


class DataPurpose(LabelledEnum):
    """What a group of the application form's fields is for; the notice says so for each."""

    ADMISSION = "admission", "Admission"
    COHORT = "cohort", "Cohort balance"
    PROVISIONING = "provisioning", "Access to the platform"
    SUPPORT = "support", "Support"


# Placeholders a notice may use for the retention periods, each read from the setting the
# retention schedule runs by (so the notice says what the schedule does), with its default.
RETENTION_PLACEHOLDERS = {
    "applicant_retention_days": ("PRIVACY_RETENTION_APPLICANT_DAYS", 180),
    "attachment_retention_days": ("PRIVACY_RETENTION_ATTACHMENT_DAYS", 365),
    "outbox_retention_days": ("PRIVACY_RETENTION_OUTBOX_BODY_DAYS", 30),
}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class NoticeFields:
    """What an editor writes for a version of the notice."""

    body: str
    purposes: Mapping[str, str]
    changes: str = ""


def notice_fields(notice: PrivacyNotice) -> NoticeFields:
    return NoticeFields(body=notice.body, purposes=dict(notice.purposes), changes=notice.changes)


def retention_days() -> dict[str, int]:
    """The retention periods the notice's placeholders stand for, from the settings."""
    config = current_app.config if has_app_context() else {}
    return {
        name: int(config.get(key, days)) for name, (key, days) in RETENTION_PLACEHOLDERS.items()
    }


def fill_in(text: str) -> str:
    """A notice's text with its retention placeholders replaced by the configured numbers
    (anything else in braces is left as written)."""
    days = retention_days()
    return _PLACEHOLDER.sub(lambda m: str(days.get(m.group(1), m.group(0))), text)


def purpose_of(notice: PrivacyNotice, purpose: str) -> str:
    """What the notice says one group of the form's fields (a `DataPurpose`) is for."""
    return fill_in(notice.purposes.get(str(purpose), ""))


# --- reading ------------------------------------------------------------------------------------


def published_notice(programme_id: int) -> PrivacyNotice | None:
    """The programme's notice in force: its newest published version."""
    return db.session.scalar(
        select(PrivacyNotice)
        .where(PrivacyNotice.programme_id == programme_id, PrivacyNotice.published_at.is_not(None))
        .order_by(PrivacyNotice.version.desc())
        .limit(1)
    )


def published_version(programme_id: int, version: int) -> PrivacyNotice | None:
    return db.session.scalar(
        select(PrivacyNotice).where(
            PrivacyNotice.programme_id == programme_id,
            PrivacyNotice.version == version,
            PrivacyNotice.published_at.is_not(None),
        )
    )


def published_versions(programme_id: int) -> list[PrivacyNotice]:
    """Every published version, newest first."""
    return list(
        db.session.scalars(
            select(PrivacyNotice)
            .where(
                PrivacyNotice.programme_id == programme_id, PrivacyNotice.published_at.is_not(None)
            )
            .order_by(PrivacyNotice.version.desc())
        )
    )


def draft_notice(programme_id: int) -> PrivacyNotice | None:
    return db.session.scalar(
        select(PrivacyNotice).where(
            PrivacyNotice.programme_id == programme_id, PrivacyNotice.published_at.is_(None)
        )
    )


# --- writing ------------------------------------------------------------------------------------


def _check(fields: NoticeFields) -> None:
    if not fields.body.strip():
        raise NotAllowed("Write the notice.", field="body")
    for purpose in DataPurpose:
        if not (fields.purposes.get(purpose.value) or "").strip():
            raise NotAllowed(
                f"Say what the {purpose.label.lower()} fields are for and how long they are kept.",
                field=f"purpose_{purpose.value}",
            )


def _newest_version(programme_id: int) -> int:
    return (
        db.session.scalar(
            select(func.max(PrivacyNotice.version)).where(
                PrivacyNotice.programme_id == programme_id
            )
        )
        or 0
    )


def save_notice(programme_id: int, fields: NoticeFields, *, publish: bool) -> PrivacyNotice:
    """Keep the programme's draft (the version after the newest), and publish it if asked: a
    published version is the one new applicants accept and delegates are shown. Every version
    after the first says what changed."""
    _check(fields)
    with transaction() as session:
        lock_programme(programme_id)
        current = published_notice(programme_id)
        draft = draft_notice(programme_id)
        if draft is None:
            draft = PrivacyNotice(
                programme_id=programme_id, version=_newest_version(programme_id) + 1
            )
            session.add(draft)
        draft.body = fields.body.strip() + "\n"
        draft.purposes = {p.value: fields.purposes[p.value].strip() for p in DataPurpose}
        draft.changes = fields.changes.strip()
        if publish:
            if current is not None and not draft.changes:
                raise NotAllowed(
                    "Say what changed: delegates are shown this when they next sign in.",
                    field="changes",
                )
            if current is not None and (current.body, current.purposes) == (
                draft.body,
                draft.purposes,
            ):
                raise NotAllowed(
                    f"This draft says the same as version {current.version}; change the notice "
                    "or a purpose before publishing."
                )
            draft.published_at = utcnow()
            record_audit(
                AuditAction.PRIVACY_NOTICE_CHANGED,
                target=f"programme:{programme_id}",
                before={"version": current.version} if current is not None else None,
                after={"version": draft.version},
            )
        session.flush()
        return draft


def ensure_notice(programme_id: int, fields: NoticeFields) -> PrivacyNotice:
    """The programme's published notice; one without gets `fields` as version 1."""
    found = published_notice(programme_id)
    if found is not None:
        return found
    with transaction():
        lock_programme(programme_id)
        found = published_notice(programme_id)
        if found is not None:
            return found
        return save_notice(programme_id, fields, publish=True)


def load_notice(programme_id: int, fields: NoticeFields) -> str:
    """The programme file's notice: version 1 of a programme without one, a new version when
    the file says something else than the notice in force, nothing when it says the same."""
    current = published_notice(programme_id)
    if current is None:
        notice = ensure_notice(programme_id, fields)
        return f"published privacy notice version {notice.version}"
    body = fields.body.strip() + "\n"
    purposes = {p.value: (fields.purposes.get(p.value) or "").strip() for p in DataPurpose}
    if (current.body, current.purposes) == (body, purposes):
        return f"privacy notice version {current.version} unchanged"
    if not fields.changes.strip():
        raise InvalidConfig(
            f"[privacy]: the notice differs from version {current.version} in force; say what "
            "changed in `changes`, which delegates are shown when they next sign in."
        )
    notice = save_notice(programme_id, fields, publish=True)
    return f"published privacy notice version {notice.version}"


# --- who must see a change ----------------------------------------------------------------------


@dataclass(frozen=True)
class PendingNotice:
    """A notice in force that an applicant or delegate has not yet seen."""

    application: Application
    notice: PrivacyNotice


def _pending(*conditions: ColumnElement[bool]) -> Select[Application, PrivacyNotice]:
    """Live applications (delegates included) whose programme's notice in force is newer than
    the version they accepted or last acknowledged."""
    newest = (
        select(
            PrivacyNotice.programme_id.label("programme_id"),
            func.max(PrivacyNotice.version).label("version"),
        )
        .where(PrivacyNotice.published_at.is_not(None))
        .group_by(PrivacyNotice.programme_id)
        .subquery()
    )
    return (
        select(Application, PrivacyNotice)
        .join(newest, newest.c.programme_id == Application.programme_id)
        .join(
            PrivacyNotice,
            and_(
                PrivacyNotice.programme_id == newest.c.programme_id,
                PrivacyNotice.version == newest.c.version,
            ),
        )
        .where(
            Application.state.in_(LIVE_STATES),
            or_(
                Application.privacy_notice_version.is_(None),
                Application.privacy_notice_version < newest.c.version,
            ),
            *conditions,
        )
        .order_by(Application.id)
    )


def pending_for_user(user: User) -> list[PendingNotice]:
    """The changed notices a signed-in person has yet to see, one per application of theirs."""
    rows = db.session.execute(_pending(owned_by(user))).all()
    return [PendingNotice(application, notice) for application, notice in rows]


def pending_for_application(application: Application) -> PrivacyNotice | None:
    """The changed notice the holder of an application's status link has yet to see."""
    row = db.session.execute(_pending(Application.id == application.id)).first()
    return row[1] if row is not None else None


def _acknowledge(application: Application, notice: PrivacyNotice) -> None:
    application.privacy_notice_version = notice.version
    application.privacy_accepted_at = utcnow()
    record_event(
        application,
        APPLICANT,
        f"Acknowledged privacy notice version {notice.version}",
        from_state=application.state,
        kind=EventKind.PRIVACY,
    )


def acknowledge_for_user(user: User, notice_ids: list[int]) -> int:
    """Record that a signed-in person has seen the notices they were shown (by id: one
    published since the page was shown is still to be seen); says how many."""
    with transaction():
        seen = [p for p in pending_for_user(user) if p.notice.id in set(notice_ids)]
        for pending in seen:
            _acknowledge(pending.application, pending.notice)
        return len(seen)


def acknowledge_for_application(application_id: int, version: int) -> bool:
    """Record that the holder of an application's status link has seen notice `version`, if
    that is the changed notice in force for it; says whether anything was recorded."""
    with transaction() as session:
        application = session.get(Application, application_id)
        notice = pending_for_application(application) if application is not None else None
        if application is None or notice is None or notice.version != version:
            return False
        _acknowledge(application, notice)
        return True
