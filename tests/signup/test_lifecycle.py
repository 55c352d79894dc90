"""Every state an application goes through, who moves it there, what is logged and which email
goes out: first come first served, staff review, withdrawal, the waitlist and its offers,
expiry and reminders (time moved, not waited for), carry-over between waves."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from portal.auth.models import User
from portal.core.db import utcnow
from portal.core.roles import Role
from portal.extensions import db
from portal.signup import applying, decisions, queries
from portal.signup.errors import CapacityBelowSeatsTaken, NotAllowed
from portal.signup.models import Application, Wave
from portal.signup.programmes import WaveFields, save_wave, wave_fields
from tests.conftest import deliver_outbox
from tests.signup.conftest import (
    decide,
    offer_token,
    offers_of,
    run_jobs,
    state_of,
    states,
    status_token,
    trail,
)


def _subjects(mailbox, address: str) -> list[str]:
    return [str(m["Subject"]) for m in mailbox.to(address)]


def _last(mailbox, address: str):
    return mailbox.to(address)[-1]


def _account(app, email: str) -> User | None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        if user is not None:
            db.session.expunge(user)
        return user


def test_first_come_first_served_admits_while_there_is_room_then_waitlists(
    app, make_programme, apply_confirmed, mailbox
):
    programme = make_programme(capacity=2, mode="fcfs")
    ids = [apply_confirmed(programme, n) for n in range(1, 4)]
    assert states(app, ids) == ["admitted", "admitted", "waitlisted"]
    deliver_outbox(app)

    admitted = _last(mailbox, "person1@example.org")
    assert admitted["Subject"] == "You are admitted to Programme 1"
    text = mailbox.text(admitted)
    assert "/docs/delegates/getting-started.html" in text
    assert "/docs/delegates/guidelines.html" in text
    assert "/auth/reset" in text
    assert "getting-started.html" in mailbox.html(admitted)

    waitlisted = _last(mailbox, "person3@example.org")
    assert waitlisted["Subject"] == "You are on the Programme 1 waitlist"
    assert "position 1" in mailbox.text(waitlisted)
    assert "position 1" in mailbox.html(waitlisted)

    # Admission makes the person a delegate with an account they can set a password for.
    account = _account(app, "person1@example.org")
    assert account is not None
    assert account.role == Role.DELEGATE
    assert account.password_hash is None
    assert account.email_verified
    assert _account(app, "person3@example.org") is None

    assert trail(app, ids[0]) == [
        (None, "unverified", "applicant", "Application submitted"),
        ("unverified", "pending", "applicant", "Email address confirmed"),
        ("pending", "admitted", "portal", "First come, first served"),
    ]
    assert trail(app, ids[2])[-1][:3] == ("pending", "waitlisted", "portal")
    assert "Wave 1 is full (2 of 2)" in trail(app, ids[2])[-1][3]


def test_unsure_data_rights_wait_for_staff_even_when_there_is_room(
    app, make_programme, apply_confirmed, mailbox
):
    programme = make_programme(capacity=5, mode="fcfs")
    unsure = apply_confirmed(programme, 1, data_rights="not_sure")
    assert state_of(app, unsure) == "pending"
    deliver_outbox(app)
    assert _subjects(mailbox, "person1@example.org")[-1].startswith("We received")


def test_staff_review_admit_reject_waitlist_and_undo_with_reasons(
    app, make_programme, apply_confirmed, staff, mailbox, client
):
    programme = make_programme(capacity=5, mode="reviewed")
    a, b, c = (apply_confirmed(programme, n) for n in range(1, 4))
    assert states(app, [a, b, c]) == ["pending"] * 3
    deliver_outbox(app)
    assert _subjects(mailbox, "person1@example.org") == [
        "Confirm your email to complete your Programme 1 application",
        "We received your application to Programme 1",
    ]

    assert decide(app, [a], "admit", staff, "Strong tutorial plan") == ([a], [], [])
    assert decide(app, [b], "reject", staff, "No data rights") == ([b], [], [])
    assert decide(app, [c], "waitlist", staff, "Next in line") == ([c], [], [])
    assert states(app, [a, b, c]) == ["admitted", "rejected", "waitlisted"]
    deliver_outbox(app)
    assert _last(mailbox, "person1@example.org")["Subject"] == "You are admitted to Programme 1"
    not_selected = _last(mailbox, "person2@example.org")
    assert not_selected["Subject"] == "Your application to Programme 1"
    assert "cannot offer you a place" in mailbox.text(not_selected)
    assert "No data rights" not in mailbox.text(not_selected)  # reasons stay internal
    assert "waitlist" in _last(mailbox, "person3@example.org")["Subject"]

    who = "Pat Staff <programme-staff@example.org>"
    assert trail(app, a)[-1] == ("pending", "admitted", who, "Strong tutorial plan")
    assert trail(app, b)[-1] == ("pending", "rejected", who, "No data rights")

    # Undo puts the application back where it was, and says so in the trail.
    assert decide(app, [b], "undo", staff, "Rights confirmed by the institution")[0] == [b]
    assert decide(app, [a], "undo", staff, "Admitted the wrong person")[0] == [a]
    assert states(app, [a, b]) == ["pending", "pending"]
    assert trail(app, b)[-1][:3] == ("rejected", "pending", who)
    assert "Rights confirmed" in trail(app, b)[-1][3]
    assert _account(app, "person1@example.org").role == Role.APPLICANT
    nothing_to_undo = apply_confirmed(programme, 9, data_rights="no")
    assert decide(app, [nothing_to_undo], "undo", staff) == ([], [], [nothing_to_undo])

    # A decision that does not apply to the state is skipped, not forced.
    assert decide(app, [a], "waitlist", staff)[0] == [a]
    assert decide(app, [a], "waitlist", staff) == ([], [], [a])


def test_withdrawal_frees_the_seat_at_once_and_takes_access_away(
    app, client, make_programme, apply_confirmed, mailbox
):
    programme = make_programme(capacity=1, mode="fcfs")
    first = apply_confirmed(programme, 1)
    assert state_of(app, first) == "admitted"
    token = status_token(app, first)
    page = client.get(f"/signup/status/{token}")
    assert b"Withdraw my application" in page.data
    # The box must be ticked.
    refused = client.submit(
        f"/signup/status/{token}/withdraw", {}, form_url=f"/signup/status/{token}"
    )
    assert refused.status_code == 422
    assert state_of(app, first) == "admitted"
    done = client.submit(
        f"/signup/status/{token}/withdraw",
        {"confirm": "y", "reason": "Changed jobs"},
        form_url=f"/signup/status/{token}",
    )
    assert done.status_code == 302
    assert state_of(app, first) == "withdrawn"
    assert trail(app, first)[-1] == ("admitted", "withdrawn", "applicant", "Changed jobs")
    assert _account(app, "person1@example.org").role == Role.APPLICANT
    # The seat is free at once: the next confirmation takes it without any job running.
    second = apply_confirmed(programme, 2)
    assert state_of(app, second) == "admitted"
    deliver_outbox(app)
    assert (
        _last(mailbox, "person1@example.org")["Subject"]
        == "Your Programme 1 application is withdrawn"
    )
    # A closed application cannot be withdrawn twice.
    again = client.submit(
        f"/signup/status/{token}/withdraw", {"confirm": "y"}, form_url="/signup/status"
    )
    assert again.status_code == 302
    assert b"already closed" in client.get(again.headers["Location"]).data


def test_a_freed_seat_is_offered_to_the_next_in_line_who_accepts(
    app, client, make_programme, apply_confirmed, mailbox
):
    programme = make_programme(capacity=1, mode="fcfs", offer_days=7)
    first, second, third = (apply_confirmed(programme, n) for n in range(1, 4))
    assert states(app, [first, second, third]) == ["admitted", "waitlisted", "waitlisted"]
    with app.app_context():
        applying.withdraw(first)
    # Seats pass on in the worker, to the head of the waitlist, not to whoever comes next.
    late = apply_confirmed(programme, 4)
    assert state_of(app, late) == "waitlisted"
    report = run_jobs(app)
    assert report.offered == 1
    assert states(app, [second, third, late]) == ["offered", "waitlisted", "waitlisted"]
    (offer,) = offers_of(app, second)
    assert offer.expires_at - offer.created_at == timedelta(days=7)

    deliver_outbox(app)
    message = _last(mailbox, "person2@example.org")
    assert message["Subject"] == "A place in Programme 1 is yours if you accept it"
    text = mailbox.text(message)
    assert "/accept" in text
    assert "/decline" in text
    assert "accept it by" in text
    html = mailbox.html(message)
    assert "Accept the place" in html

    accept = mailbox.last_link_to("person2@example.org", "/accept").replace(
        "http://portal.test", ""
    )
    confirm_page = client.get(accept)
    assert confirm_page.status_code == 200
    assert b"Yes, I accept the place" in confirm_page.data
    assert state_of(app, second) == "offered"  # opening the link changes nothing
    answered = client.submit(accept, {})
    assert answered.status_code == 302
    assert state_of(app, second) == "admitted"
    assert offers_of(app, second)[0].outcome == "accepted"
    assert run_jobs(app).offered == 0
    deliver_outbox(app)
    assert _last(mailbox, "person2@example.org")["Subject"] == "You are admitted to Programme 1"
    # The offer link is single-use.
    assert b"This offer is closed (accepted)" in client.get(accept).data
    reuse = client.submit(accept, {}, form_url="/signup/status")
    assert b"This offer is closed" in client.get(reuse.headers["Location"]).data


def test_a_declined_offer_passes_on(app, client, make_programme, apply_confirmed, staff):
    programme = make_programme(capacity=1, mode="fcfs")
    first, second, third = (apply_confirmed(programme, n) for n in range(1, 4))
    decide(app, [first], "reject", staff, "Data rights checked: none")
    run_jobs(app)
    assert state_of(app, second) == "offered"
    token = offer_token(app, second)
    status = client.get(f"/signup/status/{status_token(app, second)}")
    assert b"A place is yours" in status.data
    client.submit(f"/signup/offers/{token}/decline", {})
    assert state_of(app, second) == "declined"
    assert offers_of(app, second)[0].outcome == "declined"
    run_jobs(app)
    assert state_of(app, third) == "offered"


def test_an_unanswered_offer_is_reminded_once_then_expires_and_passes_on(
    app, client, make_programme, apply_confirmed, mailbox
):
    programme = make_programme(capacity=1, mode="fcfs", offer_days=7)
    first, second, third = (apply_confirmed(programme, n) for n in range(1, 4))
    with app.app_context():
        applying.withdraw(first)
    start = utcnow()
    run_jobs(app)
    assert state_of(app, second) == "offered"
    token = offer_token(app, second)

    with time_machine.travel(start + timedelta(days=5, hours=23), tick=False):
        assert run_jobs(app).reminded == 0
    with time_machine.travel(start + timedelta(days=6, hours=1), tick=False):
        assert run_jobs(app).reminded == 1
        assert run_jobs(app).reminded == 0  # once only
        deliver_outbox(app)
    reminder = _last(mailbox, "person2@example.org")
    assert reminder["Subject"] == "Reminder: your Programme 1 offer expires soon"
    assert "/accept" in mailbox.text(reminder)

    with time_machine.travel(start + timedelta(days=7, minutes=1), tick=False):
        # Before the worker notices, the deadline still holds.
        assert b"expired" in client.get(f"/signup/offers/{token}/accept").data
        late = client.submit(f"/signup/offers/{token}/accept", {}, form_url="/signup/status")
        assert b"expired" in client.get(late.headers["Location"]).data
        assert state_of(app, second) == "offered"
        report = run_jobs(app)
        assert (report.expired, report.offered) == (1, 1)
        assert states(app, [second, third]) == ["offer_expired", "offered"]
        assert run_jobs(app).expired == 0
        deliver_outbox(app)
    expired = _last(mailbox, "person2@example.org")
    assert expired["Subject"] == "Your Programme 1 offer has expired"
    assert mailbox.html(expired)
    assert offers_of(app, second)[0].outcome == "expired"
    assert trail(app, second)[-1] == (
        "offered",
        "offer_expired",
        "portal",
        "No answer before the deadline",
    )


def test_raising_capacity_offers_the_new_seats_and_lowering_below_seats_is_refused(
    app, make_programme, apply_confirmed
):
    programme = make_programme(capacity=1, mode="fcfs")
    ids = [apply_confirmed(programme, n) for n in range(1, 5)]
    assert states(app, ids) == ["admitted", "waitlisted", "waitlisted", "waitlisted"]
    with app.app_context():
        wave = db.session.get(Wave, programme.wave_id)
        values = wave_fields(wave)
        save_wave(programme.id, wave.id, WaveFields(**{**vars(values), "capacity": 3}))
    assert run_jobs(app).offered == 2
    assert states(app, ids) == ["admitted", "offered", "offered", "waitlisted"]
    with app.app_context(), pytest.raises(CapacityBelowSeatsTaken, match="3 seats are already"):
        save_wave(programme.id, programme.wave_id, WaveFields(**{**vars(values), "capacity": 2}))


def test_staff_priority_moves_someone_up_the_waitlist(app, make_programme, apply_confirmed, staff):
    programme = make_programme(capacity=1, mode="fcfs")
    ids = [apply_confirmed(programme, n) for n in range(1, 5)]
    with app.app_context():
        user = db.session.get(User, staff.id)
        decisions.set_priority(ids[3], 5, user, "Leads the Chilean outreach network")
        positions = [queries.waitlist_position(db.session.get(Application, i)) for i in ids[1:]]
    assert positions == [2, 3, 1]
    assert "Priority 0 → 5" in trail(app, ids[3])[-1][3]
    with app.app_context():
        applying.withdraw(ids[0])
    run_jobs(app)
    assert state_of(app, ids[3]) == "offered"


def test_a_first_come_wave_that_opens_later_takes_people_in_confirmation_order(
    app, make_programme, apply_confirmed
):
    opens = utcnow() + timedelta(days=2)
    programme = make_programme(capacity=2, mode="fcfs", opens=opens)
    ids = [apply_confirmed(programme, n) for n in range(1, 4)]
    assert states(app, ids) == ["pending"] * 3
    assert run_jobs(app).admitted == 0
    with time_machine.travel(opens + timedelta(minutes=1), tick=False):
        report = run_jobs(app)
    assert (report.admitted, report.waitlisted) == (2, 1)
    assert states(app, ids) == ["admitted", "admitted", "waitlisted"]


def _add_wave(app, programme, **changes) -> int:
    with app.app_context():
        wave = save_wave(
            programme.id,
            None,
            WaveFields(
                slug="wave-2",
                name="Wave 2",
                opens_at=changes.pop("opens_at", utcnow()),
                closes_at=None,
                capacity=changes.pop("capacity", 2),
                mode="fcfs",
            ),
        )
        return int(wave.id)


def test_the_waitlist_carries_over_to_the_next_wave(app, make_programme, apply_confirmed):
    programme = make_programme(capacity=1, mode="fcfs")
    first, second, third = (apply_confirmed(programme, n) for n in range(1, 4))
    next_wave = _add_wave(app, programme, capacity=1)
    report = run_jobs(app)
    assert report.carried_over == 2
    assert report.offered == 1
    assert states(app, [first, second, third]) == ["admitted", "offered", "waitlisted"]
    with app.app_context():
        assert db.session.get(Application, third).wave_id == next_wave
    assert "carried over from Wave 1 to Wave 2" in trail(app, third)[-1][3]
    assert run_jobs(app).carried_over == 0


def test_a_wave_whose_waitlist_does_not_carry_over_closes_it(
    app, make_programme, apply_confirmed, mailbox
):
    programme = make_programme(capacity=1, mode="fcfs", carry_over=False)
    first, second = (apply_confirmed(programme, n) for n in range(1, 3))
    _add_wave(app, programme)
    assert run_jobs(app).closed == 1
    assert states(app, [first, second]) == ["admitted", "rejected"]
    deliver_outbox(app)
    assert "cannot offer you a place" in mailbox.text(_last(mailbox, "person2@example.org"))


def test_staff_close_the_waitlist(app, make_programme, apply_confirmed, staff, mailbox):
    programme = make_programme(capacity=1, mode="fcfs")
    ids = [apply_confirmed(programme, n) for n in range(1, 4)]
    with app.app_context():
        closed = decisions.close_waitlist(programme.id, db.session.get(User, staff.id), "Done")
    assert closed == 2
    assert states(app, ids) == ["admitted", "rejected", "rejected"]
    deliver_outbox(app)
    assert _last(mailbox, "person3@example.org")["Subject"] == "Your application to Programme 1"


def test_every_sign_up_email_has_a_text_and_an_html_part(
    app, client, make_programme, apply_confirmed, submit, mailbox, staff
):
    programme = make_programme(capacity=1, mode="fcfs")
    first, _second, third = (apply_confirmed(programme, n) for n in range(1, 4))
    submit(programme, 4)
    apply_confirmed(programme, 5, data_rights="not_sure")
    with app.app_context():
        applying.withdraw(first)
    start = utcnow()
    run_jobs(app)
    # Messages are due when they were written: deliver them at that (moved) time.
    with time_machine.travel(start + timedelta(days=6, hours=2), tick=False):
        run_jobs(app)
        deliver_outbox(app)
    with time_machine.travel(start + timedelta(days=8), tick=False):
        run_jobs(app)
        deliver_outbox(app)
    decide(app, [third], "reject", staff)
    deliver_outbox(app)
    client.submit("/signup/status", {"email": "person2@example.org"})
    deliver_outbox(app)
    templates = {
        "Confirm your email": 0,
        "We received": 0,
        "You are admitted": 0,
        "waitlist": 0,
        "is yours if you accept": 0,
        "Reminder": 0,
        "has expired": 0,
        "Your application to": 0,
        "is withdrawn": 0,
    }
    for message in mailbox.messages:
        assert mailbox.text(message).strip(), message["Subject"]
        assert "<p>" in mailbox.html(message), message["Subject"]
        for key in templates:
            if key in str(message["Subject"]):
                templates[key] += 1
    assert all(templates.values()), templates


def _in_state(app, make_programme, apply_confirmed, submit, staff, state: str) -> int:
    """An application brought to `state` the way it happens for real."""
    programme = make_programme(capacity=5, mode="reviewed")
    if state == "unverified":
        return int(submit(programme, 1))
    application = apply_confirmed(programme, 1)
    if state in ("admitted", "withdrawn"):
        decide(app, [application], "admit", staff)
    if state == "withdrawn":
        with app.app_context():
            applying.withdraw(application)
    if state == "rejected":
        decide(app, [application], "reject", staff)
    if state in ("waitlisted", "offered", "declined", "offer_expired"):
        decide(app, [application], "waitlist", staff)
    if state in ("offered", "declined", "offer_expired"):
        run_jobs(app)
    if state == "declined":
        with app.app_context():
            applying.answer_offer(offer_token(app, application), accept=False)
    if state == "offer_expired":
        with time_machine.travel(utcnow() + timedelta(days=8), tick=False):
            run_jobs(app)
    assert state_of(app, application) == state
    return int(application)


ALL_STATES = [
    "unverified", "pending", "waitlisted", "offered", "admitted", "declined", "offer_expired",
    "rejected", "withdrawn",
]  # fmt: skip


@pytest.mark.parametrize("state", ALL_STATES)
def test_staff_decisions_from_every_state(
    app, make_programme, apply_confirmed, submit, staff, state
):
    for action, (target, allowed) in decisions.STAFF_ACTIONS.items():
        application = _in_state(app, make_programme, apply_confirmed, submit, staff, state)
        changed, _, skipped = decide(app, [application], action, staff)
        if state in allowed:
            assert (changed, state_of(app, application)) == ([application], target), action
        else:
            assert (skipped, state_of(app, application)) == ([application], state), action


@pytest.mark.parametrize("state", ALL_STATES)
def test_withdrawing_from_every_state(app, make_programme, apply_confirmed, submit, staff, state):
    application = _in_state(app, make_programme, apply_confirmed, submit, staff, state)
    with app.app_context():
        if state in ("unverified", "pending", "waitlisted", "offered", "admitted"):
            applying.withdraw(application)
        else:
            with pytest.raises(NotAllowed, match="already closed"):
                applying.withdraw(application)
            return
    assert state_of(app, application) == "withdrawn"
    if state == "offered":
        assert offers_of(app, application)[-1].outcome == "withdrawn"
