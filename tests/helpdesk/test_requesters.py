"""Delegates and their tickets: filing (routing, validation, attachments), following, replying,
solving, rating, reopening; privacy between requesters; email through the outbox."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from portal.core.db import utcnow
from portal.extensions import db
from portal.helpdesk.models import EventKind, Ticket, TicketAttachment, TicketEvent
from portal.helpdesk.staff import add_staff_message, change_state, claim_ticket
from portal.helpdesk.sweep import close_resolved_tickets
from tests.conftest import deliver_outbox
from tests.helpdesk.helpers import act, file_ticket, load_ticket

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _number(response) -> int:
    match = re.search(r"/tickets/(\d+)$", response.headers["Location"])
    assert match, response.headers.get("Location")
    return int(match.group(1))


def test_delegate_files_a_ticket_that_is_routed_by_category_and_confirmed_by_email(
    app, as_user, people, mailbox
):
    client = as_user(people.delegate)
    response = client.submit(
        "/tickets/new",
        {
            "subject": "Cannot sign in to the Science Platform",
            "category": "account_access",
            "priority": "high",
            "description": "GitHub says **not authorised**.",
            "action": "file",
        },
    )
    assert response.status_code == 302
    number = _number(response)
    ticket = load_ticket(app, number)
    assert (ticket.tier, ticket.state, ticket.priority) == (2, "new", "high")
    assert ticket.next_due_at is not None

    page = client.get(f"/tickets/{number}")
    assert page.status_code == 200
    assert b"Cannot sign in to the Science Platform" in page.data
    assert b"<strong>not authorised</strong>" in page.data
    assert b"Received" in page.data

    other = as_user(people.delegate)
    other_ticket = other.submit(
        "/tickets/new",
        {
            "subject": "Butler question",
            "category": "butler_images",
            "priority": "normal",
            "description": "Which collection?",
            "action": "file",
        },
    )
    assert load_ticket(app, _number(other_ticket)).tier == 1

    deliver_outbox(app)
    received = [m for m in mailbox.to("delegate@example.org") if "We received" in m["Subject"]]
    assert len(received) == 2
    assert f"#{number}" in received[0]["Subject"]
    assert f"http://portal.test/tickets/{number}" in mailbox.text(received[0])


def test_the_form_keeps_what_was_typed_and_explains_errors(as_user, people):
    client = as_user(people.delegate)
    response = client.submit(
        "/tickets/new",
        {
            "subject": "",
            "category": "portal",
            "priority": "urgent",
            "description": "Kept text",
            "action": "file",
        },
    )
    assert response.status_code == 422
    body = response.data.decode()
    assert "Kept text" in body
    assert 'aria-invalid="true"' in body
    assert "Not a valid choice" in body  # only staff may mark a ticket urgent
    assert 'value="urgent"' not in body


def test_staff_may_file_urgent_tickets(app, as_user, people):
    client = as_user(people.tier1)
    response = client.submit(
        "/tickets/new",
        {
            "subject": "Everything is down",
            "category": "notebook",
            "priority": "urgent",
            "description": "No spawns at all.",
            "action": "file",
        },
    )
    assert response.status_code == 302
    assert load_ticket(app, _number(response)).priority == "urgent"


def test_applicants_and_the_signed_out_cannot_file(client, as_user, people):
    assert as_user(people.applicant).get("/tickets/new").status_code == 403
    response = client.get("/tickets/new")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_attachments_are_checked_stored_outside_the_database_and_served_as_downloads(
    app, as_user, people
):
    client = as_user(people.delegate)
    refused = client.submit(
        "/tickets/new",
        {
            "subject": "Screenshot of the error",
            "category": "portal",
            "priority": "normal",
            "description": "See attached.",
            "action": "file",
            "attachments": [(io.BytesIO(b"<script>alert(1)</script>"), "page.html")],
        },
    )
    assert refused.status_code == 422
    assert b"this type cannot be attached" in refused.data
    assert b"Screenshot of the error" in refused.data

    disguised = client.submit(
        "/tickets/new",
        {
            "subject": "Screenshot",
            "category": "portal",
            "priority": "normal",
            "description": "x",
            "action": "file",
            "attachments": [(io.BytesIO(b"MZ\x90\x00 not an image"), "error.png")],
        },
    )
    assert disguised.status_code == 422
    assert b"not a PNG file" in disguised.data

    too_big = client.submit(
        "/tickets/new",
        {
            "subject": "Big log",
            "category": "portal",
            "priority": "normal",
            "description": "x",
            "action": "file",
            "attachments": [(io.BytesIO(b"x" * (64 * 1024 + 1)), "huge.log")],
        },
    )
    assert too_big.status_code == 422
    assert b"at most" in too_big.data

    accepted = client.submit(
        "/tickets/new",
        {
            "subject": "Screenshot attached",
            "category": "portal",
            "priority": "normal",
            "description": "See attached.",
            "action": "file",
            "attachments": [
                (io.BytesIO(PNG), "../../etc/error shot.png"),
                (io.BytesIO(b"line 1\nline 2\n"), "run.log"),
            ],
        },
    )
    assert accepted.status_code == 302
    number = _number(accepted)
    with app.app_context():
        files = db.session.scalars(select(TicketAttachment).order_by(TicketAttachment.id)).all()
        assert [f.filename for f in files] == ["error_shot.png", "run.log"]
        stored = [app.config["HELPDESK_ATTACHMENT_DIR"] + "/" + f.stored_name for f in files]
        ids = [f.id for f in files]
    assert Path(stored[0]).read_bytes() == PNG

    download = client.get(f"/tickets/{number}/attachments/{ids[0]}")
    assert download.status_code == 200
    assert download.data == PNG
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Content-Type"] == "image/png"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    download.close()
    assert (
        as_user(people.other_delegate).get(f"/tickets/{number}/attachments/{ids[0]}").status_code
        == 404
    )
    staff_download = as_user(people.tier1).get(f"/staff/tickets/{number}/attachments/{ids[1]}")
    assert staff_download.data == b"line 1\nline 2\n"
    assert staff_download.headers["Content-Type"] == "text/plain; charset=utf-8"
    staff_download.close()
    assert client.get(f"/tickets/{number + 1}/attachments/{ids[0]}").status_code == 404


def test_a_requester_never_sees_another_requesters_ticket(app, as_user, people):
    number = file_ticket(app, people.delegate)
    stranger = as_user(people.other_delegate)
    assert stranger.get(f"/tickets/{number}").status_code == 404
    for action in ("reply", "solved", "rate"):
        response = stranger.submit(
            f"/tickets/{number}/{action}", {"body": "mine now", "rating": "5"}, form_url="/tickets/"
        )
        assert response.status_code == 404
    assert b"TAP query times out" not in stranger.get("/tickets/?show=all").data
    # Staff read tickets on their own pages, not through the requester's.
    assert as_user(people.tier1).get(f"/tickets/{number}").status_code == 404


def test_internal_notes_are_never_shown_or_mailed_to_the_requester(app, as_user, people, mailbox):
    number = file_ticket(app, people.delegate)
    staff = as_user(people.tier1)
    staff.submit(
        f"/staff/tickets/{number}/reply",
        {"body": "SECRET-NOTE: the user table is corrupt", "action": "note"},
        form_url=f"/staff/tickets/{number}",
    )
    staff.submit(
        f"/staff/tickets/{number}/reply",
        {
            "body": "Could you send the query?",
            "action": "reply",
            "new_state": "waiting_on_requester",
        },
        form_url=f"/staff/tickets/{number}",
    )
    page = as_user(people.delegate).get(f"/tickets/{number}")
    assert b"Could you send the query?" in page.data
    assert b"SECRET-NOTE" not in page.data
    assert b"internal note" not in page.data.lower()
    staff_page = staff.get(f"/staff/tickets/{number}")
    assert b"SECRET-NOTE" in staff_page.data
    assert b"Internal note: not visible to the requester" in staff_page.data

    deliver_outbox(app)
    to_requester = mailbox.to("delegate@example.org")
    assert to_requester
    assert all("SECRET-NOTE" not in mailbox.text(m) + mailbox.html(m) for m in to_requester)
    (reply,) = [m for m in to_requester if "New reply" in m["Subject"]]
    assert "Could you send the query?" in mailbox.text(reply)
    assert "Waiting for your reply" in mailbox.text(reply)
    assert "<p>Could you send the query?</p>" in mailbox.html(reply)


def test_requester_reply_reopens_the_conversation_and_tells_the_assignee(
    app, as_user, people, mailbox
):
    number = file_ticket(app, people.delegate)
    act(app, people.tier1, claim_ticket, number)
    act(
        app,
        people.tier1,
        add_staff_message,
        number,
        body="Which query?",
        internal=False,
        new_state="waiting_on_requester",
    )
    client = as_user(people.delegate)
    page = client.get(f"/tickets/{number}")
    assert b"waiting for your reply" in page.data
    response = client.submit(
        f"/tickets/{number}/reply",
        {"body": "SELECT * FROM object", "attachments": [(io.BytesIO(b"a,b\n1,2\n"), "rows.csv")]},
        form_url=f"/tickets/{number}",
    )
    assert response.status_code == 302
    ticket = load_ticket(app, number)
    assert ticket.state == "open"
    assert ticket.update_due_at is not None  # staff owe an answer to the follow-up
    empty = client.submit(f"/tickets/{number}/reply", {"body": ""}, form_url=f"/tickets/{number}")
    assert empty.status_code == 422

    deliver_outbox(app)
    (to_staff,) = mailbox.to("tier1@example.org")
    assert "replied" in to_staff["Subject"]
    assert "SELECT * FROM object" in mailbox.text(to_staff)
    assert f"/staff/tickets/{number}" in mailbox.text(to_staff)


def test_solve_rate_reopen_within_the_window_and_close_after_it(app, as_user, people, mailbox):
    number = file_ticket(app, people.delegate)
    client = as_user(people.delegate)
    early = client.submit(f"/tickets/{number}/rate", {"rating": "5"}, form_url=f"/tickets/{number}")
    assert early.status_code == 422
    assert b"once the ticket is resolved" in early.data

    assert (
        client.submit(f"/tickets/{number}/solved", form_url=f"/tickets/{number}").status_code == 302
    )
    assert load_ticket(app, number).state == "resolved"
    bad = client.submit(f"/tickets/{number}/rate", {"rating": "9"}, form_url=f"/tickets/{number}")
    assert bad.status_code == 422
    rated = client.submit(
        f"/tickets/{number}/rate",
        {"rating": "4", "comment": "Quick"},
        form_url=f"/tickets/{number}",
    )
    assert rated.status_code == 302
    assert (load_ticket(app, number).rating, load_ticket(app, number).rating_comment) == (
        4,
        "Quick",
    )

    # A reply within the reopen window reopens the ticket.
    client.submit(f"/tickets/{number}/reply", {"body": "It is back"}, form_url=f"/tickets/{number}")
    assert load_ticket(app, number).state == "open"
    act(app, people.tier1, change_state, number, "resolved")

    # After the window the job closes it, mails the requester, and replies are refused.
    with time_machine.travel(utcnow() + timedelta(days=15), tick=False):
        with app.app_context():
            assert close_resolved_tickets() == 1
            assert close_resolved_tickets() == 0
        assert load_ticket(app, number).state == "closed"
        client = as_user(people.delegate)  # sessions last 12 hours
        refused = client.submit(
            f"/tickets/{number}/reply", {"body": "Again"}, form_url=f"/tickets/{number}"
        )
        assert refused.status_code == 422
        assert b"file a new ticket" in refused.data
        page = client.get(f"/tickets/{number}")
        assert b"file a follow-up ticket" in page.data
        assert b"Follow-up+to+%23" in page.data or b"Follow-up%20to%20%23" in page.data
        deliver_outbox(app)
    subjects = [m["Subject"] for m in mailbox.to("delegate@example.org")]
    assert any(s.startswith(f"[DP0 help desk #{number}] Resolved") for s in subjects)
    assert any(s.startswith(f"[DP0 help desk #{number}] Closed") for s in subjects)
    with app.app_context():
        kinds = [
            e.kind
            for e in db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == number))
        ]
    assert kinds.count(EventKind.REOPENED) == 1
    assert kinds.count(EventKind.RATED) == 1


def test_my_tickets_lists_only_mine_by_state(app, as_user, people):
    mine = file_ticket(app, people.delegate, subject="Mine and open")
    done = file_ticket(app, people.delegate, subject="Mine and solved")
    file_ticket(app, people.other_delegate, subject="Someone else's")
    act(app, people.tier1, change_state, done, "resolved")
    client = as_user(people.delegate)
    open_page = client.get("/tickets/").data
    assert b"Mine and open" in open_page
    assert b"Mine and solved" not in open_page
    closed_page = client.get("/tickets/?show=closed").data
    assert b"Mine and solved" in closed_page
    everything = client.get("/tickets/?show=all").data
    assert b"Someone else" not in everything
    assert client.get("/tickets/?show=nonsense").status_code == 200
    assert mine != done


def test_history_is_append_only(app, people):
    number = file_ticket(app, people.delegate)
    with app.app_context():
        event = db.session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == number))
        event.kind = "tampered"
        with pytest.raises(RuntimeError, match="append-only"):
            db.session.flush()
        db.session.rollback()
        db.session.delete(db.session.scalar(select(TicketEvent)))
        with pytest.raises(RuntimeError, match="append-only"):
            db.session.flush()
        db.session.rollback()
        assert db.session.get(Ticket, number) is not None


def test_filing_is_rate_limited_per_account(as_user, people):
    client = as_user(people.delegate)
    token = client.csrf_token("/tickets/new")
    form = {"subject": "Another one", "action": "suggest", "csrf_token": token}
    assert all(client.post("/tickets/new", data=form).status_code == 200 for _ in range(30))
    limited = client.post("/tickets/new", data=form)
    assert limited.status_code == 429
    # Someone else is not held back by it.
    assert as_user(people.other_delegate).submit("/tickets/new", form).status_code == 200
