"""The sign-up JSON API for staff scripts (bearer tokens from `portal create-token`):
programme and wave numbers, applications (paginated, filterable) and the delegate export."""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify, request
from flask.typing import ResponseReturnValue

from portal.core.api import api_error, page_args, register_api_blueprint, token_required
from portal.core.roles import Role
from portal.extensions import db
from portal.signup import provisioning, reports
from portal.signup.attributes import ATTRIBUTES
from portal.signup.models import ApplicationState, Programme
from portal.signup.programmes import all_programmes

bp = Blueprint("signup_api", __name__, url_prefix="/api/v1/signup")


def _programme(programme_id: int) -> Programme | None:
    return db.session.get(Programme, programme_id)


@bp.route("/programmes")
@token_required(Role.STAFF)
def programmes() -> ResponseReturnValue:
    return jsonify(programmes=[reports.programme_stats(p) for p in all_programmes()])


@bp.route("/programmes/<int:programme_id>")
@token_required(Role.STAFF)
def programme(programme_id: int) -> ResponseReturnValue:
    found = _programme(programme_id)
    if found is None:
        return api_error(404, f"There is no programme {programme_id}.")
    evaluation = reports.composition(found)
    return jsonify(
        **reports.programme_stats(found),
        applications_per_day=[
            {"date": day.isoformat(), "applications": count}
            for day, count in reports.applications_per_day(found)
        ],
        composition={
            "seats_counted": evaluation.size,
            "mean_shortfall": round(evaluation.mean_shortfall, 4),
            "targets": [
                {
                    "attribute": r.target.attribute,
                    "value": r.target.value,
                    "target": r.target.fraction,
                    "achieved": round(r.achieved, 4),
                    "count": r.count,
                }
                for r in evaluation.results
            ],
        },
    )


@bp.route("/programmes/<int:programme_id>/applications")
@token_required(Role.STAFF)
def applications(programme_id: int) -> ResponseReturnValue:
    found = _programme(programme_id)
    if found is None:
        return api_error(404, f"There is no programme {programme_id}.")
    args = request.args
    state = args.get("state", "")
    if state and state not in {s.value for s in ApplicationState}:
        states = ", ".join(s.value for s in ApplicationState)
        return api_error(400, f"state must be one of: {states}.")
    wave = args.get("wave", "")
    wave_ids = {str(w.id): w.id for w in found.waves} | {w.slug: w.id for w in found.waves}
    if wave and wave not in wave_ids:
        return api_error(400, "wave must be the id or short name of one of this programme's waves.")
    attribute = args.get("attribute", "")
    name, _, value = attribute.partition(":")
    if attribute and (name not in ATTRIBUTES or value not in dict(ATTRIBUTES[name].values)):
        return api_error(400, "attribute must look like career_stage:graduate (see the docs).")
    sort = args.get("sort", "waitlist")
    if sort not in reports.SORTS:
        return api_error(400, f"sort must be one of: {', '.join(reports.SORTS)}.")
    plus_one = args.get("plus_one", "")
    if plus_one not in ("", "yes", "no"):
        return api_error(400, "plus_one must be yes or no.")
    page, per_page = page_args()
    filters = reports.QueueFilters(
        programme_id=found.id,
        wave_id=wave_ids.get(wave),
        state=state,
        attribute=attribute,
        q=args.get("q", ""),
        sort=sort,
        plus_one=plus_one,
    )
    result = db.paginate(
        reports.application_query(filters), page=page, per_page=per_page, error_out=False
    )
    return jsonify(
        items=[reports.application_json(a) for a in result.items],
        page=page,
        per_page=per_page,
        total=result.total,
        pages=result.pages,
    )


@bp.route("/programmes/<int:programme_id>/delegates")
@token_required(Role.STAFF)
def delegates(programme_id: int) -> ResponseReturnValue:
    found = _programme(programme_id)
    if found is None:
        return api_error(404, f"There is no programme {programme_id}.")
    return jsonify(programme=found.slug, delegates=provisioning.delegate_rows(found.id))


def init_app(app: Flask) -> None:
    register_api_blueprint(app, bp)
