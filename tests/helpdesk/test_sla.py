"""The SLA clock of tickets: due times in business hours, holidays, round-the-clock urgent
tickets, the stop while waiting on the requester, a new tier's targets, and the sweep's
warnings and automatic escalations (each once), with time moved rather than waited for."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import func, select, text

from portal.extensions import db
from portal.helpdesk.models import EventKind, SlaOutcome, Ticket, TicketEvent
from portal.helpdesk.requesters import add_requester_reply
from portal.helpdesk.staff import (
    add_staff_message,
    change_state,
    claim_ticket,
    escalate_ticket,
    update_properties,
)
from portal.helpdesk.sweep import run_sla_sweep
from portal.outbox.models import OutboxMessage
from tests.helpdesk.helpers import MONDAY_10AM, act, configure_tier, file_ticket, load_ticket

PHOENIX = ZoneInfo("America/Phoenix")


def phoenix(*args: int) -> datetime:
    return datetime(*args, tzinfo=PHOENIX).astimezone(UTC)


def sweep(app) -> dict[str, int]:
    with app.app_context():
        return run_sla_sweep()


def events(app, number: int, kind: EventKind) -> list[TicketEvent]:
    with app.app_context():
        rows = db.session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == number, TicketEvent.kind == kind)
        ).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def test_due_times_count_business_hours_weekends_and_holidays(app, people, tiers):
    with time_machine.travel(MONDAY_10AM, tick=False):
        number = file_ticket(app, people.delegate)
    ticket = load_ticket(app, number)
    assert ticket.tier == 1
    # Tier 1, normal: first response in 120 business minutes, resolution in 1440 (3 days).
    assert ticket.first_response_due_at == phoenix(2026, 3, 2, 12, 0)
    assert ticket.resolution_due_at == phoenix(2026, 3, 5, 10, 0)
    assert ticket.update_due_at is None
    assert ticket.next_due_at == ticket.first_response_due_at

    with time_machine.travel(phoenix(2026, 3, 6, 16, 0), tick=False):  # Friday afternoon
        friday = load_ticket(app, file_ticket(app, people.delegate))
    assert friday.first_response_due_at == phoenix(2026, 3, 9, 10, 0)

    # Independence Day is observed on Friday 3 July 2026 in Arizona.
    with time_machine.travel(phoenix(2026, 7, 2, 16, 0), tick=False):
        holiday = load_ticket(app, file_ticket(app, people.delegate))
    assert holiday.first_response_due_at == phoenix(2026, 7, 6, 10, 0)


def test_urgent_tickets_run_round_the_clock(app, people, tiers):
    saturday_3am = phoenix(2026, 3, 7, 3, 0)
    with time_machine.travel(saturday_3am, tick=False):
        number = file_ticket(app, people.tier1, category="notebook", priority="urgent")
    ticket = load_ticket(app, number)
    assert ticket.first_response_due_at == saturday_3am + timedelta(minutes=30)
    assert ticket.resolution_due_at == saturday_3am + timedelta(hours=8)


def test_waiting_on_the_requester_stops_the_clock(app, people, tiers):
    with time_machine.travel(MONDAY_10AM, tick=False) as clock:
        number = file_ticket(app, people.delegate)
        clock.move_to(phoenix(2026, 3, 2, 11, 0))
        act(
            app,
            people.tier1,
            add_staff_message,
            number,
            body="Which query?",
            internal=False,
            new_state="waiting_on_requester",
        )
        paused = load_ticket(app, number)
        assert paused.first_response_at == phoenix(2026, 3, 2, 11, 0)
        assert paused.next_due_at is None
        assert paused.resolution_due_at is None

        # Eight business hours later (Tuesday 11:00) the requester answers.
        clock.move_to(phoenix(2026, 3, 3, 11, 0))
        act(app, people.delegate, add_requester_reply, number, "This one: SELECT ...")
        resumed = load_ticket(app, number)
    assert resumed.state == "open"
    assert resumed.sla_paused_minutes == 480
    # The resolution target moves back by the eight stopped business hours...
    assert resumed.resolution_due_at == phoenix(2026, 3, 6, 10, 0)
    # ...and the follow-up is owed within the update time (480 business minutes).
    assert resumed.update_due_at == phoenix(2026, 3, 4, 11, 0)
    assert resumed.next_due_at == resumed.update_due_at
    with app.app_context():
        outcomes = db.session.execute(
            select(SlaOutcome.target, SlaOutcome.met, SlaOutcome.tier)
        ).all()
    assert [tuple(o) for o in outcomes] == [("first_response", True, 1)]


def test_a_new_priority_re_times_the_targets(app, people, tiers):
    with time_machine.travel(MONDAY_10AM, tick=False):
        number = file_ticket(app, people.delegate)
        act(app, people.tier1, update_properties, number, priority="high", category="api_tap")
    ticket = load_ticket(app, number)
    assert ticket.first_response_due_at == phoenix(2026, 3, 2, 11, 0)  # high: 60 minutes


def test_warning_then_escalation_through_the_tiers_each_once(app, people, tiers, slack):
    with time_machine.travel(MONDAY_10AM, tick=False) as clock:
        number = file_ticket(app, people.delegate)
        assert sweep(app) == {"warned": 0, "escalated": 0, "breached": 0}

        # 30 minutes before the first response is due (12:00) the tier is warned, once.
        clock.move_to(phoenix(2026, 3, 2, 11, 31))
        assert sweep(app)["warned"] == 1
        assert sweep(app)["warned"] == 0
        assert len(events(app, number, EventKind.SLA_WARNING)) == 1

        # At the breach the ticket moves to tier 2, whose own targets start now.
        clock.move_to(phoenix(2026, 3, 2, 12, 1))
        assert sweep(app) == {"warned": 0, "escalated": 1, "breached": 0}
        assert sweep(app) == {"warned": 0, "escalated": 0, "breached": 0}
        escalated = load_ticket(app, number)
        assert escalated.tier == 2
        assert escalated.breached_at == phoenix(2026, 3, 2, 12, 1)
        assert escalated.sla_started_at == phoenix(2026, 3, 2, 12, 1)
        assert escalated.first_response_due_at == phoenix(2026, 3, 2, 16, 1)  # tier 2: 240 min
        (auto,) = events(app, number, EventKind.ESCALATED)
        assert auto.actor_id is None
        assert auto.data["auto"] is True
        assert (auto.data["from"], auto.data["to"]) == (1, 2)

        # Tier 2 misses it too: tier 3 (480 minutes), then tier 3 misses it: flagged, once.
        clock.move_to(phoenix(2026, 3, 2, 16, 2))
        assert sweep(app)["escalated"] == 1
        assert load_ticket(app, number).first_response_due_at == phoenix(2026, 3, 3, 16, 2)
        clock.move_to(phoenix(2026, 3, 3, 16, 3))
        assert sweep(app) == {"warned": 0, "escalated": 0, "breached": 1}
        assert sweep(app) == {"warned": 0, "escalated": 0, "breached": 0}
        top = load_ticket(app, number)
        assert top.tier == 3
        assert top.first_response_due_at is None
        assert top.sla_breached_targets == ["first_response"]
        assert top.next_due_at == top.resolution_due_at
    assert len(events(app, number, EventKind.ESCALATED)) == 2
    assert len(events(app, number, EventKind.SLA_BREACHED)) == 3
    with app.app_context():
        misses = db.session.execute(
            select(SlaOutcome.tier, SlaOutcome.met).order_by(SlaOutcome.id)
        ).all()
    assert [tuple(m) for m in misses] == [(1, False), (2, False), (3, False)]


def test_the_warning_lead_is_a_tier_setting(app, people, tiers):
    configure_tier(app, people.admin, 1, warning_minutes=90)
    with time_machine.travel(MONDAY_10AM, tick=False) as clock:
        number = file_ticket(app, people.delegate)
        clock.move_to(phoenix(2026, 3, 2, 10, 29))
        assert sweep(app)["warned"] == 0
        clock.move_to(phoenix(2026, 3, 2, 10, 31))
        assert sweep(app)["warned"] == 1
    assert events(app, number, EventKind.SLA_WARNING)[0].data["target"] == "first_response"


def test_a_manual_escalation_starts_the_new_tiers_clock(app, people, tiers):
    with time_machine.travel(MONDAY_10AM, tick=False) as clock:
        number = file_ticket(app, people.delegate)
        act(app, people.tier1, claim_ticket, number)
        clock.move_to(phoenix(2026, 3, 2, 11, 0))
        act(app, people.tier1, escalate_ticket, number, "Needs the service desk")
    ticket = load_ticket(app, number)
    assert (ticket.tier, ticket.assignee_id, ticket.breached_at) == (2, None, None)
    assert ticket.first_response_due_at == phoenix(2026, 3, 2, 15, 0)
    (manual,) = events(app, number, EventKind.ESCALATED)
    assert manual.data["reason"] == "Needs the service desk"
    assert manual.data["auto"] is False
    assert manual.data["unassigned"] == "Tala Ngata"


def test_the_sweep_reads_one_index(app, people, tiers):
    """The sweep's query is a range over next_due_at of open tickets, not a scan of every
    ticket."""
    query = (
        "SELECT id FROM helpdesk_ticket WHERE state NOT IN ('closed', 'resolved') "
        "AND next_due_at <= '2026-03-02' ORDER BY next_due_at"
    )
    with app.app_context(), db.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            plan = connection.execute(text("EXPLAIN QUERY PLAN " + query)).all()
        else:
            # Give the planner a table worth planning for: mostly closed tickets.
            connection.execute(
                text(
                    "INSERT INTO helpdesk_ticket (subject, description, category, priority, state, "
                    "tier, requester_id, created_at, updated_at, sla_started_at, "
                    "sla_paused_minutes, sla_breached_targets, next_due_at) "
                    "SELECT 's', 'd', 'other', 'normal', "
                    "CASE WHEN n % 20 = 0 THEN 'open' ELSE 'closed' END, 1, :requester, "
                    "now(), now(), now(), 0, '[]', "
                    "CASE WHEN n % 20 = 0 THEN now() + n * interval '1 minute' END "
                    "FROM generate_series(1, 20000) AS n"
                ),
                {"requester": people.delegate.id},
            )
            connection.execute(text("ANALYZE helpdesk_ticket"))
            plan = connection.execute(text("EXPLAIN " + query)).all()
    # An index whose range condition is next_due_at (of open tickets, or of all: only open
    # tickets have a due time), not a scan of every ticket.
    assert re.search(r"ix_helpdesk_ticket_(open_)?due\b", " ".join(str(row) for row in plan))


def test_resolving_records_the_resolution_outcome_and_stops_the_clock(app, people, tiers):
    with time_machine.travel(MONDAY_10AM, tick=False) as clock:
        number = file_ticket(app, people.delegate)
        act(
            app,
            people.tier1,
            add_staff_message,
            number,
            body="Try a smaller cone.",
            internal=False,
            new_state="waiting_on_requester",
        )
        clock.move_to(phoenix(2026, 3, 2, 15, 0))
        act(app, people.tier1, change_state, number, "resolved")
    ticket = load_ticket(app, number)
    assert ticket.state == "resolved"
    assert ticket.next_due_at is None
    assert ticket.resolved_at == phoenix(2026, 3, 2, 15, 0)
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count()).select_from(SlaOutcome).where(SlaOutcome.met.is_(True))
            )
            == 2
        )
        # Nothing is due any more: the sweep does not touch it.
        assert (
            db.session.scalar(
                select(func.count()).select_from(Ticket).where(Ticket.next_due_at.is_not(None))
            )
            == 0
        )
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.channel == "slack")
            )
            == 0
        )
