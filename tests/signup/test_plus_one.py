"""Plus One: an admitted delegate sponsors one student or junior colleague, who is admitted
against a separate quota once the sponsor confirms."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from portal.core.db import transaction
from portal.extensions import db
from portal.signup import applying, queries
from portal.signup.models import Application
from portal.signup.seats import seats_held
from tests.conftest import deliver_outbox
from tests.signup.conftest import form_data, run_jobs, state_of, states, status_token, trail


def _take_sponsor_slot(sponsor: int) -> None:
    """Mark the sponsor's own application as their live Plus One, beside the real one."""
    application = db.session.get(Application, sponsor)
    application.active_sponsor_id = sponsor
    db.session.flush()


def _sponsor_link(mailbox, sponsor_email: str) -> str:
    return mailbox.last_link_to(sponsor_email, "/signup/sponsor/").replace("http://portal.test", "")


def test_a_delegate_brings_a_plus_one_who_counts_against_a_separate_quota(
    app, client, make_programme, apply_confirmed, confirm, mailbox
):
    programme = make_programme(capacity=1, mode="fcfs", plus_one=2)
    sponsor = apply_confirmed(programme, 1)
    assert state_of(app, sponsor) == "admitted"

    # The sponsor's status page explains Plus One and gives a pre-filled link to share.
    page = client.get(f"/signup/status/{status_token(app, sponsor)}").data.decode()
    assert "Plus One" in page
    assert (
        "http://portal.test/signup/?programme=prog-1&amp;plus_one_sponsor=person1@example.org"
        in page
    )

    response = client.submit(
        f"/signup/?programme={programme.slug}",
        form_data(2, plus_one_sponsor="Person1@example.org", career_stage="undergraduate"),
    )
    assert response.status_code == 200
    with app.app_context():
        student = db.session.scalar(
            db.select(Application).where(Application.email == "person2@example.org")
        )
        student_id = student.id
        assert student.is_plus_one
        assert student.sponsor_id == sponsor
    assert confirm(student_id) == "pending"
    deliver_outbox(app)
    request = [m for m in mailbox.to("person1@example.org") if "Plus One" in m["Subject"]]
    assert len(request) == 1
    assert "Person 2" in mailbox.text(request[0])

    link = _sponsor_link(mailbox, "person1@example.org")
    shown = client.get(link)
    assert b"Confirm my Plus One" in shown.data
    confirmed = client.submit(link, {"answer": "confirm"})
    assert confirmed.status_code == 302
    # Admitted although the wave is full: the Plus One quota is its own.
    assert state_of(app, student_id) == "admitted"
    with app.app_context():
        assert seats_held(programme.id, wave_id=programme.wave_id) == 1
        assert seats_held(programme.id, plus_one=True) == 1
    assert trail(app, student_id)[-1][3] == "Plus One confirmed by person1@example.org"
    deliver_outbox(app)
    admitted = mailbox.to("person2@example.org")[-1]
    assert "as the Plus One of Person 1" in mailbox.text(admitted)
    # The request cannot be answered twice.
    assert b"This request is answered" in client.get(link).data
    again = client.submit(link, {"answer": "decline"}, form_url="/signup/status")
    assert b"already been answered" in client.get(again.headers["Location"]).data


@pytest.mark.parametrize(
    ("sponsor_email", "message"),
    [
        ("nobody@example.org", b"no admitted"),
        ("person2@example.org", b"own Plus One sponsor"),
        ("person3@example.org", b"no admitted"),  # applied, but not admitted
    ],
)
def test_only_an_admitted_delegate_can_sponsor(
    app, client, make_programme, apply_confirmed, sponsor_email, message
):
    programme = make_programme(capacity=1, mode="fcfs")
    apply_confirmed(programme, 1)
    apply_confirmed(programme, 3)
    response = client.submit("/signup/", form_data(2, plus_one_sponsor=sponsor_email))
    assert response.status_code == 422
    assert message in response.data
    assert b'id="plus_one_sponsor-error"' in response.data


def test_one_plus_one_per_sponsor_until_it_ends(app, client, make_programme, apply_confirmed):
    programme = make_programme(capacity=1, mode="fcfs", plus_one=5)
    sponsor = apply_confirmed(programme, 1)
    first = apply_confirmed(programme, 2, plus_one_sponsor="person1@example.org")
    second = client.submit("/signup/", form_data(3, plus_one_sponsor="person1@example.org"))
    assert second.status_code == 422
    assert b"already sponsors a Plus One" in second.data
    # The database itself allows one live Plus One per sponsor.
    with app.app_context(), pytest.raises(IntegrityError), transaction():
        _take_sponsor_slot(sponsor)
    # Once the first Plus One leaves, the sponsor may bring someone else.
    with app.app_context():
        applying.withdraw(first)
    assert (
        client.submit("/signup/", form_data(3, plus_one_sponsor="person1@example.org")).status_code
        == 200
    )


def test_a_sponsor_who_declines_ends_the_plus_one_application(
    app, client, make_programme, apply_confirmed, mailbox
):
    programme = make_programme(capacity=1, mode="fcfs")
    apply_confirmed(programme, 1)
    student = apply_confirmed(programme, 2, plus_one_sponsor="person1@example.org")
    deliver_outbox(app)
    client.submit(_sponsor_link(mailbox, "person1@example.org"), {"answer": "decline"})
    assert state_of(app, student) == "rejected"
    assert trail(app, student)[-1][2] == "sponsor"
    deliver_outbox(app)
    assert "cannot offer you a place as a Plus One" in mailbox.text(
        mailbox.to("person2@example.org")[-1]
    )


def test_a_full_plus_one_quota_waitlists_and_offers_freed_places(
    app, client, make_programme, apply_confirmed, mailbox
):
    programme = make_programme(capacity=5, mode="fcfs", plus_one=1)
    apply_confirmed(programme, 1)
    apply_confirmed(programme, 2)
    student_a = apply_confirmed(programme, 3, plus_one_sponsor="person1@example.org")
    student_b = apply_confirmed(programme, 4, plus_one_sponsor="person2@example.org")
    deliver_outbox(app)
    for sponsor in ["person1@example.org", "person2@example.org"]:
        client.submit(_sponsor_link(mailbox, sponsor), {"answer": "confirm"})
    assert states(app, [student_a, student_b]) == ["admitted", "waitlisted"]
    with app.app_context():
        position = queries.waitlist_position(db.session.get(Application, student_b))
    assert position == 1
    with app.app_context():
        applying.withdraw(student_a)
    assert run_jobs(app).offered == 1
    assert state_of(app, student_b) == "offered"


def test_a_plus_one_still_waiting_for_a_sponsor_who_leaves_is_told(
    app, make_programme, apply_confirmed, mailbox
):
    programme = make_programme(capacity=1, mode="fcfs")
    sponsor = apply_confirmed(programme, 1)
    student = apply_confirmed(programme, 2, plus_one_sponsor="person1@example.org")
    with app.app_context():
        applying.withdraw(sponsor)
    assert state_of(app, student) == "rejected"
    assert trail(app, student)[-1][3] == "The sponsor left the programme"
    deliver_outbox(app)
    assert "as a Plus One" in mailbox.text(mailbox.to("person2@example.org")[-1])
