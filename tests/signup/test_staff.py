"""Staff screens and the JSON API: the review queue (filters, search, order, pages), bulk
decisions that stop at the limits, an application's page with notes and its audit trail, the
dashboard, and the API with per-staff tokens."""

from __future__ import annotations

import re
from itertools import product

import pytest
from sqlalchemy import event, select

from portal.auth import services as auth_services
from portal.auth.models import User
from portal.core.roles import Role
from portal.extensions import db
from portal.signup.attributes import EXPERIENCE_LEVELS, overall_experience
from portal.signup.models import Application, StaffNote
from portal.signup.reports import QueueFilters, application_query
from tests.signup.conftest import state_of, states, status_token


@pytest.fixture
def staff_client(make_user, login):
    return login(make_user(Role.STAFF, email="reviewer@example.org", name="Rey Viewer"))


def _names(body: str) -> list[str]:
    return re.findall(r'/staff/signup/applications/\d+">([^<]+)</a>', body)


def test_the_queue_filters_searches_orders_and_pages(
    app, staff_client, make_programme, apply_confirmed, submit
):
    programme = make_programme(capacity=1, mode="reviewed")
    apply_confirmed(programme, 1, full_name="Ana Soto", country="CL", science_collaborations=[])
    apply_confirmed(
        programme,
        2,
        full_name="Bo Weber",
        experience_python="expert",
        experience_jupyter="expert",
        experience_sql="intermediate",
    )
    apply_confirmed(programme, 3, full_name="Cy Ito", institution="Adler Planetarium")
    submit(programme, 4, full_name="Di Unconfirmed")
    base = f"/staff/signup/applications?programme={programme.id}"

    everyone = staff_client.get(base).data.decode()
    assert _names(everyone) == ["Ana Soto", "Bo Weber", "Cy Ito", "Di Unconfirmed"]
    assert "4 applications" in everyone
    assert _names(staff_client.get(base + "&state=unverified").data.decode()) == ["Di Unconfirmed"]
    assert _names(staff_client.get(base + "&attribute=region:latin_america").data.decode()) == [
        "Ana Soto"
    ]
    no_sc = staff_client.get(base + "&attribute=science_collaboration:none").data.decode()
    assert _names(no_sc) == ["Ana Soto"]
    assert _names(staff_client.get(base + "&attribute=experience:expert").data.decode()) == [
        "Bo Weber"
    ]
    beginners = staff_client.get(base + "&attribute=experience:beginner").data.decode()
    assert _names(beginners) == ["Ana Soto", "Cy Ito", "Di Unconfirmed"]
    assert _names(staff_client.get(base + "&q=planetarium").data.decode()) == ["Cy Ito"]
    assert _names(staff_client.get(base + "&sort=recent").data.decode())[0] == "Di Unconfirmed"
    # A filter value that is not one of the choices is ignored, not an error.
    assert staff_client.get(base + "&state=bogus&wave=abc").status_code == 200
    assert staff_client.get("/staff/signup/applications?programme=999").status_code == 404


def test_the_queue_pages(app, staff_client, make_programme, submit):
    programme = make_programme(mode="reviewed")
    for n in range(53):
        submit(programme, n)
    first = staff_client.get(f"/staff/signup/applications?programme={programme.id}").data
    assert b"Page 1 of 2 (53 in all)" in first
    second = staff_client.get(f"/staff/signup/applications?programme={programme.id}&page=2")
    assert len(_names(second.data.decode())) == 3


def test_bulk_admission_stops_at_the_limit_and_reports_who_did_not_fit(
    app, staff_client, make_programme, apply_confirmed
):
    programme = make_programme(capacity=2, mode="reviewed")
    ids = [apply_confirmed(programme, n) for n in range(1, 5)]
    url = f"/staff/signup/applications?programme={programme.id}&sort=verified"
    missing_reason = staff_client.submit(url, {"ids": [str(i) for i in ids], "action": "admit"})
    assert missing_reason.status_code == 422
    assert re.search(rb'value="%d"[^>]*checked' % ids[0], missing_reason.data)
    nothing = staff_client.submit(url, {"action": "admit", "reason": "Round 1"})
    assert nothing.status_code == 422
    assert b"Tick at least one application" in nothing.data

    response = staff_client.submit(
        url, {"ids": [str(i) for i in ids], "action": "admit", "reason": "Round 1"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == url
    assert states(app, ids) == ["admitted", "admitted", "pending", "pending"]
    page = staff_client.get(response.headers["Location"]).data
    assert b"Admitted: 2." in page
    assert b"Did not fit (2): Person 3, Person 4. Wave 1 is full (2 of 2)." in page
    rejected = staff_client.submit(
        url, {"ids": [str(ids[0]), str(ids[2])], "action": "waitlist", "reason": "r"}
    )
    assert (
        b"Skipped (1): Person 1: cannot waitlist from admitted"
        in staff_client.get(rejected.headers["Location"]).data
    )


def test_the_application_page_notes_priority_decisions_and_trail(
    app, client, staff_client, make_programme, apply_confirmed
):
    programme = make_programme(capacity=1, mode="fcfs")
    first = apply_confirmed(programme, 1)
    second = apply_confirmed(programme, 2)
    url = f"/staff/signup/applications/{second}"
    page = staff_client.get(url)
    assert page.status_code == 200
    assert b"position 1 on the waitlist" in page.data
    assert b"Email address confirmed" in page.data
    assert staff_client.get("/staff/signup/applications/99999").status_code == 404

    assert staff_client.submit(url + "/notes", {"body": ""}, form_url=url).status_code == 422
    staff_client.submit(url + "/notes", {"body": "Knows the *Chilean* network"}, form_url=url)
    shown = staff_client.get(url).data.decode()
    assert "<em>Chilean</em>" in shown
    with app.app_context():
        note = db.session.scalar(select(StaffNote))
        assert note.author_label == "Rey Viewer <reviewer@example.org>"
    # Notes are private: the applicant's page never shows them.
    assert b"Chilean" not in client.get(f"/signup/status/{status_token(app, second)}").data

    bad = staff_client.submit(url + "/priority", {"priority": "many", "reason": "x"}, form_url=url)
    assert bad.status_code == 422
    staff_client.submit(url + "/priority", {"priority": "3", "reason": "Outreach"}, form_url=url)
    assert b"Priority 0 \xe2\x86\x92 3: Outreach" in staff_client.get(url).data

    full = staff_client.submit(
        url + "/decision", {"action": "admit", "reason": "Exception"}, form_url=url
    )
    assert b"Did not fit" in staff_client.get(full.headers["Location"]).data
    assert state_of(app, second) == "waitlisted"
    staff_client.submit(
        f"/staff/signup/applications/{first}/decision",
        {"action": "reject", "reason": "Duplicate account"},
        form_url=url,
    )
    staff_client.submit(
        url + "/decision", {"action": "admit", "reason": "Seat freed"}, form_url=url
    )
    assert states(app, [first, second]) == ["rejected", "admitted"]
    staff_client.submit(url + "/decision", {"action": "undo", "reason": "Oops"}, form_url=url)
    assert state_of(app, second) == "waitlisted"
    trail_page = staff_client.get(url).data.decode()
    assert "Undo (waitlisted → admitted): Oops" in trail_page
    assert "Rey Viewer" in trail_page


def test_the_dashboard_counts_and_draws_on_the_server(
    app, staff_client, make_programme, apply_confirmed, submit
):
    programme = make_programme(
        capacity=2, mode="fcfs", targets={("sc_member", "yes"): 0.4, ("region", "europe"): 0.1}
    )
    for n in range(1, 5):
        apply_confirmed(programme, n)
    submit(programme, 9)
    apply_confirmed(programme, 10, data_rights="not_sure")
    page = staff_client.get(f"/staff/signup/?programme={programme.id}")
    body = page.data.decode()
    assert page.status_code == 200
    assert "2 / 300</span> admitted" in body
    assert "Waitlisted: 2" in body
    assert "Pending review: 1" in body
    assert "Email not confirmed: 1" in body
    assert "<svg" in body
    assert "Applications per day" in body
    assert "Member of an LSST Science Collaboration: Yes" in body
    assert "100.0 %" in body  # both admitted are DESC members
    for tag in body.split("<script")[1:]:
        assert "src=" in tag.split(">")[0]
    assert " style=" not in body


# --- the API --------------------------------------------------------------------------------


@pytest.fixture
def token(app, make_user) -> str:
    user = make_user(Role.STAFF, email="script@example.org")
    with app.app_context():
        return auth_services.create_api_token(db.session.get(User, user.id), "stats script")


def _get(client, path: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(path, headers=headers)


def test_the_api_gives_numbers_applications_and_delegates(
    app, client, token, make_programme, apply_confirmed, submit
):
    programme = make_programme(capacity=2, mode="fcfs", targets={("sc_member", "yes"): 0.4})
    for n in range(1, 4):
        apply_confirmed(programme, n)
    submit(programme, 4)
    listing = _get(client, "/api/v1/signup/programmes", token).get_json()
    (stats,) = listing["programmes"]
    assert stats["delegates"]["admitted"] == 2
    assert stats["delegates"]["waitlisted"] == 1
    assert stats["waves"][0]["status"] == "open"

    detail = _get(client, f"/api/v1/signup/programmes/{programme.id}", token).get_json()
    assert sum(day["applications"] for day in detail["applications_per_day"]) == 4
    assert detail["composition"]["targets"][0]["achieved"] == 1.0

    base = f"/api/v1/signup/programmes/{programme.id}/applications"
    page = _get(client, base + "?per_page=2&sort=verified", token).get_json()
    assert (page["total"], page["pages"], len(page["items"])) == (4, 2, 2)
    assert page["items"][0]["email"] == "person1@example.org"
    assert "notes" not in page["items"][0]
    waiting = _get(client, base + "?state=waitlisted&wave=wave-1", token).get_json()
    assert [a["email"] for a in waiting["items"]] == ["person3@example.org"]
    desc = _get(client, base + "?attribute=science_collaboration:desc", token).get_json()
    assert desc["total"] == 4

    delegates = _get(client, f"/api/v1/signup/programmes/{programme.id}/delegates", token)
    assert [d["email"] for d in delegates.get_json()["delegates"]] == [
        "person1@example.org",
        "person2@example.org",
    ]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("state=lost", "state: Input should be 'unverified'"),
        ("wave=nope", "wave must be"),
        ("attribute=shoe_size:42", "attribute: Should look like career_stage:graduate"),
        ("sort=random", "sort: Should be one of: waitlist"),
        ("plus_one=maybe", "plus_one: Input should be '', 'yes' or 'no'"),
        ("page=0", "page: Input should be greater than or equal to 1"),
        ("per_page=abc", "per_page: Input should be a valid integer"),
    ],
)
def test_the_api_says_what_is_wrong_with_a_request(
    app, client, token, make_programme, query, reason
):
    programme = make_programme()
    response = _get(client, f"/api/v1/signup/programmes/{programme.id}/applications?{query}", token)
    assert response.status_code == 422
    assert reason in response.get_json()["reason"]


def test_the_api_needs_a_staff_token(app, client, token, make_programme, make_user, login):
    programme = make_programme()
    assert _get(client, "/api/v1/signup/programmes", None).status_code == 401
    assert _get(client, "/api/v1/signup/programmes", "dp0_wrong").status_code == 401
    # A staff session cookie is not a token.
    browser = login(make_user(Role.STAFF))
    assert browser.get("/api/v1/signup/programmes").status_code == 401
    missing = _get(client, "/api/v1/signup/programmes/999", token)
    assert missing.status_code == 404
    assert "no programme 999" in missing.get_json()["reason"]
    assert (
        _get(client, f"/api/v1/signup/programmes/{programme.id}/delegates", token).status_code
        == 200
    )


def test_the_experience_filter_agrees_with_the_experience_attribute(app, make_programme, submit):
    """The queue filters experience in SQL; targets and cohorts read it in Python."""
    levels = [value for value, _ in EXPERIENCE_LEVELS]
    programme = make_programme(mode="reviewed")
    for n, (python, jupyter, sql) in enumerate(product(levels, repeat=3)):
        submit(
            programme, n, experience_python=python, experience_jupyter=jupyter, experience_sql=sql
        )
    with app.app_context():
        everyone = db.session.scalars(select(Application)).all()
        for level in levels:
            query = application_query(
                QueueFilters(programme_id=programme.id, attribute=f"experience:{level}")
            )
            found = {a.id for a in db.session.scalars(query)}
            assert found == {a.id for a in everyone if overall_experience(a) == level}, level


def _queries_for(app, client, path: str, token: str) -> int:
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert _get(client, path, token).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def test_the_api_application_page_reads_a_fixed_number_of_queries(
    app, client, token, make_programme, submit
):
    programme = make_programme(capacity=50)
    path = f"/api/v1/signup/programmes/{programme.id}/applications?per_page=200"
    submit(programme, 1)
    few = _queries_for(app, client, path, token)
    for n in range(2, 22):
        submit(programme, n, science_collaborations=["desc", "galaxies"])
    many = _queries_for(app, client, path, token)
    assert many <= few, f"{few} queries for 1 application, {many} for 21"
