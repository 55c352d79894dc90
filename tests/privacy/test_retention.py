"""The retention schedule: a dry run says what a run would erase and erases nothing; a run (the
command or the worker's job) erases what is due and nothing else, as time moves on."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask import Flask
from sqlalchemy import func, select

from portal.audit.models import AuditEntry
from portal.auth.models import User
from portal.core.db import utcnow
from portal.core.roles import Role
from portal.extensions import db
from portal.helpdesk import requesters, staff
from portal.helpdesk.attachments import Upload
from portal.helpdesk.models import Ticket
from portal.outbox.models import MessageState, OutboxMessage
from portal.outbox.worker import run_job_if_free
from portal.privacy.messages import REMOVED_TEXT
from portal.signup import applying
from portal.signup.models import Application
from tests.conftest import deliver_outbox


@pytest.fixture
def schedule(app: Flask, make_user: Any, make_programme: Any, apply_confirmed: Any) -> Any:
    """A programme whose only wave closes in an hour (one seat: the first is admitted, the
    second waits, the third withdraws), a closed ticket with a file, delivered emails."""
    closes = utcnow() + timedelta(hours=1)
    programme = make_programme(mode="fcfs", capacity=1, closes=closes)
    admitted = apply_confirmed(programme, 1, contribution="Admitted person's plans.")
    waiting = apply_confirmed(programme, 2, contribution="Waiting person's plans.")
    leaving = apply_confirmed(programme, 3, contribution="Leaving person's plans.")
    delegate = make_user(Role.DELEGATE)
    worker = make_user(Role.STAFF, tier=1)
    with app.app_context():
        applying.withdraw(leaving, "Found another way in")
        ticket = requesters.create_ticket(
            db.session.get(User, delegate.id),
            subject="Notebook will not start",
            description="Spawner spins.",
            category="notebook",
            priority="normal",
            uploads=[Upload("spawner.log", "log", b"timeout\n")],
        )
        (stored,) = [a.stored_name for a in ticket.attachments]
        ticket_id = ticket.id
        staff.change_state(db.session.get(User, worker.id), ticket_id, "closed")
    deliver_outbox(app)
    return {
        "closes": closes,
        "admitted": admitted,
        "waiting": waiting,
        "leaving": leaving,
        "ticket": ticket_id,
        "file": Path(app.config["HELPDESK_ATTACHMENT_DIR"]) / stored,
    }


def _retention(app: Flask, *flags: str) -> str:
    result = app.test_cli_runner().invoke(args=["privacy", "retention", *flags])
    assert result.exit_code == 0, result.output
    return str(result.output)


def _application(app: Flask, application_id: int) -> dict[str, Any]:
    with app.app_context():
        a = db.session.get(Application, application_id)
        assert a is not None
        return {
            "country": a.country,
            "career_stage": a.career_stage,
            "institution": a.institution,
            "contribution": a.contribution,
            "collaborations": a.collaboration_codes,
            "name": a.full_name,
            "state": str(a.state),
        }


def _emails(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        messages = db.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.channel == "email", OutboxMessage.state == MessageState.SENT
            )
        ).all()
        return [dict(m.payload, sent_at=m.sent_at) for m in messages]


def _line(output: str, start: str) -> str:
    return next(line for line in output.splitlines() if line.strip().startswith(start))


def test_dry_run_and_runs_as_time_moves_on(app, schedule, login, make_user):
    closes: datetime = schedule["closes"]
    admin = make_user(Role.ADMIN, tier=3)
    before = {key: _application(app, schedule[key]) for key in ("admitted", "waiting", "leaving")}
    emails_before = _emails(app)
    assert emails_before
    assert all(e["text"] != REMOVED_TEXT for e in emails_before)

    with time_machine.travel(closes + timedelta(days=170), tick=False):
        dry = _retention(app, "--dry-run")
        assert "Dry run: nothing is erased" in dry
        applicants = _line(dry, "Cohort attributes")
        assert "0 would be erased, 2 more in the next 30 days" in applicants
        assert f"{len(emails_before)} would be erased" in _line(dry, "Text of delivered")
        assert "0 would be erased, 0 more" in _line(dry, "Files attached")
        # The dry run changed nothing.
        assert _emails(app) == emails_before
        # Admins see the same before the worker acts.
        page = login(admin).get("/admin/privacy/retention")
        assert page.status_code == 200
        assert f"{len(emails_before)}</td>" in page.data.decode()

        ran = _retention(app)
        assert f"Erased {len(emails_before)} records." in ran
    emails_after = _emails(app)
    assert [(e["to"], e["subject"], e["sent_at"]) for e in emails_after] == [
        (e["to"], e["subject"], e["sent_at"]) for e in emails_before
    ], "the delivery record stays"
    assert all(e["text"] == REMOVED_TEXT and e["html"] is None for e in emails_after)
    assert {key: _application(app, schedule[key]) for key in before} == before

    with time_machine.travel(closes + timedelta(days=181), tick=False):
        assert "2 would be erased" in _line(_retention(app, "--dry-run"), "Cohort attributes")
        with app.app_context():
            job = app.extensions["portal.jobs"]["privacy.retention"]
            assert run_job_if_free(job, "test-worker")
    assert _application(app, schedule["admitted"]) == before["admitted"]
    for key in ("waiting", "leaving"):
        erased = _application(app, schedule[key])
        assert erased["country"] == erased["career_stage"] == erased["contribution"] == ""
        assert erased["collaborations"] == []
        # Who applied and what became of it stay.
        assert (erased["name"], erased["state"]) == (before[key]["name"], before[key]["state"])
    assert schedule["file"].is_file()

    with time_machine.travel(closes + timedelta(days=366), tick=False):
        assert "1 erased" in _line(_retention(app), "Files attached")
    assert not schedule["file"].exists()
    with app.app_context():
        assert db.session.get(Ticket, schedule["ticket"]).attachments == []

    with app.app_context():
        old = db.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.at < closes)
        )
        runs = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "privacy.retention")
        ).all()
        assert old
        assert len(runs) == 3
        assert runs[0].after["message_bodies"] == len(emails_before)
    with time_machine.travel(closes + timedelta(days=731), tick=False):
        output = _retention(app)
        assert f"{old} erased" in _line(output, "Audit-log entries")
    with app.app_context():
        assert not db.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.at < closes)
        )


def test_a_period_of_zero_keeps_for_good(app, schedule):
    app.config["PRIVACY_RETENTION_OUTBOX_BODY_DAYS"] = 0
    with time_machine.travel(schedule["closes"] + timedelta(days=400), tick=False):
        output = _retention(app)
        assert "(their delivery record stays): kept (retention off)" in output
    assert all(e["text"] != REMOVED_TEXT for e in _emails(app))


def test_a_programme_with_an_open_ended_wave_has_not_closed(app, make_programme, apply_confirmed):
    programme = make_programme(mode="reviewed")
    apply_confirmed(programme, 1)
    with time_machine.travel(utcnow() + timedelta(days=1000), tick=False):
        assert "0 erased, 0 more" in _line(_retention(app), "Cohort attributes")
