"""Self-service export: asked for from the account page (or an applicant's status link), built
by the worker, delivered by a signed and expiring link; it holds every kind of record of the
person and nothing of anyone else's."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import time_machine
from flask import Flask
from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.core.db import utcnow
from portal.core.tokens import make_token
from portal.extensions import db
from portal.privacy import export
from portal.privacy.models import PersonalDataExport
from portal.signup import links, privacy
from portal.signup.models import Application
from tests.conftest import deliver_outbox
from tests.privacy.conftest import INTERNAL_NOTE, OTHER, PERSON, STAFF_NOTE, STAFF_REPLY


def _build_and_deliver(app: Flask) -> None:
    """What the worker does: its export job, then delivery of the email it wrote."""
    with app.app_context():
        export.run_export_jobs()
        db.session.remove()
    deliver_outbox(app)


def _download(client: Any, mailbox: Any, address: str) -> tuple[Any, str]:
    link = mailbox.last_link_to(address, "/privacy/download/")
    response = _get(client, link)
    return response, link


def _get(client: Any, link: str) -> Any:
    """GET a link, read all of the answer and close the file it streams."""
    response = client.get(link.removeprefix("http://portal.test"))
    response.get_data()
    response.close()
    return response


def test_export_holds_every_kind_of_record_and_nothing_of_anyone_else(app, world, login, mailbox):
    client = login(world.person)
    assert b'action="/privacy/export"' in client.get("/account/").data
    asked = client.submit("/privacy/export", form_url="/account/")
    assert asked.status_code == 302
    assert b"We are preparing a copy of your data" in client.get("/account/").data
    assert not mailbox.to(PERSON["email"])  # nothing yet: the worker builds it
    _build_and_deliver(app)

    response, _ = _download(client, mailbox, PERSON["email"])
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    document = json.loads(response.data)
    raw = response.data.decode()

    account = document["account"]
    assert (account["email"], account["full_name"]) == (PERSON["email"], PERSON["name"])
    assert account["github_username"] == PERSON["github"]
    assert document["signed_in_browsers"], "the browser signed in above"
    assert [t["name"] for t in document["api_tokens"]] == [PERSON["token"]]
    assert "dp0_" not in raw, "token secrets are never stored, so never exported"

    (application,) = document["applications"]
    assert application["institution"] == PERSON["institution"]
    assert application["contribution"] == PERSON["contribution"]
    assert application["data_rights_basis"] == PERSON["basis"]
    assert application["state"] == "Admitted"
    assert application["privacy_notice_version"] == 1
    assert application["privacy_notice_accepted_at"]
    assert application["science_collaborations"] == ["desc"]
    assert [e["to"] for e in application["history"]] == [
        "Email not confirmed",
        "Under review",
        "Admitted",
    ]
    assert [n["text"] for n in application["staff_notes"]] == [STAFF_NOTE]

    (ticket,) = document["tickets"]
    assert (ticket["subject"], ticket["description"]) == (PERSON["subject"], PERSON["description"])
    assert ticket["rating_comment"] == PERSON["rating"]
    assert [(m["from"], m["text"]) for m in ticket["messages"]] == [
        ("help desk", STAFF_REPLY),
        ("you", PERSON["reply"]),
    ]
    assert sorted(f["name"] for f in ticket["files"]) == sorted([PERSON["file"], "screen.txt"])
    assert ticket["history"]

    subjects = {e["subject"] for e in document["emails"]}
    assert (
        f"[DP0 help desk #{world.ticket}] We received your request: {PERSON['subject']}" in subjects
    )
    assert any("admitted" in s for s in subjects)
    assert all(e["to"] == PERSON["email"] for e in document["emails"])

    # Nothing of anyone else's: not the other delegate, not staff's internal notes, not who
    # on the staff wrote what.
    for foreign in [*OTHER.values(), INTERNAL_NOTE, "grace@example.org", "meichen"]:
        assert foreign.lower() not in raw.lower(), foreign


def test_an_applicant_without_an_account_asks_by_their_status_link(
    app, make_programme, apply_confirmed, client, mailbox
):
    programme = make_programme(mode="reviewed")
    application_id = apply_confirmed(programme, 7, email="noaccount@example.org")
    apply_confirmed(programme, 8, email="someone.else@example.org")
    with app.app_context():
        token = links.status_token(db.session.get(Application, application_id))
    status_page = f"/signup/status/{token}"
    assert f'action="/privacy/export/status/{token}"'.encode() in client.get(status_page).data
    asked = client.submit(f"/privacy/export/status/{token}", form_url=status_page)
    assert asked.status_code == 302
    assert asked.headers["Location"].endswith(status_page)
    _build_and_deliver(app)

    response, _ = _download(app.test_client(), mailbox, "noaccount@example.org")
    document = response.get_json(force=True)
    assert document["account"] is None
    assert [a["email"] for a in document["applications"]] == ["noaccount@example.org"]
    assert "someone.else" not in response.data.decode()
    assert all(
        "/privacy/download/" not in m.as_string() for m in mailbox.to("someone.else@example.org")
    )


def test_a_damaged_status_link_asks_for_nothing(app, client):
    response = client.submit("/privacy/export/status/not-a-token", form_url="/signup/status")
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalars(select(PersonalDataExport)).all() == []


def test_the_link_is_signed_expires_and_its_file_is_deleted(app, world, login, mailbox):
    client = login(world.person)
    client.submit("/privacy/export", form_url="/account/")
    _build_and_deliver(app)
    good, link = _download(client, mailbox, PERSON["email"])
    assert good.status_code == 200
    token = link.rsplit("/", 1)[1]
    # A token for another export id, or edited by hand, is refused.
    assert client.get(f"/privacy/download/{token[:-2]}xx").status_code == 400
    with app.app_context():
        forged = make_token("signup-status", {"id": 1, "f": token})
    assert client.get(f"/privacy/download/{forged}").status_code == 400
    # Anyone with the link may download it (it went only to the person's address): no account.
    assert _get(app.test_client(), link).status_code == 200

    with app.app_context():
        stored = db.session.scalars(select(PersonalDataExport.stored_name)).one()
    path = Path(app.instance_path) / "privacy-exports" / str(stored)
    assert path.is_file()
    assert path.stat().st_mode & 0o077 == 0, "only the portal may read the file"

    with time_machine.travel(utcnow() + timedelta(hours=73)):
        expired = _get(client, link)
        assert expired.status_code == 400
        assert b"expired" in expired.data
        with app.app_context():
            export.run_export_jobs()
            assert db.session.scalars(select(PersonalDataExport)).all() == []
    assert not path.exists()


def test_asking_twice_sends_one_email_and_each_export_is_audited(app, world, login, mailbox):
    client = login(world.person)
    client.submit("/privacy/export", form_url="/account/")
    client.submit("/privacy/export", form_url="/account/")
    _build_and_deliver(app)
    links_sent = [m for m in mailbox.to(PERSON["email"]) if "/privacy/download/" in m.as_string()]
    assert len(links_sent) == 1
    _download(client, mailbox, PERSON["email"])
    with app.app_context():
        entries = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "export.personal_data")
        ).all()
        assert [e.after["step"] for e in entries] == ["requested", "downloaded"]
        assert {e.actor_id for e in entries} == {world.person.id}
        assert all(e.remote_addr for e in entries)


def test_signed_out_people_cannot_ask_from_the_account_page(client):
    response = client.submit("/privacy/export", form_url="/auth/login")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_the_command_line_export_for_an_operator(app, world, tmp_path):
    output = tmp_path / "answer.json"
    result = app.test_cli_runner().invoke(args=["privacy", "export", PERSON["email"], str(output)])
    assert result.exit_code == 0, result.output
    document = json.loads(output.read_text())
    assert document["account"]["email"] == PERSON["email"]
    assert len(document["applications"]) == 1
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry)).all()[-1]
        assert (entry.action, entry.target) == ("export.personal_data", f"user:{world.person.id}")


def test_a_changed_notice_does_not_stand_between_a_person_and_their_data(
    app, world, login, mailbox
):
    client = login(world.person)
    with app.app_context():
        current = privacy.published_notice(world.programme.id)
        assert current is not None
        privacy.save_notice(
            world.programme.id,
            privacy.NoticeFields(
                body="We now also keep your favourite telescope.",
                purposes=dict(current.purposes),
                changes="We keep your favourite telescope.",
            ),
            publish=True,
        )
    assert "/signup/privacy/changes" in client.get("/account/").headers["Location"]
    assert client.submit("/privacy/export", form_url="/signup/privacy/changes").status_code == 302
    _build_and_deliver(app)
    response, _ = _download(client, mailbox, PERSON["email"])
    assert response.status_code == 200
    assert response.get_json(force=True)["account"]["email"] == PERSON["email"]
