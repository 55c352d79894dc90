"""Applying: the public form, pre-filling by link, email confirmation, the one-application rule,
and the status page reached from the emailed link or the account."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.core.db import transaction, utcnow
from portal.core.roles import Role
from portal.extensions import db
from portal.signup.models import Application, ApplicationState, Programme
from portal.signup.programmes import programme_fields, save_programme
from tests.conftest import deliver_outbox
from tests.signup.conftest import form_data, state_of, status_token, verify_token


def _application(app, email: str) -> Application:
    with app.app_context():
        application = db.session.scalar(select(Application).where(Application.email == email))
        assert application is not None
        application.collaborations  # noqa: B018 - loaded before the session closes
        db.session.expunge(application)
        return application


def test_the_form_is_the_home_pages_apply_link_and_prefills_from_the_link(
    app, client, make_programme
):
    programme = make_programme(mode="reviewed")
    home = client.get("/").data.decode()
    assert 'href="/signup/"' in home
    page = client.get(
        f"/signup/?programme={programme.slug}&institution=Universidad+de+Chile&country=CL"
        "&science_collaborations=tvs&science_collaborations=galaxies&accept_guidelines=y"
    )
    assert page.status_code == 200
    body = page.data.decode()
    assert 'value="Universidad de Chile"' in body
    assert re.search(r'<option selected value="CL">|<option value="CL" selected>', body)
    assert re.search(r'value="tvs"[^>]*checked|checked[^>]*value="tvs"', body)
    assert re.search(r'value="galaxies"[^>]*checked|checked[^>]*value="galaxies"', body)
    # A link cannot accept the guidelines for the person.
    assert not re.search(r'id="accept_guidelines"[^>]*checked', body)
    # The eight LSST Science Collaborations, named as such.
    for name in [
        "Dark Energy Science Collaboration (DESC)",
        "Galaxies",
        "Informatics and Statistics",
        "Active Galactic Nuclei",
        "Solar System",
        "Stars, Milky Way and Local Volume",
        "Strong Lensing",
        "Transients and Variable Stars",
    ]:
        assert name in body


def test_apply_confirm_by_emailed_link_and_see_the_status_page(
    app, client, make_programme, mailbox
):
    make_programme(mode="reviewed")
    response = client.submit("/signup/", form_data(1, full_name="Ada Quispe"))
    assert response.status_code == 200
    assert b"Check your email" in response.data
    application = _application(app, "person1@example.org")
    assert application.state == ApplicationState.UNVERIFIED
    assert application.collaboration_codes == ["desc"]

    deliver_outbox(app)
    (message,) = mailbox.to("person1@example.org")
    assert "Confirm your email" in message["Subject"]
    assert "/signup/verify/" in mailbox.html(message)
    link = mailbox.last_link_to("person1@example.org", "/signup/verify/")
    confirmed = client.get(link.replace("http://portal.test", ""))
    assert confirmed.status_code == 302
    assert confirmed.headers["Location"].startswith("/signup/status/")
    assert state_of(app, application.id) == ApplicationState.PENDING
    status = client.get(confirmed.headers["Location"])
    assert b"Under review" in status.data
    assert b"Ada Quispe" in status.data

    # The second click changes nothing.
    again = client.get(link.replace("http://portal.test", ""))
    assert again.status_code == 302
    deliver_outbox(app)
    received = [m for m in mailbox.to("person1@example.org") if "received" in m["Subject"]]
    assert len(received) == 1
    assert "/signup/status/" in mailbox.text(received[0])


def test_bad_and_expired_links_say_so_and_offer_a_new_one(app, client, make_programme, submit):
    programme = make_programme(mode="reviewed")
    application_id = submit(programme, 1)
    assert client.get("/signup/verify/not-a-token").status_code == 400
    assert client.get("/signup/status/not-a-token").status_code == 400
    token = verify_token(app, application_id)
    with time_machine.travel(utcnow() + timedelta(days=3), tick=False):
        expired = client.get(f"/signup/verify/{token}")
    assert expired.status_code == 400
    assert b"expired" in expired.data
    assert b"Email me a new link" in expired.data
    assert state_of(app, application_id) == ApplicationState.UNVERIFIED


def test_asking_for_the_status_link_sends_it_without_revealing_who_applied(
    app, client, make_programme, apply_confirmed, submit, mailbox
):
    programme = make_programme(mode="reviewed")
    apply_confirmed(programme, 1)
    submit(programme, 2)
    answers = [
        client.submit("/signup/status", {"email": email})
        for email in ["person1@example.org", "person2@example.org", "nobody@example.org"]
    ]
    assert {a.status_code for a in answers} == {200}
    assert answers[0].data.replace(b"person1", b"X") == answers[2].data.replace(b"nobody", b"X")
    deliver_outbox(app)
    assert "/signup/status/" in mailbox.text(mailbox.to("person1@example.org")[-1])
    # An unconfirmed application gets a fresh confirmation link instead.
    assert "/signup/verify/" in mailbox.text(mailbox.to("person2@example.org")[-1])
    assert mailbox.to("nobody@example.org") == []


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"github_username": "-leading-hyphen"}, "github_username", "single hyphens"),
        ({"github_username": "double--hyphen"}, "github_username", "single hyphens"),
        ({"github_username": "a" * 40}, "github_username", "39"),
        ({"email": "not-an-email"}, "email", "email"),
        ({"accept_guidelines": ""}, "accept_guidelines", "accept the delegate guidelines"),
        ({"data_rights": "not_sure", "data_rights_basis": " "}, "data_rights_basis", "based on"),
        ({"country": "XX"}, "country", "Not a valid choice"),
        ({"science_collaborations": ["desc", "cosmic-rays"]}, "science_collaborations", "valid"),
        ({"experience_sql": ""}, "experience_sql", ""),
        ({"contribution": "x" * 3001}, "contribution", "3000"),
    ],
)
def test_bad_input_re_renders_the_form_with_what_was_typed(
    app, client, make_programme, overrides, field, message
):
    make_programme(mode="reviewed")
    response = client.submit("/signup/", form_data(7, full_name="Zainab Okafor", **overrides))
    assert response.status_code == 422
    body = response.data.decode()
    assert f'id="{field}-error"' in body or f'href="#{field}"' in body
    assert message.lower() in body.lower()
    assert 'value="Zainab Okafor"' in body
    with app.app_context():
        assert db.session.scalar(select(Application.id)) is None


def test_a_valid_github_username_passes(app, client, make_programme):
    make_programme(mode="reviewed")
    response = client.submit("/signup/", form_data(1, github_username="A-b-3"))
    assert response.status_code == 200
    assert _application(app, "person1@example.org").github_username == "A-b-3"


def _page(response, email: str) -> str:
    return response.data.decode().replace(email, "EMAIL")


def test_one_application_per_person_without_the_form_telling_who_applied(
    app, client, make_programme, mailbox, confirm
):
    make_programme(mode="reviewed")
    assert client.submit("/signup/", form_data(1)).status_code == 200
    fresh = client.submit("/signup/", form_data(5))  # someone new, for comparison
    same_email = client.submit(
        "/signup/", form_data(2, email="PERSON1@Example.org", full_name="Typed Again")
    )
    # GitHub usernames are case-insensitive.
    same_github = client.submit("/signup/", form_data(3, github_username="PERSON-1"))
    assert same_email.status_code == fresh.status_code == same_github.status_code == 200
    assert _page(same_email, "person1@example.org") == _page(fresh, "person5@example.org")
    assert _page(same_github, "person3@example.org") == _page(fresh, "person5@example.org")
    deliver_outbox(app)
    # The owner is told by email instead, with a fresh link to confirm (not confirmed yet).
    _verify, again = mailbox.to("person1@example.org")
    assert again["Subject"] == "You have already applied to Programme 1"
    assert "nothing was changed" in mailbox.text(again)
    assert "/signup/verify/" in mailbox.text(again)
    # The GitHub username's clash is told only to the address typed, naming no one.
    [taken] = mailbox.to("person3@example.org")
    assert taken["Subject"] == "We could not take your application to Programme 1"
    assert "PERSON-1 is already on another application" in mailbox.text(taken)
    assert "person1" not in mailbox.text(taken).replace("PERSON-1", "")
    with app.app_context():
        kept = db.session.scalars(select(Application).order_by(Application.id)).all()
        assert [(a.email, a.full_name) for a in kept] == [
            ("person1@example.org", "Person 1"),
            ("person5@example.org", "Person 5"),
        ]
        first_id = kept[0].id
    # Once confirmed, the owner gets the status link instead.
    confirm(first_id)
    assert client.submit("/signup/", form_data(1)).status_code == 200
    deliver_outbox(app)
    latest = mailbox.to("person1@example.org")[-1]
    assert latest["Subject"] == "You have already applied to Programme 1"
    assert "/signup/status/" in mailbox.text(latest)


def test_the_form_mails_one_address_only_a_few_times_an_hour(app, make_programme):
    """Every answer of the form sends an email to the address typed: no one can flood an
    inbox with it, from however many addresses."""
    app.config["MAIL_RECIPIENT_RATE_LIMIT"] = "2 per hour"
    make_programme(mode="reviewed")
    statuses = [
        app.test_client()
        .submit(
            "/signup/",
            form_data(n, email="inbox@example.org"),
            environ_base={"REMOTE_ADDR": f"198.51.100.{n}"},
        )
        .status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_every_refusal_that_does_not_depend_on_who_applied_comes_first(app, client, make_programme):
    make_programme(mode="reviewed")
    client.submit("/signup/", form_data(1))
    sponsor = {"plus_one_sponsor": "nobody@example.org"}
    applied = client.submit("/signup/", form_data(1, **sponsor))
    new = client.submit("/signup/", form_data(6, **sponsor))
    # Both are refused for the sponsor, not one for the sponsor and one by "check your email".
    for refused in (applied, new):
        assert refused.status_code == 422
        assert b"We found no admitted" in refused.data


def test_signed_in_with_the_address_the_owner_is_told_on_the_form(
    app, make_programme, make_user, login
):
    make_programme(mode="reviewed")
    user = make_user(Role.APPLICANT, email="applicant8@example.org")
    client = login(user)
    assert client.submit("/signup/", form_data(8, email=user.email)).status_code == 302
    again = client.submit("/signup/", form_data(8, email=user.email, full_name="Typed Again"))
    assert again.status_code == 422
    assert b"You have already applied" in again.data
    assert b'value="Typed Again"' in again.data


def test_the_database_refuses_duplicates_even_without_the_form(app, make_programme, submit):
    programme = make_programme(mode="reviewed")
    first = submit(programme, 1)
    with app.app_context():
        original = db.session.get(Application, first)
        for clash in [{"github_key": "someone-else"}, {"email": "other@example.org"}]:
            copy = Application(
                programme_id=original.programme_id,
                wave_id=original.wave_id,
                email=clash.get("email", original.email),
                full_name="Copy",
                institution="x",
                institution_type="industry",
                country="US",
                career_stage="other",
                data_rights="yes",
                github_username="x",
                github_key=clash.get("github_key", original.github_key),
                experience_python="none",
                experience_jupyter="none",
                experience_sql="none",
                guidelines_accepted_at=utcnow(),
            )
            with pytest.raises(IntegrityError), transaction() as session:
                session.add_all([copy])


def test_the_same_person_may_apply_to_another_programme(app, client, make_programme):
    first = make_programme(mode="reviewed")
    second = make_programme(mode="reviewed")
    assert client.submit(f"/signup/?programme={first.slug}", form_data(1)).status_code == 200
    assert client.submit(f"/signup/?programme={second.slug}", form_data(1)).status_code == 200


def test_a_signed_in_verified_account_needs_no_confirmation_and_sees_its_applications(
    app, make_programme, make_user, login
):
    make_programme(mode="reviewed")
    user = make_user(Role.APPLICANT, email="applicant9@example.org", name="Nia Torres")
    client = login(user)
    page = client.get("/signup/").data.decode()
    assert 'value="Nia Torres"' in page
    assert 'value="applicant9@example.org"' in page
    response = client.submit("/signup/", form_data(9, email="applicant9@example.org"))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/signup/status/")
    application = _application(app, "applicant9@example.org")
    assert application.state == ApplicationState.PENDING
    assert application.user_id == user.id
    mine = client.get("/signup/mine")
    assert mine.status_code == 200
    assert b"Under review" in mine.data
    assert status_token(app, application.id).encode()[:20] in mine.data


def test_closed_programmes_and_waves_not_yet_open(app, client, make_programme, mailbox):
    assert b"no programme taking applications" in client.get("/signup/").data
    programme = make_programme(mode="fcfs", opens=utcnow() + timedelta(days=3))
    # A wave that opens later already takes applications (considered when it opens).
    page = client.get("/signup/")
    assert b"Opens" in page.data
    assert client.submit("/signup/", form_data(1)).status_code == 200
    with app.app_context():
        values = programme_fields(db.session.get(Programme, programme.id))
        save_programme(programme.id, replace(values, accepting_applications=False))
    closed = client.get("/signup/")
    assert b"Applications are closed" in closed.data
    late = client.submit("/signup/", form_data(2), form_url="/signup/status")
    assert b"Applications are closed" in late.data


def test_an_unconfirmed_application_whose_link_expired_gives_way_to_a_new_one(
    app, client, make_programme, mailbox
):
    make_programme(mode="reviewed")
    typo = form_data(1, email="perosn1@example.org", github_username="ada-q")
    assert client.submit("/signup/", typo).status_code == 200
    retry = form_data(1, email="person1@example.org", github_username="ada-q")
    # While the first link still works, the GitHub username is taken (and the address typed
    # is told so by email).
    assert client.submit("/signup/", retry).status_code == 200
    deliver_outbox(app)
    assert mailbox.to("person1@example.org")[-1]["Subject"].startswith("We could not take")
    with time_machine.travel(utcnow() + timedelta(days=3), tick=False):
        assert client.submit("/signup/", retry).status_code == 200
        deliver_outbox(app)
    assert mailbox.to("person1@example.org")[-1]["Subject"].startswith("Confirm your email")
    with app.app_context():
        emails = db.session.scalars(select(Application.email)).all()
    assert emails == ["person1@example.org"]
