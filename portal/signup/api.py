"""The sign-up JSON API for staff scripts (bearer tokens from `portal create-token`):
programme and wave numbers, applications (paginated, filterable) and the delegate export."""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify, request
from flask.typing import ResponseReturnValue

from portal.core.api import page_args, register_api_blueprint, token_required
from portal.core.roles import Role
from portal.signup import provisioning, reports
from portal.signup.programmes import all_programmes
from portal.signup.queries import get_programme

bp = Blueprint("signup_api", __name__, url_prefix="/api/v1/signup")


@bp.route("/programmes")
@token_required(Role.STAFF)
def programmes() -> ResponseReturnValue:
    return jsonify(programmes=[reports.programme_stats(p) for p in all_programmes()])


@bp.route("/programmes/<int:programme_id>")
@token_required(Role.STAFF)
def programme(programme_id: int) -> ResponseReturnValue:
    found = get_programme(programme_id)
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
    filters = reports.queue_filters_from_query(get_programme(programme_id), request.args)
    page, per_page = page_args()
    result = reports.export_application_page(filters, page, per_page)
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
    found = get_programme(programme_id)
    return jsonify(programme=found.slug, delegates=provisioning.export_delegates(found.id, "api"))


def init_app(app: Flask) -> None:
    register_api_blueprint(app, bp)
