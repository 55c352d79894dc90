"""Writing audit entries inside the caller's unit of work, and purging the oldest."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import delete

from portal.audit.models import AuditEntry
from portal.core.db import rows_changed, transaction, utcnow
from portal.extensions import db


def record_audit(
    action: str,
    *,
    target: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Add one audit entry to the current unit of work (call it inside the service's
    `transaction()`, so the entry commits, or rolls back, with the change it describes).

    The actor is the signed-in user of the current request, if any (none for the worker and
    the command line); the address is the request's, after the proxy headers are applied.
    """
    actor_id = None
    remote_addr = None
    if has_request_context():
        remote_addr = request.remote_addr
        if current_user.is_authenticated:
            actor_id = current_user.id
    db.session.add(
        AuditEntry(
            at=utcnow(),
            actor_id=actor_id,
            action=str(action),
            target=target,
            before=before,
            after=after,
            remote_addr=remote_addr,
        )
    )
    db.session.flush()


def purge_audit_before(cutoff: datetime) -> int:
    """Delete the entries older than `cutoff` (the retention schedule's one way to remove any)
    and say how many went."""
    with transaction() as session:
        return rows_changed(session.execute(delete(AuditEntry).where(AuditEntry.at < cutoff)))
