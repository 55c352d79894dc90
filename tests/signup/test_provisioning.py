"""Provisioning against a stand-in of GitHub's REST API over real HTTP: team invitations on
admission, removal on withdrawal, GitHub outages, the status staff see, and the exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
import time_machine

from portal.core.db import utcnow
from portal.core.roles import Role
from portal.extensions import db
from portal.signup import applying
from portal.signup.models import Application
from tests.conftest import deliver_outbox
from tests.signup.conftest import run_jobs

ORG, TEAM = "rubin-dp0", "dp0-delegates"


@pytest.fixture
def app_config(github_standin):
    return {
        "GITHUB_TOKEN": github_standin.api_token,
        "GITHUB_ORG": ORG,
        "GITHUB_TEAM": TEAM,
        "GITHUB_API_URL": github_standin.url,
    }


def _team(standin) -> dict[str, str]:
    return dict(standin.memberships.get(f"{ORG}/{TEAM}", {}))


def _github(app, application_id: int) -> tuple[str, str | None]:
    with app.app_context():
        application = db.session.get(Application, application_id)
        return application.github_state, application.github_error


def _later(hours: float):
    return time_machine.travel(utcnow() + timedelta(hours=hours), tick=True)


def test_admission_invites_to_the_team_and_withdrawal_removes(
    app, make_programme, apply_confirmed, github_standin
):
    github_standin.add_user("person-2", 2002, "person2@example.org")
    programme = make_programme(capacity=5, mode="fcfs")
    first = apply_confirmed(programme, 1)
    second = apply_confirmed(programme, 2)
    assert _github(app, first) == ("queued", None)
    deliver_outbox(app)
    assert _team(github_standin) == {"person-1": "pending", "person-2": "active"}
    assert f"PUT /orgs/{ORG}/teams/{TEAM}/memberships/person-1" in github_standin.calls
    run_jobs(app)
    assert _github(app, first) == ("invited", None)
    assert _github(app, second) == ("active", None)

    with app.app_context():
        applying.withdraw(first)
    assert _github(app, first)[0] == "removing"
    deliver_outbox(app)
    run_jobs(app)
    assert _team(github_standin) == {"person-2": "active"}
    assert _github(app, first) == ("removed", None)


def test_the_team_status_follows_each_delivery_at_once(
    app, make_programme, apply_confirmed, github_standin
):
    """No periodic job copies what the outbox did: the status changes as it is recorded."""
    programme = make_programme(capacity=5, mode="fcfs")
    delegate = apply_confirmed(programme, 1)
    deliver_outbox(app)
    assert _github(app, delegate) == ("invited", None)
    with app.app_context():
        applying.withdraw(delegate)
    deliver_outbox(app)
    assert _github(app, delegate) == ("removed", None)


def test_a_removal_behind_an_invitation_that_gave_up_fails_with_it(
    app, make_programme, apply_confirmed, github_standin
):
    app.config["OUTBOX_MAX_ATTEMPTS"] = 1
    programme = make_programme(capacity=5, mode="fcfs")
    github_standin.down = True
    delegate = apply_confirmed(programme, 1)
    with app.app_context():
        applying.withdraw(delegate)
    deliver_outbox(app)
    state, error = _github(app, delegate)
    assert state == "failed"
    assert "depends on is dead" in error


def test_a_github_outage_is_retried_until_github_answers(
    app, make_programme, apply_confirmed, github_standin
):
    programme = make_programme(capacity=5, mode="fcfs")
    github_standin.down = True
    delegate = apply_confirmed(programme, 1)
    deliver_outbox(app)
    run_jobs(app)
    state, error = _github(app, delegate)
    assert state == "queued"
    assert "GitHub answered 503" in error
    assert _team(github_standin) == {}
    github_standin.down = False
    with _later(1):
        deliver_outbox(app)
        run_jobs(app)
    assert _team(github_standin) == {"person-1": "pending"}
    assert _github(app, delegate) == ("invited", None)


def test_calls_that_gave_up_are_tried_again_hours_later(
    app, make_programme, apply_confirmed, github_standin
):
    app.config["OUTBOX_MAX_ATTEMPTS"] = 2
    programme = make_programme(capacity=5, mode="fcfs")
    github_standin.down = True
    delegate = apply_confirmed(programme, 1)
    deliver_outbox(app)
    with _later(1):
        deliver_outbox(app)
        run_jobs(app)
    state, error = _github(app, delegate)
    assert state == "failed"
    assert "503" in error
    github_standin.down = False
    with _later(2):
        run_jobs(app)
        assert _github(app, delegate)[0] == "failed"  # not yet: six hours after it gave up
    with _later(7):
        run_jobs(app)
        assert _github(app, delegate)[0] == "queued"
        deliver_outbox(app)
        run_jobs(app)
    assert _github(app, delegate) == ("invited", None)
    assert _team(github_standin) == {"person-1": "pending"}


def test_a_refused_call_waits_for_staff_who_can_retry_it(
    app, make_programme, apply_confirmed, github_standin, make_user, login
):
    programme = make_programme(capacity=5, mode="fcfs")
    github_standin.fail_statuses = [422]
    delegate = apply_confirmed(programme, 1)
    deliver_outbox(app)
    run_jobs(app)
    state, error = _github(app, delegate)
    assert state == "failed"
    assert "422" in error
    with _later(8):
        run_jobs(app)
    assert _github(app, delegate)[0] == "failed"  # a refusal is not retried by itself

    client = login(make_user(Role.STAFF))
    page = client.get(f"/staff/signup/programmes/{programme.id}/provisioning")
    assert b"Failed" in page.data
    assert b"422" in page.data
    retried = client.submit(
        f"/staff/signup/programmes/{programme.id}/provisioning", {"action": "retry"}
    )
    assert retried.status_code == 302
    deliver_outbox(app)
    run_jobs(app)
    assert _github(app, delegate) == ("invited", None)


def test_a_removal_waits_for_the_invitation_it_follows(
    app, make_programme, apply_confirmed, github_standin
):
    programme = make_programme(capacity=5, mode="fcfs")
    github_standin.down = True
    delegate = apply_confirmed(programme, 1)
    deliver_outbox(app)
    with app.app_context():
        applying.withdraw(delegate)
    github_standin.down = False
    with _later(1):
        deliver_outbox(app)
        run_jobs(app)
    calls = [c for c in github_standin.calls if "/memberships/" in c]
    assert calls[-2:] == [
        f"PUT /orgs/{ORG}/teams/{TEAM}/memberships/person-1",
        f"DELETE /orgs/{ORG}/teams/{TEAM}/memberships/person-1",
    ]
    assert _team(github_standin) == {}
    assert _github(app, delegate)[0] == "removed"


def test_delegates_admitted_before_github_was_configured_can_be_invited(
    app, make_programme, apply_confirmed, github_standin, make_user, login
):
    app.config["GITHUB_TOKEN"] = ""
    programme = make_programme(capacity=5, mode="fcfs")
    delegate = apply_confirmed(programme, 1)
    assert _github(app, delegate)[0] == ""
    app.config["GITHUB_TOKEN"] = github_standin.api_token
    client = login(make_user(Role.STAFF))
    client.submit(f"/staff/signup/programmes/{programme.id}/provisioning", {"action": "invite"})
    deliver_outbox(app)
    assert _team(github_standin) == {"person-1": "pending"}


def test_exports_for_the_identity_system(app, make_programme, apply_confirmed, make_user, login):
    programme = make_programme(capacity=5, mode="fcfs")
    apply_confirmed(programme, 1, full_name='=HYPERLINK("http://evil")')
    apply_confirmed(programme, 2)
    apply_confirmed(programme, 3, data_rights="no")  # pending: not a delegate
    client = login(make_user(Role.STAFF))
    response = client.get(f"/staff/signup/programmes/{programme.id}/delegates.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.data.decode())))
    assert [r["github_username"] for r in rows] == ["person-1", "person-2"]
    assert rows[0]["full_name"].startswith("'=")  # a spreadsheet will not run it
    assert rows[1]["email"] == "person2@example.org"
    assert rows[1]["wave"] == "Wave 1"
    assert rows[1]["admitted_on"] == utcnow().date().isoformat()
    exported = json.loads(
        client.get(f"/staff/signup/programmes/{programme.id}/delegates.json").data
    )
    assert [d["github_username"] for d in exported["delegates"]] == ["person-1", "person-2"]
    assert exported["delegates"][0]["full_name"] == '=HYPERLINK("http://evil")'
