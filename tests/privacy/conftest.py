"""Fixtures for the privacy tests: a person with a record of every kind (account, GitHub link,
API token, an admitted application with a Plus One, staff notes, an urgent ticket posted to
Slack with files, replies, notes and a rating, emails sent and waiting), someone else beside
them, and a scan of every text column and file for what must be gone."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import JSON, String, Text, cast, func, inspect, select, text

from portal.auth import services as auth_services
from portal.auth.models import User
from portal.core.roles import Role
from portal.extensions import db
from portal.helpdesk import requesters, staff
from portal.helpdesk.attachments import Upload
from portal.helpdesk.models import Ticket
from portal.signup import applying, decisions, links
from portal.signup.models import Application
from tests.conftest import deliver_outbox
from tests.helpdesk.helpers import configure_tier
from tests.signup import conftest as signup_fixtures
from tests.signup.conftest import ProgrammeRef, application_input

# The sign-up tests' fixtures: a programme with a wave, applications made through the services.
make_programme = signup_fixtures.make_programme
submit = signup_fixtures.submit
confirm = signup_fixtures.confirm
apply_confirmed = signup_fixtures.apply_confirmed

ORG, TEAM = "lsst-dp0", "delegates"
SLACK_CHANNEL = "C0PRIVACY1"


@pytest.fixture
def app_config(github_standin: Any) -> dict[str, Any]:
    return {
        "GITHUB_TOKEN": github_standin.api_token,
        "GITHUB_ORG": ORG,
        "GITHUB_TEAM": TEAM,
        "GITHUB_API_URL": github_standin.url,
        # Frozen clocks never reach a spaced slot; spacing is the outbox's own test.
        "SLACK_CHANNEL_INTERVAL_MS": 0,
    }


# What identifies the person, and what they wrote: none of it may survive their erasure.
PERSON = {
    "name": "Ada Quillfeather",
    "email": "ada.quillfeather@example.org",
    "github": "adaquill",
    "institution": "Quillfeather Institute of Orbits",
    "basis": "Postdoc at a Chilean institute with Rubin data rights",
    "contribution": "I will compare photometric redshifts against my Zanzibar catalogue.",
    "subject": "Butler cannot find my Zanzibar collection",
    "description": "Running butler query-collections shows nothing since Tuesday, sorry.",
    "reply": "Still broken after the restart; the log is attached here.",
    "rating": "Solved within the hour, the Zanzibar fix works.",
    "file": "zanzibar-butler.log",
    "token": "weekly stats script",
}
OTHER = {
    "name": "Mei Chen",
    "email": "mei.chen@example.org",
    "institution": "Chen Laboratory for Exoplanet Atmospheres",
    "subject": "Notebook server will not start",
    "description": "The spawner page spins forever on the large image.",
}
STAFF_NOTE = "Strong candidate; knows the Zanzibar field well."
INTERNAL_NOTE = "Internal: adaquill hit the butler quota on the shared registry."
STAFF_REPLY = "Hello Ada Quillfeather, we restarted the butler registry."


@dataclass
class World:
    admin: User
    staff: User
    person: User
    other: User
    programme: ProgrammeRef
    person_application: int
    other_application: int
    plus_one_application: int
    ticket: int
    other_ticket: int
    files: list[Path] = field(default_factory=list)


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    assert user is not None
    return user


@pytest.fixture
def world(
    app: Flask, make_user: Any, make_programme: Any, apply_confirmed: Any, slack: Any
) -> World:
    admin = make_user(Role.ADMIN, tier=3, email="admin@example.org", name="Portal Admin")
    staffer = make_user(Role.STAFF, tier=1, email="grace@example.org", name="Grace Okafor")
    # Staff, so that they can hold an API token and file an urgent ticket (posted to Slack).
    person = make_user(Role.STAFF, email=PERSON["email"], name=PERSON["name"])
    other = make_user(Role.DELEGATE, email=OTHER["email"], name=OTHER["name"])
    configure_tier(app, admin, 1, slack_channel_id=SLACK_CHANNEL)
    programme = make_programme(mode="fcfs", capacity=5)
    with app.app_context():
        auth_services.sign_in_with_github(
            auth_services.GitHubIdentity(
                id=4242, login=PERSON["github"], name=None, verified_email=PERSON["email"]
            ),
            _user(person.id),
        )
        auth_services.create_api_token(_user(person.id), PERSON["token"])
        # Submitted while signed in with the verified address: admitted at once (first come,
        # first served), which invites the GitHub username to the team.
        mine = applying.submit_application(
            programme.id,
            application_input(
                1,
                full_name=PERSON["name"],
                email=PERSON["email"],
                institution=PERSON["institution"],
                github_username=PERSON["github"],
                data_rights_basis=PERSON["basis"],
                contribution=PERSON["contribution"],
            ),
            _user(person.id),
        ).application.id
    other_application = apply_confirmed(
        programme,
        2,
        full_name=OTHER["name"],
        email=OTHER["email"],
        institution=OTHER["institution"],
        github_username="meichen",
    )
    plus_one = apply_confirmed(
        programme,
        3,
        full_name="Kai Plusone",
        email="kai@example.org",
        plus_one_sponsor=PERSON["email"],
    )
    with app.app_context():
        plus_one_row = db.session.get(Application, plus_one)
        applying.answer_sponsorship(links.sponsor_token(plus_one_row), confirm=True)
        decisions.add_note(mine, _user(staffer.id), STAFF_NOTE)
        decisions.add_note(other_application, _user(staffer.id), "Confirmed the data rights.")
        log = Upload(PERSON["file"], "log", b"butler: no collection adaquill/zanzibar\n")
        ticket = requesters.create_ticket(
            _user(person.id),
            subject=PERSON["subject"],
            description=PERSON["description"],
            category="butler_images",
            priority="urgent",
            uploads=[log],
        ).id
        other_ticket = requesters.create_ticket(
            _user(other.id),
            subject=OTHER["subject"],
            description=OTHER["description"],
            category="notebook",
            priority="normal",
        ).id
        staff.add_staff_message(_user(staffer.id), ticket, body=STAFF_REPLY, internal=False)
        staff.add_staff_message(_user(staffer.id), ticket, body=INTERNAL_NOTE, internal=True)
        requesters.add_requester_reply(
            _user(person.id), ticket, PERSON["reply"], [Upload("screen.txt", "txt", b"empty\n")]
        )
        staff.add_staff_message(
            _user(staffer.id), other_ticket, body="Try the small image.", internal=False
        )
        requesters.mark_solved(_user(person.id), ticket)
        requesters.rate_ticket(_user(person.id), ticket, 5, PERSON["rating"])
        files = [
            Path(app.config["HELPDESK_ATTACHMENT_DIR"]) / a.stored_name
            for a in db.session.get(Ticket, ticket).attachments
        ]
    deliver_outbox(app)
    return World(
        admin=admin,
        staff=staffer,
        person=person,
        other=other,
        programme=programme,
        person_application=mine,
        other_application=other_application,
        plus_one_application=plus_one,
        ticket=ticket,
        other_ticket=other_ticket,
        files=files,
    )


# --- looking for what must be gone ---------------------------------------------------------------


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def database_mentions(app: Flask, needles: Iterable[str]) -> list[str]:
    """Every value of every text and JSON column of every table that contains one of
    `needles` (case-insensitively), as "table.column: needle"; and on PostgreSQL every ticket
    whose search document still matches one."""
    wanted = [n.lower() for n in needles]
    found = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, String | JSON):
                    values = db.session.scalars(select(column).where(column.is_not(None)))
                elif db.engine.dialect.name == "postgresql" and column.name == "search_vector":
                    values = db.session.scalars(
                        select(cast(column, Text)).where(column.is_not(None))
                    )
                else:
                    continue
                for value in values:
                    lowered = _as_text(value).lower()
                    found += [f"{table.name}.{column.name}: {n}" for n in wanted if n in lowered]
        if db.engine.dialect.name == "postgresql":
            for needle in wanted:
                matches = db.session.scalar(
                    select(func.count())
                    .select_from(Ticket)
                    .where(
                        Ticket.search_vector.op("@@")(
                            func.plainto_tsquery(text("'english'::regconfig"), needle)
                        )
                    )
                )
                if matches:
                    found.append(f"helpdesk_ticket.search_vector matches {needle}")
    return found


def files_mentioning(folders: Iterable[Path], needles: Iterable[str]) -> list[str]:
    wanted = [n.lower().encode() for n in needles]
    found = []
    for folder in folders:
        for path in Path(folder).rglob("*"):
            if path.is_file():
                content = path.read_bytes().lower()
                found += [f"{path}: {n.decode()}" for n in wanted if n in content]
    return found


def row_values(obj: Any) -> dict[str, Any]:
    """A model row's column values (the search document aside)."""
    return {
        attr.key: getattr(obj, attr.key)
        for attr in inspect(obj).mapper.column_attrs
        if attr.key != "search_vector"
    }
