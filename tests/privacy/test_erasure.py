"""Erasure on request: an admin confirms, one service erases. Nothing of the person is left in
any text column of any table nor in any file, while counts and other people's records stay as
they were; deleting an account never cascades into anyone else's records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from portal.audit.models import AuditEntry
from portal.auth import services as auth_services
from portal.auth.models import User
from portal.core.db import transaction
from portal.core.roles import Role
from portal.extensions import db
from portal.helpdesk import dashboard
from portal.helpdesk.models import Ticket, TicketMessage
from portal.outbox.models import MessageState, OutboxMessage
from portal.privacy import erasure, export
from portal.privacy.models import Erasure
from portal.signup import provisioning, reports
from portal.signup.models import Application, Programme, Wave
from tests.conftest import PASSWORD, deliver_outbox
from tests.privacy.conftest import (
    INTERNAL_NOTE,
    ORG,
    PERSON,
    STAFF_NOTE,
    STAFF_REPLY,
    TEAM,
    database_mentions,
    files_mentioning,
    row_values,
)

# The person's own words: the pieces of them that are searched for afterwards.
ERASED = [
    PERSON["name"],
    PERSON["email"],
    PERSON["github"],
    PERSON["institution"],
    PERSON["basis"],
    PERSON["contribution"],
    PERSON["subject"],
    PERSON["description"],
    PERSON["reply"],
    PERSON["rating"],
    PERSON["file"],
    PERSON["token"],
    STAFF_NOTE,
    "Zanzibar",
]


def _counts(app: Flask) -> dict[str, Any]:
    """What the dashboards show: seats by state, cohort composition, tickets by state."""
    with app.app_context():
        programme = db.session.scalars(select(Programme)).one()
        wave = db.session.scalars(select(Wave)).one()
        return {
            "programme": reports.programme_counts(programme),
            "plus_one": reports.plus_one_counts(programme),
            "wave": reports.wave_counts(wave),
            "composition": reports.composition(programme),
            "open_tickets": dashboard.open_tickets(),
            "tickets": db.session.execute(
                select(Ticket.state, func.count()).group_by(Ticket.state)
            ).all(),
            "applications": db.session.scalar(select(func.count()).select_from(Application)),
        }


def _others(app: Flask, world: Any) -> dict[str, Any]:
    """Every record of the other delegate, and staff's reply to the person."""
    with app.app_context():
        other = db.session.get(User, world.other.id)
        application = db.session.get(Application, world.other_application)
        ticket = db.session.get(Ticket, world.other_ticket)
        reply = db.session.scalars(
            select(TicketMessage).where(TicketMessage.author_id == world.staff.id)
        ).all()
        return {
            "user": row_values(other),
            "application": row_values(application),
            "collaborations": application.collaboration_codes,
            "notes": [row_values(n) for n in application.notes],
            "events": [row_values(e) for e in application.events],
            "ticket": row_values(ticket),
            "messages": [row_values(m) for m in ticket.messages],
            "staff_messages": sorted(m.id for m in reply),
            "staff_user": row_values(db.session.get(User, world.staff.id)),
        }


def _export_file(app: Flask, world: Any) -> Path:
    """The person asked for their data too: a built export waits for its download."""
    with app.app_context():
        export.request_own_export(db.session.get(User, world.person.id))
        export.run_export_jobs()
        (path,) = list((Path(app.instance_path) / "privacy-exports").iterdir())
        return path


def test_erasure_leaves_nothing_of_the_person_and_everything_of_everyone_else(
    app, world, login, mailbox, github_standin, slack
):
    person_browser = login(world.person)
    export_path = _export_file(app, world)
    with app.app_context():
        # An email to the person still waiting in the outbox when the erasure comes.
        auth_services.request_password_reset(PERSON["email"])
    counts, others = _counts(app), _others(app, world)
    received_before = len(mailbox.to(PERSON["email"]))
    assert github_standin.memberships[f"{ORG}/{TEAM}"][PERSON["github"]]
    assert all(path.is_file() for path in world.files)
    assert export_path.is_file()
    assert database_mentions(app, ERASED), "the scan finds the person before"

    admin = login(world.admin)
    preview = admin.submit(
        "/admin/privacy/erasure", {"email": PERSON["email"].upper()}, form_url="/admin/privacy/"
    )
    assert preview.status_code == 200
    page = preview.data.decode()
    assert "Erase ada.quillfeather@example.org" in page
    assert "Help-desk tickets (1)" in page
    assert "Attached files (2)" in page
    assert "Emails not yet sent to them (2): cancelled" in page  # the reset, the export
    # Typing the wrong address changes nothing.
    wrong = admin.submit(
        "/admin/privacy/erasure/confirm",
        {"email": PERSON["email"], "confirmation": "ada@example.org"},
        form_url="/admin/privacy/",
    )
    assert wrong.status_code == 422
    assert b"Type the address exactly as shown" in wrong.data
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Erasure)) == 0
    done = admin.submit(
        "/admin/privacy/erasure/confirm",
        {"email": PERSON["email"], "confirmation": f"  {PERSON['email'].upper()} "},
        form_url="/admin/privacy/",
    )
    assert done.status_code == 302
    deliver_outbox(app)

    assert database_mentions(app, ERASED) == []
    assert not any(path.exists() for path in world.files)
    assert not export_path.exists()
    assert files_mentioning([Path(app.instance_path), Path(app.config["MAIL_DIR"])], ERASED) == []
    # Counts are aggregates: they need no identity and do not change.
    assert _counts(app) == counts
    # Everyone else's records are as they were.
    assert _others(app, world) == others

    with app.app_context():
        pseudonym = erasure.pseudonym_for(PERSON["email"])
        account = db.session.get(User, world.person.id)
        assert (account.email, account.full_name) == (f"{pseudonym}@erased.invalid", "Erased user")
        assert not account.active
        assert account.password_hash is None
        assert account.tokens == []
        application = db.session.get(Application, world.person_application)
        assert application.state == "admitted"
        assert application.country == "US"
        assert application.notes[0].body == erasure.REDACTED
        ticket = db.session.get(Ticket, world.ticket)
        assert ticket.requester.full_name == "Erased user"
        assert ticket.attachments == []
        bodies = [m.body for m in ticket.messages]
        assert erasure.REDACTED in bodies
        # Staff's words stay (the person's name inside them replaced), the internal note too.
        assert STAFF_REPLY.replace(PERSON["name"], "Erased user") in bodies
        assert INTERNAL_NOTE.replace(PERSON["github"], "erased_" + pseudonym[7:]) in bodies
        # The Plus One they sponsored is still theirs to the programme, under the pseudonym.
        plus_one = db.session.get(Application, world.plus_one_application)
        assert plus_one.sponsor_id == world.person_application
        assert any(pseudonym in e.reason for e in plus_one.events)
        record = db.session.scalars(select(Erasure)).one()
        assert record.pseudonym == pseudonym
        assert record.erased_by_id == world.admin.id
        audit = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "privacy.erased")
        ).one()
        assert (audit.actor_id, audit.target) == (world.admin.id, f"user:{world.person.id}")
        # No email to the person is left waiting: the reset link was cancelled.
        waiting = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.state != MessageState.SENT)
        ).all()
        assert all(m.channel != "email" for m in waiting)

    assert len(mailbox.to(PERSON["email"])) == received_before
    # Off the GitHub team, through provisioning.
    assert PERSON["github"] not in github_standin.memberships[f"{ORG}/{TEAM}"]
    assert f"DELETE /orgs/{ORG}/teams/{TEAM}/memberships/{PERSON['github']}" in github_standin.calls
    # The browser that was signed in is signed out, and the account cannot sign in again.
    assert person_browser.get("/account/").status_code == 302
    again = app.test_client().submit(
        "/auth/login", {"email": PERSON["email"], "password": PASSWORD}
    )
    assert again.status_code == 422


def test_erasing_staff_keeps_what_they_wrote_about_others_under_the_pseudonym(app, world, login):
    admin = login(world.admin)
    response = admin.submit(
        "/admin/privacy/erasure/confirm",
        {"email": "grace@example.org", "confirmation": "grace@example.org"},
        form_url="/admin/privacy/",
    )
    assert response.status_code == 302
    assert database_mentions(app, ["Grace Okafor", "grace@example.org"]) == []
    with app.app_context():
        note = db.session.get(Application, world.other_application).notes[0]
        assert note.body == "Confirmed the data rights."
        assert note.author_label.startswith("Erased user <erased-")
        reply = db.session.get(Ticket, world.other_ticket).messages[-1]
        assert (reply.body, reply.author.full_name) == ("Try the small image.", "Erased user")


def test_who_cannot_be_erased(app, world, login):
    admin = login(world.admin)
    nobody = admin.submit(
        "/admin/privacy/erasure", {"email": "nobody@example.org"}, form_url="/admin/privacy/"
    )
    assert nobody.status_code == 422
    assert b"holds nothing under this address" in nobody.data
    itself = admin.submit(
        "/admin/privacy/erasure/confirm",
        {"email": "admin@example.org", "confirmation": "admin@example.org"},
        form_url="/admin/privacy/",
    )
    assert itself.status_code == 422
    assert b"An admin account cannot be erased" in itself.data
    not_an_email = admin.submit(
        "/admin/privacy/erasure", {"email": "x" * 300}, form_url="/admin/privacy/"
    )
    assert not_an_email.status_code == 422


def test_a_second_erasure_of_the_same_person_gets_the_same_pseudonym(app, world, login):
    admin = login(world.admin)
    confirm = {"email": PERSON["email"], "confirmation": PERSON["email"]}
    admin.submit("/admin/privacy/erasure/confirm", confirm, form_url="/admin/privacy/")
    # They come back: a new account and ticket under the same address, then ask again.
    with app.app_context():
        again = auth_services.create_user(
            email=PERSON["email"], full_name=PERSON["name"], password=None, role=Role.DELEGATE
        )
        again_id = again.id
    admin.submit("/admin/privacy/erasure/confirm", confirm, form_url="/admin/privacy/")
    with app.app_context():
        pseudonyms = db.session.scalars(select(Erasure.pseudonym)).all()
        assert len(pseudonyms) == 2
        assert len(set(pseudonyms)) == 1
        emails = {
            db.session.get(User, world.person.id).email,
            db.session.get(User, again_id).email,
        }
        assert len(emails) == 2
        assert all(e.startswith(pseudonyms[0]) for e in emails)


def test_no_foreign_key_to_an_account_cascades_into_other_peoples_records(app, world):
    own_rows = {"api_token", "user_session"}
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for key in table.foreign_keys:
                if key.column.table.name == "user_account" and table.name not in own_rows:
                    assert key.ondelete in ("SET NULL", "RESTRICT"), f"{table.name}.{key.parent}"
        # Deleting an account that filed a ticket is refused, not carried into the ticket.
        with pytest.raises(IntegrityError), transaction() as session:
            session.execute(delete(User).where(User.id == world.person.id))
        db.session.rollback()
        assert db.session.get(Ticket, world.ticket) is not None
        # An account with nothing of its own goes without touching what refers to it.
        with transaction() as session:
            session.execute(delete(User).where(User.id == world.staff.id))
        assert db.session.get(Ticket, world.other_ticket).messages[-1].author_id is None


def test_an_invitation_not_sent_yet_is_cancelled_and_the_removal_keeps_the_username_until_sent(
    app, world, login, github_standin
):
    with app.app_context(), transaction():
        provisioning.queue_invitation(db.session.get(Application, world.person_application))
    calls_before = list(github_standin.calls)
    admin = login(world.admin)
    admin.submit(
        "/admin/privacy/erasure/confirm",
        {"email": PERSON["email"], "confirmation": PERSON["email"]},
        form_url="/admin/privacy/",
    )
    with app.app_context():
        (removal,) = db.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.channel == "github", OutboxMessage.state == MessageState.PENDING
            )
        ).all()
        assert removal.payload["method"] == "DELETE"
        assert removal.payload["path"].endswith(f"/{PERSON['github']}")
    deliver_outbox(app)
    assert github_standin.calls[len(calls_before) :] == [
        f"DELETE /orgs/{ORG}/teams/{TEAM}/memberships/{PERSON['github']}"
    ]
    with app.app_context():
        sent = db.session.get(OutboxMessage, removal.id)
        assert sent.state == MessageState.SENT
        assert sent.payload["path"].endswith(
            "/erased_" + erasure.pseudonym_for(PERSON["email"])[7:]
        )
        assert erasure.PENDING_USERNAME not in sent.payload
        application = db.session.get(Application, world.person_application)
        assert application.github_state == "removed"
