"""Routes of the privacy feature: asking for one's data (signed in, or by an applicant's status
link), downloading it by the emailed link, and the admin's erasure and retention pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from portal.auth.models import User
from portal.core.db import utcnow
from portal.extensions import db
from portal.privacy import export
from portal.privacy.models import PersonalDataExport
from portal.signup import applying, links
from portal.signup.programmes import ProgrammeFields, WaveFields, save_programme, save_wave
from tests.route_tables import Route, admins, everyone, signed_in
from tests.signup.conftest import application_input


def setup(app: Any, users: dict[str, Any]) -> dict[str, Any]:
    with app.app_context():
        programme = save_programme(
            None, ProgrammeFields(slug="dp0", name="DP0", total_capacity=10, plus_one_capacity=0)
        )
        save_wave(
            programme.id,
            None,
            WaveFields(
                slug="wave-1",
                name="Wave 1",
                opens_at=utcnow() - timedelta(hours=1),
                closes_at=None,
                capacity=2,
                mode="reviewed",
            ),
        )
        application = applying.submit_application(
            programme.id, application_input(1), None
        ).application
        export.request_own_export(db.session.get(User, users["delegate"].id))
        export.build_requested_exports()
        built = db.session.scalars(select(PersonalDataExport)).one()
        return {
            "status_token": links.status_token(application),
            "download_token": export.download_link(built).rsplit("/", 1)[1],
        }


ROUTES = [
    Route("POST", "/privacy/export", signed_in(302)),
    # The status link is what proves who asks: anyone holding it may ask (the file goes to
    # the application's address).
    Route("POST", "/privacy/export/status/{status_token}", everyone(302)),
    Route("POST", "/privacy/export/status/not-a-token", everyone(400)),
    Route("GET", "/privacy/download/{download_token}", everyone(200)),
    Route("GET", "/privacy/download/not-a-token", everyone(400)),
    Route("GET", "/admin/privacy/", admins(200)),
    Route("POST", "/admin/privacy/erasure", admins(422)),
    Route("POST", "/admin/privacy/erasure/confirm", admins(422)),
    Route("GET", "/admin/privacy/retention", admins(200)),
    Route("POST", "/admin/privacy/retention/run", admins(302)),
]
