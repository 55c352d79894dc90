"""The sign-up API's contract: what each endpoint reads and what it answers, as models."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, Self

from pydantic import Field, JsonValue, field_validator
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from portal.core.api import PageQuery, ResponseModel
from portal.signup.models import (
    AdmissionMode,
    Application,
    ApplicationState,
    DataRights,
    GitHubState,
    WaveStatus,
)
from portal.signup.reports import SORTS, attribute_filter_choices

ATTRIBUTE_FILTERS = ["", *(value for value, _ in attribute_filter_choices())]


def _listed(values: list[str]) -> JsonDict:
    """The contract's enum of the values a string field takes."""
    enum: list[JsonValue] = [*values]
    return {"enum": enum}


def _one_of(value: str, allowed: list[str], message: str) -> str:
    if value not in allowed:
        raise PydanticCustomError("not_one_of", message)
    return value


class ApplicationQuery(PageQuery):
    """The review queue's filters; an empty value means "any"."""

    state: ApplicationState | Literal[""] = ""
    wave: str = Field("", max_length=60, description="A wave of the programme, by id or slug.")
    # Attributes and sort orders are listed where they are defined, so they are checked here
    # and listed in the contract as an enum.
    attribute: str = Field(
        "",
        description="An attribute and its value, e.g. career_stage:graduate.",
        json_schema_extra=_listed(ATTRIBUTE_FILTERS),
    )
    q: str = Field("", max_length=200, description="Words in the name, email, institution.")
    sort: str = Field("waitlist", json_schema_extra=_listed(list(SORTS)))
    plus_one: Literal["", "yes", "no"] = Field("", description="Plus One applications or not.")

    @field_validator("attribute")
    @classmethod
    def _known_attribute(cls, value: str) -> str:
        return _one_of(value, ATTRIBUTE_FILTERS, "Should look like career_stage:graduate")

    @field_validator("sort")
    @classmethod
    def _known_sort(cls, value: str) -> str:
        return _one_of(value, list(SORTS), f"Should be one of: {', '.join(SORTS)}")


class Counts(ResponseModel):
    """Applications by state in one pool."""

    capacity: int
    admitted: int
    offers_out: int
    free: int
    waitlisted: int
    pending_review: int
    by_state: dict[ApplicationState, int]


class WaveStats(Counts):
    id: int
    slug: str
    name: str
    mode: AdmissionMode
    status: WaveStatus
    opens_at: datetime
    closes_at: datetime | None


class ProgrammeStats(ResponseModel):
    id: int
    slug: str
    name: str
    accepting_applications: bool
    delegates: Counts
    plus_one: Counts = Field(description="The Plus One places, counted on their own.")
    waves: list[WaveStats]


class ProgrammeList(ResponseModel):
    programmes: list[ProgrammeStats]


class DailyApplications(ResponseModel):
    date: date
    applications: int


class TargetResult(ResponseModel):
    attribute: str
    value: str
    target: float = Field(description="The share of seats the programme aims for.")
    achieved: float = Field(description="The share of seats held now.")
    count: int


class Composition(ResponseModel):
    seats_counted: int
    mean_shortfall: float
    targets: list[TargetResult]


# Said of what only programme staff (and admins) see: applicants' profiles, and what counts them.
PROFILE_ONLY = "For programme staff and admins; null for other staff."


class ProgrammeDetail(ProgrammeStats):
    applications_per_day: list[DailyApplications] = Field(description="The last six weeks.")
    composition: Composition | None = Field(description=PROFILE_ONLY)


class Experience(ResponseModel):
    python: str
    jupyter: str
    sql: str


class ApplicationItem(ResponseModel):
    """An application as staff review it (staff notes are not included). The applicant's
    profile is for programme staff and admins: for other staff, what a ticket needs."""

    id: int
    programme: str
    wave: str
    state: ApplicationState
    full_name: str
    email: str
    institution: str | None = Field(description=PROFILE_ONLY)
    institution_type: str | None = Field(description=PROFILE_ONLY)
    country: str | None = Field(description=PROFILE_ONLY)
    career_stage: str | None = Field(description=PROFILE_ONLY)
    data_rights: DataRights | None = Field(description=PROFILE_ONLY)
    science_collaborations: list[str] | None = Field(description=PROFILE_ONLY)
    github_username: str
    github_verified: bool
    experience: Experience | None = Field(description=PROFILE_ONLY)
    preferred_language: str
    plus_one: bool
    sponsor_id: int | None
    priority: int
    created_at: datetime
    verified_at: datetime | None
    admitted_at: datetime | None
    provisioning: GitHubState | None = Field(description="The GitHub team invitation, if any.")

    @classmethod
    def of(cls, application: Application, *, profile: bool) -> Self:
        """The application as its reader may see it: with the profile (`profile`) or not."""
        return cls(
            id=application.id,
            programme=application.programme.slug,
            wave=application.wave.slug,
            state=application.state,
            full_name=application.full_name,
            email=application.email,
            institution=application.institution if profile else None,
            institution_type=application.institution_type if profile else None,
            country=application.country if profile else None,
            career_stage=application.career_stage if profile else None,
            data_rights=application.data_rights if profile else None,
            science_collaborations=application.collaboration_codes if profile else None,
            github_username=application.github_username,
            github_verified=application.github_verified,
            experience=Experience(
                python=application.experience_python,
                jupyter=application.experience_jupyter,
                sql=application.experience_sql,
            )
            if profile
            else None,
            preferred_language=application.preferred_language,
            plus_one=application.is_plus_one,
            sponsor_id=application.sponsor_id,
            priority=application.priority,
            created_at=application.created_at,
            verified_at=application.verified_at,
            admitted_at=application.admitted_at,
            provisioning=application.github_state or None,
        )


class ApplicationPage(ResponseModel):
    items: list[ApplicationItem]
    page: int
    per_page: int
    total: int
    pages: int


class Delegate(ResponseModel):
    github_username: str
    email: str
    full_name: str
    wave: str = Field(description="The wave's name.")
    admitted_on: date | Literal[""]
    plus_one: bool


class DelegateList(ResponseModel):
    programme: str = Field(description="The programme's slug.")
    delegates: list[Delegate]
