"""Writing audit entries inside the caller's unit of work, reading them back by filter, and
purging the oldest (the only way an entry is ever removed)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Any

from flask import g, has_request_context, request
from flask_login import current_user
from sqlalchemy import Select, delete, or_, select

from portal.audit.models import AuditAction, AuditEntry
from portal.auth.models import User
from portal.core.db import rows_changed, transaction, utcnow
from portal.core.templating import portal_zone
from portal.extensions import db


def _jsonable(value: Any) -> Any:
    """A value as JSON keeps it: times as ISO text, enums by value, tuples and sets as lists."""
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted(_jsonable(item) for item in value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime) and value.tzinfo is not None:
        # In UTC, so one moment is one text whichever zone a form gave it in.
        return value.astimezone(UTC).isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _actor_id() -> int | None:
    """The account acting in this request: the API token's owner, else the signed-in user."""
    if not has_request_context():
        return None
    api_user = g.get("api_user")
    if api_user is not None:
        return int(api_user.id)
    return int(current_user.id) if current_user.is_authenticated else None


def record_audit(
    action: str,
    *,
    target: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Add one audit entry to the current unit of work (call it inside the service's
    `transaction()`, so the entry commits, or rolls back, with the change it describes).

    `target` names what was acted on as "kind:id" ("user:12", "wave:3"). The actor is the
    account of the current request, if any (none for the worker and the command line); the
    address is the request's, after the proxy headers are applied. Keep email addresses and
    free text out of `before` and `after`: the log outlives the people it mentions.
    """
    db.session.add(
        AuditEntry(
            at=utcnow(),
            actor_id=_actor_id(),
            action=str(action),
            target=target,
            before=_jsonable(before) if before is not None else None,
            after=_jsonable(after) if after is not None else None,
            remote_addr=request.remote_addr if has_request_context() else None,
        )
    )
    db.session.flush()


def record_change(
    action: str, *, target: str, before: Mapping[str, Any], after: Mapping[str, Any]
) -> bool:
    """Record only the fields that changed between `before` and `after`, and nothing when none
    did (saving a form unchanged is no action); says whether an entry was written."""
    old, new = _jsonable(before), _jsonable(after)
    changed = sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))
    if not changed:
        return False
    record_audit(
        action,
        target=target,
        before={key: old.get(key) for key in changed},
        after={key: new.get(key) for key in changed},
    )
    return True


def purge_audit_before(cutoff: datetime) -> int:
    """Delete the entries older than `cutoff` (for the retention schedule) and say how many
    went."""
    with transaction() as session:
        return rows_changed(session.execute(delete(AuditEntry).where(AuditEntry.at < cutoff)))


# --- reading the log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    """What the admin's log page narrows the entries to; every part is optional."""

    action: str | None = None
    actor: str | None = None
    target: str | None = None
    since: date | None = None
    until: date | None = None


def _start_of(day: date) -> datetime:
    """The first moment of a calendar day in the portal's timezone."""
    return datetime.combine(day, time(), tzinfo=portal_zone())


def _accounts_matching(text: str) -> Select[int]:
    """The ids of the accounts whose email or name contains `text`, in any case."""
    pattern = f"%{text.strip().lower()}%"
    return select(User.id).where(or_(User.email.ilike(pattern), User.full_name.ilike(pattern)))


def entry_query(filters: AuditFilters) -> Select[AuditEntry]:
    """The entries matching `filters`, newest first. The actor matches by part of an account's
    email or name; the target exactly ("user:12"), or by kind when it ends with a colon
    ("user:" is every account); the dates are whole days in the portal's timezone, both
    included."""
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if filters.action:
        query = query.where(AuditEntry.action == filters.action)
    if filters.actor:
        query = query.where(AuditEntry.actor_id.in_(_accounts_matching(filters.actor)))
    if filters.target:
        target = filters.target.strip()
        if target.endswith(":"):
            query = query.where(AuditEntry.target.startswith(target, autoescape=True))
        else:
            query = query.where(AuditEntry.target == target)
    if filters.since:
        query = query.where(AuditEntry.at >= _start_of(filters.since))
    if filters.until:
        query = query.where(AuditEntry.at < _start_of(filters.until + timedelta(days=1)))
    return query


def account_labels(entries: Iterable[AuditEntry]) -> dict[int, str]:
    """The email of each account the entries name, as actor or as a "user:<id>" target: read
    from the account as it is now, so an erased person shows as their pseudonym."""
    ids = set()
    for entry in entries:
        if entry.actor_id is not None:
            ids.add(entry.actor_id)
        kind, _, key = entry.target.partition(":")
        if kind == "user" and key.isdigit():
            ids.add(int(key))
    if not ids:
        return {}
    rows = db.session.execute(select(User.id, User.email).where(User.id.in_(ids)))
    return dict(rows.all())


def actor_label(entry: AuditEntry, labels: Mapping[int, str]) -> str:
    """Who acted, for people: the account's email, or what acted when no one signed in did."""
    if entry.actor_id is None:
        return "system (worker or command line)"
    return labels.get(entry.actor_id, f"deleted account #{entry.actor_id}")


def _recorded(filters: AuditFilters) -> dict[str, Any]:
    """The filters of an export as its entry keeps them: the text typed to find an actor could
    be anyone's name or address, so only the accounts it matched are kept."""
    kept = {**vars(filters), "actor": None}
    if filters.actor:
        kept["actor"] = sorted(db.session.scalars(_accounts_matching(filters.actor)))
    return kept


EXPORT_FIELDS = ["id", "at", "actor_id", "actor", "action", "target", "before", "after", "address"]


def export_entries(filters: AuditFilters, file_format: str) -> list[dict[str, Any]]:
    """Every entry matching `filters` as plain rows, oldest first, for a download; the export
    is itself recorded (it shows who took a copy of the log and of what part)."""
    with transaction() as session:
        entries = list(session.scalars(entry_query(filters).order_by(None).order_by(AuditEntry.id)))
        labels = account_labels(entries)
        rows = [
            {
                "id": entry.id,
                "at": entry.at.isoformat(),
                "actor_id": entry.actor_id,
                "actor": actor_label(entry, labels),
                "action": entry.action,
                "target": entry.target,
                "before": entry.before,
                "after": entry.after,
                "address": entry.remote_addr,
            }
            for entry in entries
        ]
        record_audit(
            AuditAction.AUDIT_EXPORTED,
            target="audit",
            after={"format": file_format, "entries": len(rows), "filters": _recorded(filters)},
        )
        return rows


def rows_as_csv_cells(rows: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    """Export rows with their before/after values as compact JSON text, for a spreadsheet."""
    for row in rows:
        yield {
            **row,
            "before": "" if row["before"] is None else json.dumps(row["before"], sort_keys=True),
            "after": "" if row["after"] is None else json.dumps(row["after"], sort_keys=True),
        }
