"""Routes of the privacy feature: asking for one's data (signed in, or by an applicant's status
link), downloading it by the emailed link, and the admin's erasure and retention pages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.auth.models import User
from portal.extensions import db
from portal.privacy import export
from portal.privacy.models import PersonalDataExport
from tests.route_tables import Route, admins, everyone, signed_in
from tests.route_tables import signup as signup_routes


def setup(app: Any, users: dict[str, Any]) -> dict[str, Any]:
    # Sign-up's records give an applicant's status link.
    status_token = signup_routes.setup(app, users)["status_token"]
    with app.app_context():
        export.request_own_export(db.session.get(User, users["delegate"].id))
        export.build_requested_exports()
        built = db.session.scalars(select(PersonalDataExport)).one()
        return {
            "status_token": status_token,
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
