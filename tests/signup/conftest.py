"""Fixtures for the sign-up tests: a programme with one wave, applications made through the
real services (or the real form), and helpers to confirm them, run the worker's jobs and read
states back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from portal.auth import services as auth_services
from portal.auth.models import User
from portal.core.db import utcnow
from portal.core.roles import Role
from portal.extensions import db
from portal.signup import applying, decisions, jobs, links
from portal.signup.models import Application, ApplicationEvent, Offer
from portal.signup.programmes import (
    ProgrammeFields,
    WaveFields,
    save_programme,
    save_targets,
    save_wave,
)


@dataclass(frozen=True)
class ProgrammeRef:
    id: int
    wave_id: int
    slug: str


def form_data(n: int, **overrides: Any) -> dict[str, Any]:
    """What a person types into the application form (field names as the form has them)."""
    data: dict[str, Any] = {
        "full_name": f"Person {n}",
        "email": f"person{n}@example.org",
        "institution": "University of Washington",
        "institution_type": "research_university",
        "country": "US",
        "career_stage": "graduate",
        "data_rights": "yes",
        "data_rights_basis": "Graduate student at a US institution",
        "science_collaborations": ["desc"],
        "github_username": f"person-{n}",
        "experience_python": "intermediate",
        "experience_jupyter": "beginner",
        "experience_sql": "none",
        "contribution": "Testing the TAP service and writing up what I learn.",
        "preferred_language": "en",
        "plus_one_sponsor": "",
        "accept_guidelines": "y",
        "accept_privacy": "y",
    }
    data.update(overrides)
    return data


def application_input(n: int, **overrides: Any) -> applying.ApplicationInput:
    data = form_data(n, **overrides)
    return applying.ApplicationInput(
        full_name=data["full_name"],
        email=data["email"],
        institution=data["institution"],
        institution_type=data["institution_type"],
        country=data["country"],
        career_stage=data["career_stage"],
        data_rights=data["data_rights"],
        data_rights_basis=data["data_rights_basis"],
        science_collaborations=list(data["science_collaborations"]),
        github_username=data["github_username"],
        experience_python=data["experience_python"],
        experience_jupyter=data["experience_jupyter"],
        experience_sql=data["experience_sql"],
        contribution=data["contribution"],
        preferred_language=data["preferred_language"],
        sponsor_email=data["plus_one_sponsor"],
        accepted_guidelines=True,
    )


@pytest.fixture
def make_programme(app: Flask) -> Any:
    """A programme with one wave that opened an hour ago."""
    counter = iter(range(1, 1000))

    def _make(
        capacity: int = 3,
        total: int = 300,
        mode: str = "fcfs",
        plus_one: int = 2,
        offer_days: int = 7,
        opens: datetime | None = None,
        closes: datetime | None = None,
        carry_over: bool = True,
        targets: dict[tuple[str, str], float] | None = None,
    ) -> ProgrammeRef:
        n = next(counter)
        with app.app_context():
            programme = save_programme(
                None,
                ProgrammeFields(
                    slug=f"prog-{n}",
                    name=f"Programme {n}",
                    total_capacity=total,
                    plus_one_capacity=plus_one,
                    offer_lifetime_hours=offer_days * 24,
                ),
            )
            wave = save_wave(
                programme.id,
                None,
                WaveFields(
                    slug="wave-1",
                    name="Wave 1",
                    opens_at=opens or utcnow() - timedelta(hours=1),
                    closes_at=closes,
                    capacity=capacity,
                    mode=mode,
                    carry_over_waitlist=carry_over,
                ),
            )
            if targets:
                save_targets(programme.id, targets, {})
            return ProgrammeRef(programme.id, wave.id, programme.slug)

    return _make


@pytest.fixture
def submit(app: Flask) -> Any:
    """Apply through the service (unconfirmed); returns the application id."""

    def _submit(programme: ProgrammeRef, n: int, **overrides: Any) -> int:
        with app.app_context():
            result = applying.submit_application(
                programme.id, application_input(n, **overrides), None
            )
            return int(result.application.id)

    return _submit


def verify_token(app: Flask, application_id: int) -> str:
    with app.app_context():
        application = db.session.get(Application, application_id)
        assert application is not None
        return links.verify_token(application)


@pytest.fixture
def confirm(app: Flask) -> Any:
    """Confirm an application's email as the emailed link would; returns its new state."""

    def _confirm(application_id: int) -> str:
        token = verify_token(app, application_id)
        with app.app_context():
            return str(applying.verify_application(token).state)

    return _confirm


@pytest.fixture
def apply_confirmed(submit: Any, confirm: Any) -> Any:
    def _apply(programme: ProgrammeRef, n: int, **overrides: Any) -> int:
        application_id = int(submit(programme, n, **overrides))
        confirm(application_id)
        return application_id

    return _apply


def state_of(app: Flask, application_id: int) -> str:
    with app.app_context():
        application = db.session.get(Application, application_id)
        assert application is not None
        return str(application.state)


def states(app: Flask, ids: list[int]) -> list[str]:
    return [state_of(app, i) for i in ids]


def run_jobs(app: Flask) -> jobs.CycleReport:
    """One pass of the worker's sign-up jobs."""
    with app.app_context():
        report = jobs.run_signup_cycle()
        db.session.remove()
        return report


def trail(app: Flask, application_id: int) -> list[tuple[str | None, str, str, str]]:
    """The audit trail as (from, to, who, why)."""
    with app.app_context():
        events = db.session.scalars(
            select(ApplicationEvent)
            .where(ApplicationEvent.application_id == application_id)
            .order_by(ApplicationEvent.id)
        ).all()
        return [(e.from_state, e.to_state, e.actor_label, e.reason) for e in events]


def offers_of(app: Flask, application_id: int) -> list[Offer]:
    with app.app_context():
        offers = list(
            db.session.scalars(
                select(Offer).where(Offer.application_id == application_id).order_by(Offer.id)
            )
        )
        for offer in offers:
            db.session.expunge(offer)
        return offers


def offer_token(app: Flask, application_id: int) -> str:
    with app.app_context():
        offer = db.session.scalars(
            select(Offer).where(Offer.application_id == application_id).order_by(Offer.id.desc())
        ).first()
        assert offer is not None
        return links.offer_token(offer)


def status_token(app: Flask, application_id: int) -> str:
    with app.app_context():
        application = db.session.get(Application, application_id)
        assert application is not None
        return links.status_token(application)


@pytest.fixture
def make_user(app: Flask, make_user: Any) -> Any:
    """Accounts as the suite's `make_user` makes them, except that staff accounts are programme
    staff unless `programme_staff=False`: the sign-up tests act as the people who run the
    programme, who see applicants' profiles and decide on them."""

    def _make(*args: Any, programme_staff: bool = True, **kwargs: Any) -> User:
        user: User = make_user(*args, **kwargs)
        if programme_staff and user.is_staff:
            with app.app_context():
                account = db.session.get(User, user.id)
                assert account is not None
                auth_services.set_programme_staff(account, True)
            user.programme_staff = True
        return user

    return _make


def staff_user(app: Flask, make_user: Any) -> User:
    return make_user(Role.STAFF, email="programme-staff@example.org", name="Pat Staff")


@pytest.fixture
def staff(app: Flask, make_user: Any) -> User:
    return staff_user(app, make_user)


def decide(
    app: Flask, ids: list[int], action: str, who: User, reason: str = "test"
) -> tuple[list[int], list[int], list[int]]:
    """A staff decision; returns the ids (changed, did not fit, skipped)."""
    with app.app_context():
        user = db.session.get(User, who.id)
        assert user is not None
        if action == "undo":
            result = decisions.undo_last_changes(ids, user, reason)
        else:
            result = decisions.decide(ids, action, user, reason)
        return (
            [a.id for a in result.changed],
            [a.id for a, _ in result.not_fitted],
            [a.id for a, _ in result.skipped],
        )
