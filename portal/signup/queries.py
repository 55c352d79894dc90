"""What sign-up pages read: programmes and their waves, the waitlist order and a person's place
in it, a person's applications and the Plus Ones a delegate sponsors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from portal.auth.models import User
from portal.core.db import utcnow
from portal.extensions import db
from portal.signup.errors import DoesNotExist
from portal.signup.models import Application, ApplicationState, Programme, Wave, WaveStatus


def get_programme(programme_id: int) -> Programme:
    programme = db.session.get(Programme, programme_id)
    if programme is None:
        raise DoesNotExist(f"There is no programme {programme_id}.")
    return programme


def programme_by_slug(slug: str) -> Programme | None:
    return db.session.scalar(select(Programme).where(Programme.slug == slug))


def newest_programme() -> Programme | None:
    return db.session.scalar(
        select(Programme).order_by(Programme.created_at.desc(), Programme.id.desc()).limit(1)
    )


def current_wave(programme: Programme, now: datetime) -> Wave | None:
    """The wave taking admissions now: the most recently opened one still open."""
    open_waves = [wave for wave in programme.waves if wave.status(now) == WaveStatus.OPEN]
    return max(open_waves, key=lambda w: (w.opens_at, w.id)) if open_waves else None


def next_wave(programme: Programme, now: datetime) -> Wave | None:
    upcoming = [wave for wave in programme.waves if wave.status(now) == WaveStatus.UPCOMING]
    return min(upcoming, key=lambda w: (w.opens_at, w.id)) if upcoming else None


def wave_for_new_applications(programme: Programme, now: datetime) -> Wave | None:
    """Where a new application goes: the open wave, or the next one to open."""
    if not programme.accepting_applications:
        return None
    return current_wave(programme, now) or next_wave(programme, now)


def programmes_accepting() -> list[Programme]:
    """Programmes whose form is open now, newest first."""
    now = utcnow()
    programmes = db.session.scalars(
        select(Programme)
        .where(Programme.accepting_applications.is_(True))
        .order_by(Programme.created_at.desc(), Programme.id.desc())
    ).all()
    return [p for p in programmes if wave_for_new_applications(p, now) is not None]


def waitlist_order() -> tuple[Any, ...]:
    """Staff priority first, then who confirmed their email first (the unconfirmed last, on
    every database)."""
    return (
        Application.priority.desc(),
        Application.verified_at.asc().nulls_last(),
        Application.id,
    )


def waitlist(programme_id: int, *, plus_one: bool | None = None) -> Select[Application]:
    """Who waits in a programme, in waitlist order: delegates (`plus_one=False`), Plus Ones
    (`True`) or both."""
    query = select(Application).where(
        Application.programme_id == programme_id,
        Application.state == ApplicationState.WAITLISTED,
    )
    if plus_one is not None:
        query = query.where(Application.is_plus_one.is_(plus_one))
    return query.order_by(*waitlist_order())


def waiting_beside(application: Application, *conditions: ColumnElement[bool]) -> int:
    """How many others (matching `conditions`) wait in the application's waitlist: its
    programme's delegates, or its Plus Ones."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Application)
            .where(
                Application.programme_id == application.programme_id,
                Application.is_plus_one.is_(application.is_plus_one),
                Application.state == ApplicationState.WAITLISTED,
                Application.id != application.id,
                *conditions,
            )
        )
        or 0
    )


def waitlist_position(application: Application) -> int | None:
    """1 for the next in line; None when not on the waitlist."""
    if application.state != ApplicationState.WAITLISTED or application.verified_at is None:
        return None
    ahead = or_(
        Application.priority > application.priority,
        and_(
            Application.priority == application.priority,
            or_(
                Application.verified_at < application.verified_at,
                and_(
                    Application.verified_at == application.verified_at,
                    Application.id < application.id,
                ),
            ),
        ),
    )
    return waiting_beside(application, ahead) + 1


def owned_by(user: User) -> ColumnElement[bool]:
    """A signed-in person's own applications: linked to the account, or sent from its
    verified address."""
    condition = Application.user_id == user.id
    if user.email_verified:
        condition = or_(condition, Application.email == user.email)
    return condition


def applications_of(user: User) -> list[Application]:
    return list(
        db.session.scalars(
            select(Application).where(owned_by(user)).order_by(Application.id.desc())
        )
    )


def plus_ones_of(sponsor: Application) -> list[Application]:
    """The Plus One applications that name this delegate as sponsor, newest first."""
    return list(
        db.session.scalars(
            select(Application)
            .where(Application.sponsor_id == sponsor.id)
            .order_by(Application.id.desc())
        )
    )
