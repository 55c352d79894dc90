"""`portal seed-demo` fills the help desk with tickets in every state, the same each time and
only once; every page works on them and the SLA sweep takes them on."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine
from sqlalchemy import func, select

from portal.auth.models import User
from portal.extensions import db
from portal.helpdesk.models import CannedReply, Ticket, TicketEvent, TicketMessage, TicketState
from portal.helpdesk.sweep import run_sla_sweep

WEDNESDAY_NOON = datetime(2026, 3, 4, 19, 0, tzinfo=UTC)  # in Phoenix: inside business hours


def test_seed_demo_is_complete_and_idempotent(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["portal", "seed-demo"])
    assert first.exit_code == 0, first.output
    assert "help desk: 10 live tickets in every state" in first.output
    with app.app_context():
        counts = dict(
            db.session.execute(select(Ticket.state, func.count()).group_by(Ticket.state)).all()
        )
        totals = [
            db.session.scalar(select(func.count()).select_from(model))
            for model in (Ticket, TicketEvent, TicketMessage, CannedReply)
        ]
        subjects = db.session.scalars(select(Ticket.subject).order_by(Ticket.id).limit(10)).all()
        rated = db.session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.rating.is_not(None))
        )
        notes = db.session.scalar(
            select(func.count()).select_from(TicketMessage).where(TicketMessage.internal)
        )
        tiers = set(db.session.scalars(select(Ticket.tier).where(Ticket.is_open)))
    assert set(counts) == {s.value for s in TicketState}
    assert tiers == {1, 2, 3}
    assert rated > 2
    assert notes >= 2

    second = runner.invoke(args=["portal", "seed-demo"])
    assert second.exit_code == 0, second.output
    assert "help desk" not in second.output
    with app.app_context():
        again = [
            db.session.scalar(select(func.count()).select_from(model))
            for model in (Ticket, TicketEvent, TicketMessage, CannedReply)
        ]
        assert again == totals
        assert (
            db.session.scalars(select(Ticket.subject).order_by(Ticket.id).limit(10)).all()
            == subjects
        )


def test_demo_tickets_work_on_every_page(app, as_user):
    with time_machine.travel(WEDNESDAY_NOON, tick=False):
        _check_demo_pages(app, as_user)


def _check_demo_pages(app, as_user):
    app.test_cli_runner().invoke(args=["portal", "seed-demo"])
    with app.app_context():
        staff = {u.email: u for u in db.session.scalars(select(User))}
        for user in staff.values():
            db.session.expunge(user)
        live = db.session.scalars(select(Ticket.id).order_by(Ticket.id).limit(10)).all()
        requesters = dict(db.session.execute(select(Ticket.id, Ticket.requester_id)).all())
    tier1 = as_user(staff["tier1@example.org"])
    for view in ("all", "mine", "tier", "soon", "breached"):
        assert tier1.get(f"/staff/tickets/?view={view}").status_code == 200
    assert tier1.get("/staff/tickets/dashboard").status_code == 200
    assert tier1.get("/staff/tickets/?q=truth_match").status_code == 200
    by_id = {u.id: u for u in staff.values()}
    for number in live:
        assert tier1.get(f"/staff/tickets/{number}").status_code == 200
        assert as_user(by_id[requesters[number]]).get(f"/tickets/{number}").status_code == 200
    with app.app_context():
        result = run_sla_sweep()
    assert result["escalated"] >= 1  # the unanswered Portal ticket is overdue
