"""Fixtures for the audit-log tests: the sign-up fixtures, and the log's entries read back."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.extensions import db
from tests.signup.conftest import apply_confirmed, confirm, make_programme, submit

__all__ = ["apply_confirmed", "confirm", "make_programme", "submit"]


@pytest.fixture
def entries(app: Flask) -> Any:
    """The audit entries (of one action, if given), oldest first, detached from the session."""

    def _entries(action: str | None = None) -> list[AuditEntry]:
        with app.app_context():
            query = select(AuditEntry).order_by(AuditEntry.id)
            if action is not None:
                query = query.where(AuditEntry.action == action)
            found = list(db.session.scalars(query))
            for entry in found:
                db.session.expunge(entry)
            return found

    return _entries
