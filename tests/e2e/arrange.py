"""Setting the scene for a journey through the portal's own services, on the database the
running portal uses: accounts, applications that hold seats, the jobs the worker runs."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import select

from portal.auth import services as auth_services
from portal.auth.models import User
from portal.core.db import utcnow
from portal.core.roles import Role, SupportTier
from portal.extensions import db
from portal.helpdesk import settings as helpdesk_settings
from portal.signup import applying, jobs, links, queries
from portal.signup.models import Application, ApplicationState, Programme
from portal.signup.seats import free_seats
from tests.e2e.stack import ADMIN_EMAIL, PASSWORD

FIRST_COME = "dp0"
COHORT = "dp0-cohort"
SEAT_HOLDER = "seat-holder"


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    password: str = PASSWORD


class Arranger:
    """Arranges data with the services in one app context per call, like a second process."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._serial = itertools.count(1)
        self._run = secrets.token_hex(3)

    def email(self, local: str) -> str:
        return f"{local}-{self._run}-{next(self._serial)}@example.org"

    def admin(self) -> Person:
        return Person(ADMIN_EMAIL, "Portal administrator")

    def _account(self, name: str, role: Role, tier: int | None, slack_user_id: str = "") -> Person:
        email = self.email(name.split()[0].lower())
        with self.app.app_context():
            user = auth_services.create_user(
                email=email,
                full_name=name,
                password=PASSWORD,
                role=role,
                tier=SupportTier(tier) if tier else None,
            )
            if slack_user_id:
                account = db.session.get(User, user.id)
                assert account is not None
                account.slack_user_id = slack_user_id
                db.session.commit()
            db.session.remove()
        return Person(email, name)

    def delegate(self, name: str) -> Person:
        return self._account(name, Role.DELEGATE, None)

    def staff(self, name: str, tier: int | None = None, slack_user_id: str = "") -> Person:
        return self._account(name, Role.STAFF, tier, slack_user_id)

    def programme_staff(self, name: str) -> Person:
        """Staff who run the programme: they see applicants' profiles and decide on them."""
        person = self.staff(name)
        with self.app.app_context():
            user = auth_services.find_user_by_email(person.email)
            assert user is not None
            auth_services.set_programme_staff(user, True)
            db.session.remove()
        return person

    # -- sign-up -------------------------------------------------------------------------------
    def _programme(self, slug: str) -> Programme:
        programme = db.session.scalar(select(Programme).where(Programme.slug == slug))
        assert programme is not None, slug
        return programme

    def application_input(self, name: str, email: str, **fields: Any) -> Any:
        values: dict[str, Any] = {
            "full_name": name,
            "email": email,
            "institution": "University of Arizona",
            "institution_type": "research_university",
            "country": "US",
            "career_stage": "postdoc",
            "data_rights": "yes",
            "data_rights_basis": "Employed at a US institution.",
            "science_collaborations": [],
            "github_username": email.split("@")[0].replace(".", "-")[:39],
            "experience_python": "intermediate",
            "experience_jupyter": "intermediate",
            "experience_sql": "beginner",
            "contribution": "Testing the TAP service and writing a tutorial.",
            "preferred_language": "en",
            "sponsor_email": "",
            "accepted_guidelines": True,
        }
        values.update(fields)
        return applying.ApplicationInput(**values)

    def confirmed_application(self, slug: str, name: str, **fields: Any) -> str:
        """An application whose email address is confirmed; returns the address."""
        email = fields.pop("email", None) or self.email(name.split()[0].lower())
        with self.app.app_context():
            programme = self._programme(slug)
            result = applying.submit_application(
                programme.id, self.application_input(name, email, **fields), None
            )
            applying.verify_application(links.verify_token(result.application))
            db.session.remove()
        return email

    def fill_first_come_wave(self) -> None:
        """Nobody waiting and every seat of the first-come wave taken, so the next confirmed
        applicant is waitlisted at number 1."""
        with self.app.app_context():
            programme = self._programme(FIRST_COME)
            waiting = db.session.scalars(
                select(Application.id).where(
                    Application.programme_id == programme.id,
                    Application.state.in_([ApplicationState.WAITLISTED, ApplicationState.OFFERED]),
                )
            ).all()
            for application_id in waiting:
                applying.withdraw(application_id, "Cleared before a journey")
            wave = queries.current_wave(programme, utcnow())
            assert wave is not None
            free = free_seats(programme, wave)
            db.session.remove()
        for _ in range(free):
            self.confirmed_application(FIRST_COME, "Seat Holder", email=self.email(SEAT_HOLDER))

    def free_a_seat(self) -> None:
        """Someone admitted withdraws, and the worker's sign-up job runs (as it does every
        minute), so the seat is offered to the first person waiting."""
        with self.app.app_context():
            programme = self._programme(FIRST_COME)
            holder = db.session.scalar(
                select(Application.id)
                .where(
                    Application.programme_id == programme.id,
                    Application.state == ApplicationState.ADMITTED,
                )
                .limit(1)
            )
            assert holder is not None, "nobody admitted to withdraw"
            applying.withdraw(holder, "Cannot take part after all")
            jobs.run_signup_cycle()
            db.session.remove()

    def cohort_pool(self, count: int) -> dict[str, str]:
        """Confirmed applications waiting for cohort selection, with a mix of attributes;
        returns their addresses by name."""
        stages = ["graduate", "postdoc", "faculty", "undergraduate", "research_staff"]
        countries = ["US", "CL", "BR", "GB", "IN", "ZA", "MX", "AU"]
        emails = {}
        for n in range(count):
            name = f"Pool Applicant {n + 1:02d}"
            emails[name] = self.confirmed_application(
                COHORT,
                name,
                career_stage=stages[n % len(stages)],
                country=countries[n % len(countries)],
                science_collaborations=["desc"] if n % 3 == 0 else [],
                experience_python=["beginner", "intermediate", "expert"][n % 3],
            )
        return emails

    # -- help desk -----------------------------------------------------------------------------
    def open_tier(self, tier: int, channel: str) -> None:
        """A tier with a Slack channel, staffed round the clock: the journeys run at any hour,
        and outside business hours the portal holds Slack posts until the next opening."""
        with self.app.app_context():
            admin = auth_services.find_user_by_email(ADMIN_EMAIL)
            assert admin is not None
            helpdesk_settings.save_tier_settings(
                admin,
                tier,
                slack_channel_id=channel,
                weekly_hours=[[[0, 1440]]] * 7,
                holiday_country=None,
                holiday_subdivision=None,
            )
            db.session.remove()
