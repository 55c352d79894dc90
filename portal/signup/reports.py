"""Numbers for staff: seat counts per programme and wave, applications per day, composition
against the targets, the review queue's filters, and the JSON shape of an application."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, not_, or_, select
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.sql.elements import ColumnElement

from portal.audit import AuditAction, record_audit
from portal.core.db import transaction, utcnow
from portal.core.templating import to_local
from portal.extensions import db
from portal.signup.attributes import ATTRIBUTES, EXPERIENCE_LEVELS, attribute_values, is_known
from portal.signup.cohort import Candidate, Evaluation, TargetSpec, evaluate
from portal.signup.countries import COUNTRIES
from portal.signup.errors import InvalidQuery, ProfilesForbidden
from portal.signup.models import (
    SEAT_STATES,
    Application,
    ApplicationState,
    CollaborationMembership,
    Programme,
    Wave,
)
from portal.signup.queries import waitlist_order

S = ApplicationState


@dataclass(frozen=True)
class Counts:
    """Applications by state in one pool (a wave, a programme, or the Plus One quota)."""

    capacity: int
    by_state: dict[str, int]

    def __getitem__(self, state: str) -> int:
        return self.by_state.get(state, 0)

    @property
    def admitted(self) -> int:
        return self[S.ADMITTED]

    @property
    def offered(self) -> int:
        return self[S.OFFERED]

    @property
    def held(self) -> int:
        return self.admitted + self.offered

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.held)

    @property
    def waitlisted(self) -> int:
        return self[S.WAITLISTED]

    @property
    def pending(self) -> int:
        return self[S.PENDING]

    @property
    def total(self) -> int:
        return sum(self.by_state.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "admitted": self.admitted,
            "offers_out": self.offered,
            "free": self.free,
            "waitlisted": self.waitlisted,
            "pending_review": self.pending,
            "by_state": {state.value: self[state] for state in S},
        }


def _counts(capacity: int, *conditions: ColumnElement[bool]) -> Counts:
    rows = db.session.execute(
        select(Application.state, func.count()).where(*conditions).group_by(Application.state)
    ).all()
    return Counts(capacity, {row[0]: row[1] for row in rows})


def programme_counts(programme: Programme) -> Counts:
    return _counts(
        programme.total_capacity,
        Application.programme_id == programme.id,
        Application.is_plus_one.is_(False),
    )


def plus_one_counts(programme: Programme) -> Counts:
    return _counts(
        programme.plus_one_capacity,
        Application.programme_id == programme.id,
        Application.is_plus_one.is_(True),
    )


def wave_counts(wave: Wave) -> Counts:
    return _counts(
        wave.capacity, Application.wave_id == wave.id, Application.is_plus_one.is_(False)
    )


def programme_stats(programme: Programme) -> dict[str, Any]:
    """Everything the dashboard and the API say about a programme's seats."""
    now = utcnow()
    return {
        "id": programme.id,
        "slug": programme.slug,
        "name": programme.name,
        "accepting_applications": programme.accepting_applications,
        "delegates": programme_counts(programme).as_dict(),
        "plus_one": plus_one_counts(programme).as_dict(),
        "waves": [
            {
                "id": wave.id,
                "slug": wave.slug,
                "name": wave.name,
                "mode": wave.mode,
                "status": wave.status(now),
                "opens_at": wave.opens_at.isoformat(),
                "closes_at": wave.closes_at.isoformat() if wave.closes_at else None,
                **wave_counts(wave).as_dict(),
            }
            for wave in programme.waves
        ],
    }


def applications_per_day(programme: Programme, days: int = 42) -> list[tuple[date, int]]:
    """Applications submitted per day (portal timezone) over the last `days` days."""
    today = (to_local(utcnow()) or utcnow()).date()
    first = today - timedelta(days=days - 1)
    created = db.session.scalars(
        select(Application.created_at).where(
            Application.programme_id == programme.id,
            Application.created_at >= utcnow() - timedelta(days=days + 1),
        )
    ).all()
    per_day = Counter(local.date() for value in created if (local := to_local(value)) is not None)
    return [
        (first + timedelta(days=n), per_day.get(first + timedelta(days=n), 0)) for n in range(days)
    ]


def target_specs(programme: Programme) -> list[TargetSpec]:
    return [
        TargetSpec(t.attribute, t.value, t.fraction, programme.weight_of(t.attribute))
        for t in programme.targets
    ]


def candidate(application: Application) -> Candidate:
    return Candidate(application.id, frozenset(attribute_values(application)))


def composition(programme: Programme, wave: Wave | None = None) -> Evaluation:
    """How the people holding seats (in a wave, or the programme) meet the targets."""
    query = select(Application).where(
        Application.programme_id == programme.id,
        Application.state.in_(SEAT_STATES),
        Application.is_plus_one.is_(False),
    )
    if wave is not None:
        query = query.where(Application.wave_id == wave.id)
    members = [candidate(a) for a in db.session.scalars(query)]
    return evaluate(members, target_specs(programme))


def target_label(spec: TargetSpec) -> str:
    attribute = ATTRIBUTES[spec.attribute]
    return f"{attribute.label}: {attribute.value_label(spec.value)}"


# --- the review queue ---------------------------------------------------------------------------

SORTS = {
    "waitlist": waitlist_order(),
    "verified": (Application.verified_at.asc().nulls_last(), Application.id),
    "recent": (Application.created_at.desc(), Application.id.desc()),
    "name": (func.lower(Application.full_name), Application.id),
}


@dataclass(frozen=True)
class QueueFilters:
    programme_id: int | None = None
    wave_id: int | None = None
    state: str = ""
    attribute: str = ""
    q: str = ""
    sort: str = "waitlist"
    plus_one: str = ""
    # Whether whoever reads the queue may see applicants' profiles (programme staff): without,
    # neither an attribute filter nor a search may tell them anything a profile says.
    profiles: bool = True


def queue_filters_from_query(
    programme: Programme, args: Mapping[str, str], *, profiles: bool = True
) -> QueueFilters:
    """The API's application filters from a query string, each checked (InvalidQuery says
    what is wrong); an attribute filter only for those who see profiles (`profiles`)."""
    state = args.get("state", "")
    if state and state not in set(ApplicationState):
        raise InvalidQuery(f"state must be one of: {', '.join(ApplicationState)}.")
    wave = args.get("wave", "")
    wave_ids = {str(w.id): w.id for w in programme.waves} | {w.slug: w.id for w in programme.waves}
    if wave and wave not in wave_ids:
        raise InvalidQuery("wave must be the id or short name of one of this programme's waves.")
    attribute = args.get("attribute", "")
    name, _, value = attribute.partition(":")
    if attribute and not is_known(name, value):
        raise InvalidQuery("attribute must look like career_stage:graduate (see the docs).")
    if attribute and not profiles:
        raise ProfilesForbidden(
            "Filtering by attribute needs the programme-staff permission: only programme staff "
            "see applicants' profiles."
        )
    sort = args.get("sort", "waitlist")
    if sort not in SORTS:
        raise InvalidQuery(f"sort must be one of: {', '.join(SORTS)}.")
    plus_one = args.get("plus_one", "")
    if plus_one not in ("", "yes", "no"):
        raise InvalidQuery("plus_one must be yes or no.")
    return QueueFilters(
        programme_id=programme.id,
        wave_id=wave_ids.get(wave),
        state=state,
        attribute=attribute,
        q=args.get("q", ""),
        sort=sort,
        plus_one=plus_one,
        profiles=profiles,
    )


def _experience_index() -> ColumnElement[Any]:
    """The overall experience level (0-3) in SQL, the same rounding as
    attributes.overall_experience: floor(mean + 0.5) = (2 * sum + 3) // 6."""
    levels = [value for value, _ in EXPERIENCE_LEVELS]

    def score(column: Any) -> ColumnElement[Any]:
        return case({value: index for index, value in enumerate(levels)}, value=column, else_=0)

    total = (
        score(Application.experience_python)
        + score(Application.experience_jupyter)
        + score(Application.experience_sql)
    )
    return (total * 2 + 3) // 6


def attribute_condition(attribute: str, value: str) -> ColumnElement[bool] | None:
    """SQL for "has this attribute value" (None when the pair is unknown)."""
    member = exists().where(CollaborationMembership.application_id == Application.id)
    columns = {
        "career_stage": Application.career_stage,
        "institution_type": Application.institution_type,
        "data_rights": Application.data_rights,
        "preferred_language": Application.preferred_language,
    }
    if attribute in columns:
        return columns[attribute] == value
    if attribute == "sc_member":
        return member if value == "yes" else not_(member)
    if attribute == "science_collaboration":
        if value == "none":
            return not_(member)
        return exists().where(
            CollaborationMembership.application_id == Application.id,
            CollaborationMembership.code == value,
        )
    if attribute == "region":
        return Application.country.in_([c for c, (_, r) in COUNTRIES.items() if r == value])
    if attribute == "experience":
        levels = [v for v, _ in EXPERIENCE_LEVELS]
        return _experience_index() == levels.index(value) if value in levels else None
    return None


def application_query(filters: QueueFilters) -> Select[Application]:
    """The review queue (also the API's application list) for a set of filters."""
    query = select(Application)
    if filters.programme_id is not None:
        query = query.where(Application.programme_id == filters.programme_id)
    if filters.wave_id is not None:
        query = query.where(Application.wave_id == filters.wave_id)
    if filters.state:
        query = query.where(Application.state == filters.state)
    if filters.plus_one:
        query = query.where(Application.is_plus_one.is_(filters.plus_one == "yes"))
    if filters.attribute and filters.profiles:
        name, _, value = filters.attribute.partition(":")
        condition = attribute_condition(name, value)
        if condition is not None:
            query = query.where(condition)
    if filters.q.strip():
        like = f"%{filters.q.strip().lower()}%"
        searched = [
            func.lower(Application.full_name),
            Application.email,
            Application.github_key,
            *([func.lower(Application.institution)] if filters.profiles else []),
        ]
        query = query.where(or_(*(column.like(like) for column in searched)))
    return query.order_by(*SORTS.get(filters.sort, SORTS["waitlist"]))


@dataclass(frozen=True)
class ExportedPage[T]:
    """One page of applications, each already turned into what the reader receives."""

    items: list[T]
    total: int
    pages: int


def export_application_page[T](
    filters: QueueFilters, page: int, per_page: int, present: Callable[[Application], T]
) -> ExportedPage[T]:
    """One page of the API's application list. Scripts read applications in bulk this way,
    which hands out personal data, so each page read is recorded in the audit log.

    Each application is presented inside the unit of work: after its commit the rows would be
    expired and read again one by one.
    """
    query = application_query(filters).options(
        selectinload(Application.collaborations),
        joinedload(Application.programme),
        joinedload(Application.wave),
    )
    with transaction():
        result = db.paginate(query, page=page, per_page=per_page, error_out=False)
        items = [present(application) for application in result.items]
        record_audit(
            AuditAction.APPLICATIONS_EXPORTED,
            target=f"programme:{filters.programme_id}",
            after={"page": page, "per_page": per_page, "applications": len(items)},
        )
    return ExportedPage(items=items, total=result.total or 0, pages=result.pages)


def attribute_filter_choices() -> list[tuple[str, str]]:
    return [
        (f"{name}:{value}", f"{attribute.label}: {label}")
        for name, attribute in ATTRIBUTES.items()
        for value, label in attribute.values
    ]


def pool_condition(programme: Programme) -> ColumnElement[bool]:
    """Applications a cohort can be chosen from: confirmed, awaiting a decision, not Plus One."""
    return and_(
        Application.programme_id == programme.id,
        Application.state == S.PENDING,
        Application.is_plus_one.is_(False),
    )
