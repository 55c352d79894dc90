"""Staff at work: the state machine, tier rules for acting on tickets, assignment, escalation
by hand, the queues with filters, search and sorting, canned replies and tier settings."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import time_machine
from sqlalchemy import select

from portal.extensions import db
from portal.helpdesk import settings, tickets
from portal.helpdesk.errors import InvalidTransition, NotAllowed
from portal.helpdesk.models import EventKind, SlaTarget, TicketEvent, TicketState, TierSettings
from portal.helpdesk.staff import add_staff_message, change_state, claim_ticket
from tests.helpdesk.helpers import MONDAY_10AM, act, file_ticket, load_ticket

ALL_STATES = [s.value for s in TicketState]


@pytest.mark.parametrize("start", ALL_STATES)
@pytest.mark.parametrize("target", [s for s in ALL_STATES if s != "new"])
def test_the_state_machine(app, people, start, target):
    """Every staff transition from every state: allowed ones happen, the rest are refused."""
    number = file_ticket(app, people.delegate)
    path = {
        "new": [],
        "open": ["open"],
        "waiting_on_requester": ["waiting_on_requester"],
        "waiting_internal": ["waiting_internal"],
        "resolved": ["resolved"],
        "closed": ["closed"],
    }[start]
    for state in path:
        act(app, people.tier1, change_state, number, state)
    assert load_ticket(app, number).state == start
    allowed = target in tickets.STAFF_TRANSITIONS[TicketState(start)] or target == start
    if allowed:
        act(app, people.tier1, change_state, number, target)
        ticket = load_ticket(app, number)
        assert ticket.state == target
        assert ticket.is_open == (target not in ("resolved", "closed"))
        assert (ticket.next_due_at is None) == (
            target in ("waiting_on_requester", "resolved", "closed")
        )
    else:
        with pytest.raises(InvalidTransition):
            act(app, people.tier1, change_state, number, target)
        assert load_ticket(app, number).state == start


def test_closed_is_final_and_resolved_can_only_reopen_or_close(app, people):
    assert tickets.STAFF_TRANSITIONS[TicketState.CLOSED] == set()
    assert tickets.STAFF_TRANSITIONS[TicketState.RESOLVED] == {
        TicketState.OPEN,
        TicketState.CLOSED,
    }
    assert TicketState.NEW not in set().union(*tickets.STAFF_TRANSITIONS.values())


def test_tier_rules(app, as_user, people):
    tier2_ticket = file_ticket(app, people.delegate, category="account_access")
    page = f"/staff/tickets/{tier2_ticket}"
    tier1 = as_user(people.tier1)
    # Every tier reads every ticket, and may leave a note for the tier that has it...
    assert tier1.get(page).status_code == 200
    assert b"you can read it and add internal notes" in tier1.get(page).data
    note = tier1.submit(
        page + "/reply", {"body": "Seen this before", "action": "note"}, form_url=page
    )
    assert note.status_code == 302
    # ...but only the ticket's tier (or a higher one, or an admin) acts on it.
    refused = tier1.submit(page + "/reply", {"body": "Try again", "action": "reply"}, form_url=page)
    assert refused.status_code == 403
    assert b"cannot act on it" in refused.data
    assert tier1.submit(page + "/claim", form_url=page).status_code == 403
    assert tier1.submit(page + "/escalate", {"reason": "x" * 10}, form_url=page).status_code == 403
    untiered = as_user(people.programme)
    assert untiered.submit(page + "/state", {"state": "open"}, form_url=page).status_code == 403
    assert (
        as_user(people.tier3).submit(page + "/state", {"state": "open"}, form_url=page).status_code
        == 302
    )
    assert as_user(people.admin).submit(page + "/claim", form_url=page).status_code == 302
    # Delegates never reach the staff pages.
    assert as_user(people.delegate).get(page).status_code == 403


def test_claim_assign_and_unassign(app, as_user, people, mailbox):
    number = file_ticket(app, people.delegate)
    page = f"/staff/tickets/{number}"
    tier1 = as_user(people.tier1)
    assert tier1.submit(page + "/claim", form_url=page).status_code == 302
    ticket = load_ticket(app, number)
    assert (ticket.assignee_id, ticket.state) == (people.tier1.id, "open")
    assert tier1.submit(page + "/claim", form_url=page).status_code == 302  # already mine: fine
    taken = as_user(people.tier2).submit(page + "/claim", form_url=page)
    assert taken.status_code == 403
    assert b"has already claimed" in taken.data

    # Only someone who may work on the ticket's tier can be given it.
    with app.app_context():
        choices = [
            u.id for u in tickets.assignable_staff(tickets.staff_ticket(people.tier1, number))
        ]
    assert people.programme.id not in choices
    refused = tier1.submit(page + "/assign", {"assignee": str(people.programme.id)}, form_url=page)
    assert refused.status_code == 403
    assert b"cannot work on Tier 1: community engagement tickets" in refused.data
    assert (
        tier1.submit(
            page + "/assign", {"assignee": str(people.tier3.id)}, form_url=page
        ).status_code
        == 302
    )
    assert load_ticket(app, number).assignee_id == people.tier3.id
    assert tier1.submit(page + "/assign", {"assignee": ""}, form_url=page).status_code == 302
    assert load_ticket(app, number).assignee_id is None
    with app.app_context():
        kinds = [
            e.kind
            for e in db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == number))
        ]
    assert kinds == ["created", "claimed", "state_changed", "assigned", "unassigned"]


def test_escalation_and_de_escalation_need_a_reason(app, as_user, people):
    number = file_ticket(app, people.delegate)
    page = f"/staff/tickets/{number}"
    tier1 = as_user(people.tier1)
    missing = tier1.submit(page + "/escalate", {"reason": ""}, form_url=page)
    assert missing.status_code == 422
    assert b"This field is required" in missing.data
    assert (
        tier1.submit(page + "/escalate", {"reason": "Needs TAP logs"}, form_url=page).status_code
        == 302
    )
    assert load_ticket(app, number).tier == 2
    tier2 = as_user(people.tier2)
    assert (
        tier2.submit(page + "/escalate", {"reason": "Registry bug"}, form_url=page).status_code
        == 302
    )
    top = tier2.submit(page + "/escalate", {"reason": "Even higher"}, form_url=page)
    assert top.status_code == 403  # tier 2 cannot act on a tier-3 ticket any more
    assert (
        as_user(people.tier3)
        .submit(page + "/escalate", {"reason": "Higher"}, form_url=page)
        .status_code
        == 409
    )

    back = as_user(people.tier3).submit(
        page + "/deescalate", {"tier": "1", "reason": ""}, form_url=page
    )
    assert back.status_code == 422
    moved = as_user(people.tier3).submit(
        page + "/deescalate", {"tier": "1", "reason": "A usage question after all"}, form_url=page
    )
    assert moved.status_code == 302
    assert load_ticket(app, number).tier == 1
    with app.app_context():
        history = db.session.scalars(
            select(TicketEvent).where(
                TicketEvent.ticket_id == number, TicketEvent.kind.in_(["escalated", "deescalated"])
            )
        ).all()
        assert [(e.kind, e.data["from"], e.data["to"], e.data["reason"]) for e in history] == [
            ("escalated", 1, 2, "Needs TAP logs"),
            ("escalated", 2, 3, "Registry bug"),
            ("deescalated", 3, 1, "A usage question after all"),
        ]
    staff_page = as_user(people.tier1).get(page).data.decode()
    assert "Moved back from tier 3 to tier 1: A usage question after all" in staff_page
    requester_page = as_user(people.delegate).get(f"/tickets/{number}").data.decode()
    assert "Passed the ticket to Tier 2: service desk" in requester_page
    assert "Registry bug" not in requester_page


def test_staff_forms_keep_input_and_report_errors(app, as_user, people):
    number = file_ticket(app, people.delegate)
    page = f"/staff/tickets/{number}"
    tier1 = as_user(people.tier1)
    empty = tier1.submit(page + "/reply", {"body": "  ", "action": "reply"}, form_url=page)
    assert empty.status_code == 422
    assert b"Write a message." in empty.data
    bad_state = tier1.submit(page + "/state", {"state": "frozen"}, form_url=page)
    assert bad_state.status_code == 422
    conflict = tier1.submit(
        page + "/reply",
        {"body": "Kept words", "action": "reply", "new_state": "open"},
        form_url=page,
    )
    assert conflict.status_code == 302  # new -> open is allowed
    act(app, people.tier1, change_state, number, "closed")
    closed = tier1.submit(page + "/reply", {"body": "Kept words", "action": "reply"}, form_url=page)
    assert closed.status_code == 409
    assert b"Kept words" in closed.data
    assert tier1.get("/staff/tickets/99999").status_code == 404
    assert tier1.submit("/staff/tickets/99999/claim", form_url=page).status_code == 404


def test_queues_filters_search_and_sort(app, as_user, people):
    with time_machine.travel(MONDAY_10AM, tick=False) as clock:
        tap = file_ticket(app, people.delegate, subject="TAP timeout on object", category="api_tap")
        clock.shift(60)
        login_problem = file_ticket(
            app,
            people.other_delegate,
            subject="Cannot log in",
            category="account_access",
            description="GitHub says no",
        )
        clock.shift(60)
        docs = file_ticket(
            app, people.delegate, subject="Typo in docs", category="documentation", priority="low"
        )
        act(app, people.tier1, claim_ticket, docs)
        act(
            app,
            people.tier1,
            add_staff_message,
            tap,
            body="Checked the qserv logs",
            internal=True,
        )
        act(app, people.tier2, change_state, login_problem, "resolved")
        tier1 = as_user(people.tier1)

        def listed(query: str) -> list[int]:
            page = tier1.get("/staff/tickets/" + query)
            assert page.status_code == 200, query
            return [int(n) for n in re.findall(r'href="/staff/tickets/(\d+)"', page.data.decode())]

        assert listed("") == [tap, docs]  # open tickets, the soonest due first
        assert listed("?view=mine") == [docs]
        assert listed("?view=tier") == [tap]  # tier 1, unassigned
        assert listed("?state=any") == [tap, docs, login_problem]
        assert listed("?state=resolved") == [login_problem]
        assert listed("?state=any&tier=2") == [login_problem]
        assert listed("?category=documentation") == [docs]
        assert listed("?priority=low") == [docs]
        assert listed(f"?assignee={people.tier1.id}") == [docs]
        assert listed("?assignee=none") == [tap]
        assert listed("?sort=created") == [docs, tap]
        # Search covers subjects, descriptions and messages, internal notes included (staff).
        assert listed("?q=qserv") == [tap]
        assert listed("?q=github&state=any") == [login_problem]
        assert listed("?q=nothing+like+this") == []
        assert tier1.get("/staff/tickets/?view=nonsense").status_code == 400
        assert listed("?view=soon") == [tap]  # first response due at 12:00
        clock.move_to(MONDAY_10AM.replace(hour=20))  # 13:00 in Phoenix
        assert listed("?view=breached") == [tap]
        assert listed("?view=soon") == []  # the low-priority one is due tomorrow


def test_search_never_matches_other_requesters_or_notes_for_requesters(app, as_user, people):
    number = file_ticket(app, people.delegate, subject="Kernel dies")
    act(
        app,
        people.tier1,
        add_staff_message,
        number,
        body="zebracorn internal detail",
        internal=True,
    )
    page = as_user(people.delegate).get("/tickets/?show=all").data
    assert b"Kernel dies" in page
    assert b"zebracorn" not in page
    assert b"zebracorn" in as_user(people.tier1).get(f"/staff/tickets/{number}").data


def test_queue_pagination(app, as_user, people):
    numbers = [file_ticket(app, people.delegate, subject=f"Ticket {n}") for n in range(55)]
    tier1 = as_user(people.tier1)
    first = tier1.get("/staff/tickets/").data.decode()
    assert "Page 1 of 2 (55 in all)" in first
    second = tier1.get("/staff/tickets/?page=2").data.decode()
    assert f'href="/staff/tickets/{numbers[-1]}"' in second
    assert tier1.get("/staff/tickets/?page=99").status_code == 200


def test_canned_replies_per_tier_inserted_without_javascript(app, as_user, people):
    tier1 = as_user(people.tier1)
    created = tier1.submit(
        "/staff/tickets/canned/new",
        {"tier": "1", "title": "Ask for the query", "body": "Please paste the query."},
    )
    assert created.status_code == 302
    as_user(people.tier2).submit(
        "/staff/tickets/canned/new",
        {"tier": "2", "title": "Known incident", "body": "Known incident."},
    )
    # Staff may only write for their own tier.
    wrong_tier = tier1.submit("/staff/tickets/canned/new", {"tier": "2", "title": "x", "body": "y"})
    assert wrong_tier.status_code == 422
    with app.app_context():
        replies = settings.canned_replies_for(tickets.staff_ticket(people.tier1, 0) or people.tier1)
        tier1_reply = next(r for r in replies if r.title == "Ask for the query")
        assert [r.title for r in replies] == ["Ask for the query"]
    number = file_ticket(app, people.delegate)
    page = f"/staff/tickets/{number}"
    shown = tier1.get(page).data.decode()
    assert "Ask for the query (Tier 1: community engagement)" in shown
    assert "Known incident" not in shown
    inserted = tier1.submit(
        page + "/reply",
        {"body": "Hello.", "canned": str(tier1_reply.id), "action": "canned"},
        form_url=page,
    )
    assert inserted.status_code == 200
    assert "Hello.\n\nPlease paste the query.</textarea>" in inserted.data.decode()
    assert load_ticket(app, number).first_response_at is None  # nothing was sent
    edit = f"/staff/tickets/canned/{tier1_reply.id}"
    assert as_user(people.tier2).get(edit).status_code == 403
    assert (
        tier1.submit(edit, {"tier": "1", "title": "Ask for it", "body": "Paste it."}).status_code
        == 302
    )
    assert tier1.submit(edit + "/delete", form_url="/staff/tickets/canned").status_code == 302
    assert tier1.get(edit).status_code == 404


def test_admins_edit_tier_settings_with_checked_input(app, as_user, people):
    admin = as_user(people.admin)
    page = admin.get("/staff/tickets/tiers/2")
    assert page.status_code == 200
    assert b"America/Phoenix" in page.data
    form = {
        "slack_channel_id": "C0SERVICE",
        "timezone": "Europe/Paris",
        "monday": "09:00-12:00, 13:00-17:00",
        "tuesday": "09:00-17:00",
        "wednesday": "09:00-17:00",
        "thursday": "09:00-17:00",
        "friday": "09:00-16:00",
        "saturday": "",
        "sunday": "",
        "holiday_country": "fr",
        "holiday_subdivision": "",
        "closed_dates": "2026-12-24\n2026-12-31",
        "warning_minutes": "45",
    }
    for priority in ("low", "normal", "high", "urgent"):
        for target, minutes in (("first_response", 60), ("update", 120), ("resolution", 600)):
            form[f"sla_{priority}_{target}"] = str(minutes)
    bad = admin.submit(
        "/staff/tickets/tiers/2",
        {**form, "timezone": "Mars/Olympus", "monday": "9 to 5", "holiday_country": "XX"},
    )
    assert bad.status_code == 422
    body = bad.data.decode()
    assert "Give a timezone name" in body
    assert "not a range like 09:00-17:00" in body
    assert "Mars/Olympus" in body
    closed = admin.submit(
        "/staff/tickets/tiers/2",
        {**form, **dict.fromkeys(("monday", "tuesday", "wednesday", "thursday", "friday"), "")},
    )
    assert closed.status_code == 422
    assert b"open on at least one day" in closed.data
    assert admin.submit("/staff/tickets/tiers/2", form).status_code == 302
    with app.app_context():
        saved = db.session.get(TierSettings, 2)
        assert saved.slack_channel_id == "C0SERVICE"
        assert saved.weekly_hours[0] == [[540, 720], [780, 1020]]
        assert saved.holiday_country == "FR"
        assert saved.closed_dates == ["2026-12-24", "2026-12-31"]
        assert saved.target_minutes("urgent", SlaTarget.RESOLUTION) == 600
    overview = as_user(people.tier1).get("/staff/tickets/tiers").data.decode()
    assert "C0SERVICE" in overview
    assert "09:00-12:00, 13:00-17:00" in overview
    assert as_user(people.tier1).get("/staff/tickets/tiers/2").status_code == 403
    assert admin.get("/staff/tickets/tiers/4").status_code == 404


def test_priority_and_category_changes_are_recorded(app, as_user, people):
    number = file_ticket(app, people.delegate)
    page = f"/staff/tickets/{number}"
    tier1 = as_user(people.tier1)
    assert (
        tier1.submit(
            page + "/properties", {"priority": "urgent", "category": "notebook"}, form_url=page
        ).status_code
        == 302
    )
    ticket = load_ticket(app, number)
    assert (ticket.priority, ticket.category, ticket.tier) == ("urgent", "notebook", 1)
    with app.app_context():
        kinds = [
            e.kind
            for e in db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == number))
        ]
    assert kinds[-2:] == [EventKind.PRIORITY_CHANGED, EventKind.CATEGORY_CHANGED]
    history = tier1.get(page).data.decode()
    assert "Changed the priority: Normal \u2192 Urgent" in history


def test_two_people_claiming_at_once_get_one_owner(app, people):
    """The ticket row is locked for the change (FOR UPDATE on PostgreSQL, the write lock on
    SQLite), so a second claim sees the first one's owner."""
    number = file_ticket(app, people.delegate)
    barrier = threading.Barrier(2)

    def claim(user):
        barrier.wait()
        try:
            act(app, user, claim_ticket, number)
        except NotAllowed:
            return "refused"
        return "claimed"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(claim, [people.tier1, people.tier2]))
    assert outcomes == ["claimed", "refused"]
    with app.app_context():
        claims = db.session.scalars(
            select(TicketEvent).where(
                TicketEvent.ticket_id == number, TicketEvent.kind == "claimed"
            )
        ).all()
        assert len(claims) == 1
        assert load_ticket(app, number).assignee_id == claims[0].actor_id
