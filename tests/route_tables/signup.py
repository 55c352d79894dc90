"""Routes of delegate sign-up: the public form, status and privacy pages (open to anyone with the
link), the signed-in person's applications and changed notices, staff review (profiles,
decisions and cohorts for programme staff), programme settings and the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from portal.core.db import transaction, utcnow
from portal.extensions import db
from portal.signup import applying, jobs, links
from portal.signup.models import Application, CohortRun
from portal.signup.programmes import ProgrammeFields, WaveFields, save_programme, save_wave
from tests.route_tables import Route, admins, everyone, programme_staff, signed_in, staff
from tests.signup.conftest import application_input


def _apply(programme_id: int, n: int, **overrides: Any) -> int:
    result = applying.submit_application(programme_id, application_input(n, **overrides), None)
    application = result.application
    applying.verify_application(links.verify_token(application))
    return int(application.id)


def setup(app: Any, users: dict[str, Any]) -> dict[str, Any]:
    with app.app_context():
        programme = save_programme(
            None, ProgrammeFields(slug="dp0", name="DP0", total_capacity=10, plus_one_capacity=2)
        )
        wave = save_wave(
            programme.id,
            None,
            WaveFields(
                slug="wave-1",
                name="Wave 1",
                opens_at=utcnow() - timedelta(hours=1),
                closes_at=None,
                capacity=2,
                mode="fcfs",
            ),
        )
        admitted = _apply(programme.id, 1)
        leaving = _apply(programme.id, 2)
        waiting = _apply(programme.id, 3)
        applying.withdraw(leaving)
        jobs.run_signup_cycle()
        plus_one = _apply(programme.id, 4, plus_one_sponsor="person1@example.org")
        with transaction() as session:
            run = CohortRun(wave_id=wave.id, seed=1, size=1, pool_ids=[], proposed_ids=[])
            session.add(run)
        offered = db.session.get(Application, waiting)
        return {
            "programme_id": programme.id,
            "wave_id": wave.id,
            "application_id": admitted,
            "run_id": run.id,
            "status_token": links.status_token(db.session.get(Application, admitted)),
            "offer_token": links.offer_token(offered.offers[-1]),
            "sponsor_token": links.sponsor_token(db.session.get(Application, plus_one)),
        }


ROUTES = [
    # Public: the form, confirmation and the status pages work by signed link, for anyone.
    Route("GET", "/signup/", everyone(200)),
    Route("POST", "/signup/", everyone(422)),
    Route("GET", "/signup/verify/not-a-token", everyone(400)),
    Route("GET", "/signup/status", everyone(200)),
    Route("POST", "/signup/status", everyone(422)),
    Route("GET", "/signup/status/{status_token}", everyone(200)),
    Route("GET", "/signup/status/not-a-token", everyone(400)),
    Route("POST", "/signup/status/{status_token}/withdraw", everyone(422)),
    Route("GET", "/signup/offers/{offer_token}/accept", everyone(200)),
    Route("GET", "/signup/offers/{offer_token}/maybe", everyone(404)),
    Route("POST", "/signup/offers/{offer_token}/decline", everyone(302)),
    Route("GET", "/signup/sponsor/{sponsor_token}", everyone(200)),
    Route("POST", "/signup/sponsor/{sponsor_token}", everyone(302), data={"answer": "decline"}),
    Route("GET", "/signup/mine", signed_in(200)),
    Route("POST", "/signup/status/{status_token}/privacy", everyone(302)),
    Route("GET", "/signup/privacy/dp0", everyone(200)),
    Route("GET", "/signup/privacy/dp0/1", everyone(200)),
    Route("GET", "/signup/privacy/dp0/2", everyone(404)),
    Route("GET", "/signup/privacy/no-such-programme", everyone(404)),
    # Nothing changed for these accounts: the page sends them on.
    Route("GET", "/signup/privacy/changes", signed_in(302)),
    Route("POST", "/signup/privacy/changes", signed_in(302)),
    # Staff: every staff member sees who applied and where each application stands (the
    # dashboard, the queue and an application show profiles to programme staff only);
    # decisions and cohort selection are programme staff's.
    Route("GET", "/staff/signup/", staff(200)),
    Route("POST", "/staff/signup/programmes/{programme_id}/close-waitlist", programme_staff(422)),
    Route("GET", "/staff/signup/applications", staff(200)),
    Route("GET", "/staff/signup/applications?attribute=career_stage:graduate", staff(200)),
    Route("POST", "/staff/signup/applications", programme_staff(422)),
    Route("GET", "/staff/signup/applications/{application_id}", staff(200)),
    Route("GET", "/staff/signup/applications/999999", staff(404)),
    Route("POST", "/staff/signup/applications/{application_id}/decision", programme_staff(422)),
    Route("POST", "/staff/signup/applications/{application_id}/priority", programme_staff(422)),
    Route("POST", "/staff/signup/applications/{application_id}/notes", programme_staff(422)),
    Route("GET", "/staff/signup/waves/{wave_id}/cohort", programme_staff(200)),
    Route("POST", "/staff/signup/waves/{wave_id}/cohort", programme_staff(422)),
    Route("GET", "/staff/signup/cohort-runs/{run_id}", programme_staff(200)),
    Route("POST", "/staff/signup/cohort-runs/{run_id}", programme_staff(422)),
    Route("GET", "/staff/signup/programmes/{programme_id}/provisioning", staff(200)),
    Route(
        "POST",
        "/staff/signup/programmes/{programme_id}/provisioning",
        staff(302),
        data={"action": "retry"},
    ),
    Route("GET", "/staff/signup/programmes/{programme_id}/delegates.csv", staff(200)),
    Route("GET", "/staff/signup/programmes/{programme_id}/delegates.json", staff(200)),
    # Programme staff and admins configure programmes, waves, targets and the privacy notice;
    # only admins create programmes.
    Route("GET", "/admin/signup/", programme_staff(200)),
    Route("GET", "/admin/signup/programmes/new", admins(200)),
    Route("POST", "/admin/signup/programmes/new", admins(422)),
    Route("GET", "/admin/signup/programmes/{programme_id}", programme_staff(200)),
    Route("POST", "/admin/signup/programmes/{programme_id}", programme_staff(422)),
    Route("GET", "/admin/signup/programmes/{programme_id}/waves/new", programme_staff(200)),
    Route("POST", "/admin/signup/programmes/{programme_id}/waves/new", programme_staff(422)),
    Route("GET", "/admin/signup/waves/{wave_id}", programme_staff(200)),
    Route("POST", "/admin/signup/waves/{wave_id}", programme_staff(422)),
    Route("GET", "/admin/signup/programmes/{programme_id}/targets", programme_staff(200)),
    Route("POST", "/admin/signup/programmes/{programme_id}/targets", programme_staff(422)),
    Route("GET", "/admin/signup/programmes/{programme_id}/privacy", programme_staff(200)),
    Route("POST", "/admin/signup/programmes/{programme_id}/privacy", programme_staff(422)),
    # The API takes bearer tokens only.
    Route("GET", "/api/v1/signup/programmes", everyone(401)),
    Route("GET", "/api/v1/signup/programmes/{programme_id}", everyone(401)),
    Route("GET", "/api/v1/signup/programmes/{programme_id}/applications", everyone(401)),
    Route("GET", "/api/v1/signup/programmes/{programme_id}/delegates", everyone(401)),
    Route("GET", "/static/signup/select-all.js", everyone(200)),
]
