"""The sign-up JSON API for staff scripts (bearer tokens from `portal create-token`):
programme and wave numbers, applications (paginated, filterable) and the delegate export."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, g

from portal.core.api import answer, operation, register_api_blueprint
from portal.signup import provisioning, reports
from portal.signup.api_schema import (
    ApplicationItem,
    ApplicationPage,
    ApplicationQuery,
    Composition,
    DailyApplications,
    DelegateList,
    ProgrammeDetail,
    ProgrammeList,
    TargetResult,
)
from portal.signup.models import Programme
from portal.signup.programmes import all_programmes
from portal.signup.queries import get_programme

bp = Blueprint("signup_api", __name__, url_prefix="/api/v1/signup")

PATH = {"programme_id": "The programme's id."}
TAG = "sign-up"


def _sees_profiles() -> bool:
    """Whether the token's owner sees applicants' profiles: programme staff and admins."""
    return bool(g.api_user.is_programme_staff)


def _composition(programme: Programme) -> Composition:
    evaluation = reports.composition(programme)
    return Composition(
        seats_counted=evaluation.size,
        mean_shortfall=round(evaluation.mean_shortfall, 4),
        targets=[
            TargetResult(
                attribute=r.target.attribute,
                value=r.target.value,
                target=r.target.fraction,
                achieved=round(r.achieved, 4),
                count=r.count,
            )
            for r in evaluation.results
        ],
    )


@bp.route("/programmes")
@operation(ProgrammeList, tag=TAG)
def programmes() -> Response:
    """Every programme with its seats, offers and waitlist, in total and per wave."""
    body = ProgrammeList.model_validate(
        {"programmes": [reports.programme_stats(p) for p in all_programmes()]}
    )
    return answer(body)


@bp.route("/programmes/<int(min=1):programme_id>")
@operation(ProgrammeDetail, tag=TAG, errors=[404], path=PATH)
def programme(programme_id: int) -> Response:
    """One programme's numbers, its applications per day and (for programme staff) how its
    cohort meets the targets."""
    found = get_programme(programme_id)
    body = ProgrammeDetail.model_validate(
        {
            **reports.programme_stats(found),
            "applications_per_day": [
                DailyApplications(date=day, applications=count)
                for day, count in reports.applications_per_day(found)
            ],
            "composition": _composition(found) if _sees_profiles() else None,
        }
    )
    return answer(body)


@bp.route("/programmes/<int(min=1):programme_id>/applications")
@operation(ApplicationPage, tag=TAG, errors=[404], path=PATH)
def applications(programme_id: int, query: ApplicationQuery) -> Response:
    """A programme's applications, filtered and sorted as in the review queue, a page at a time
    (each page read is recorded in the audit log). Applicants' profiles, and filters on them,
    are for programme staff and admins (403 for an attribute filter from other staff)."""
    profiles = _sees_profiles()
    filters = reports.queue_filters_from_query(
        get_programme(programme_id),
        query.model_dump(exclude={"page", "per_page"}),
        profiles=profiles,
    )
    result = reports.export_application_page(
        filters,
        query.page,
        query.per_page,
        lambda application: ApplicationItem.of(application, profile=profiles),
    )
    body = ApplicationPage(
        items=result.items,
        page=query.page,
        per_page=query.per_page,
        total=result.total,
        pages=result.pages,
    )
    return answer(body)


@bp.route("/programmes/<int(min=1):programme_id>/delegates")
@operation(DelegateList, tag=TAG, errors=[404], path=PATH)
def delegates(programme_id: int) -> Response:
    """The admitted delegates, in order of admission, as the platform's identity system
    imports them (recorded in the audit log)."""
    found = get_programme(programme_id)
    body = DelegateList.model_validate(
        {"programme": found.slug, "delegates": provisioning.export_delegates(found.id, "api")}
    )
    return answer(body)


def init_app(app: Flask) -> None:
    register_api_blueprint(app, bp)
