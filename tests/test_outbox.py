"""The delivery outbox against real remotes: an SMTP server and a Slack stand-in over HTTP."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import time_machine
from sqlalchemy import select

from portal.core.db import transaction, utcnow
from portal.core.roles import Role
from portal.extensions import db
from portal.outbox import enqueue, send_email
from portal.outbox.models import MessageState, OutboxMessage
from portal.outbox.service import seconds_until_next_due
from tests.conftest import deliver_outbox, free_port


def _post(app, text: str, channel: str = "C-TIER1", **options) -> int:
    with app.app_context(), transaction():
        message = enqueue(
            "slack",
            "chat.postMessage",
            {"args": {"channel": channel, "text": text}},
            rate_key=f"slack:{channel}",
            **options,
        )
        return message.id


def _state(app, message_id: int) -> OutboxMessage:
    with app.app_context():
        message = db.session.get(OutboxMessage, message_id)
        db.session.expunge(message)
        return message


def test_messages_wait_for_commit_and_go_once(app, slack):
    app.config["SLACK_CHANNEL_INTERVAL_MS"] = 0
    with app.app_context():
        try:
            with transaction():
                enqueue(
                    "slack", "chat.postMessage", {"args": {"channel": "C1", "text": "rolled back"}}
                )
                raise RuntimeError("the change failed")
        except RuntimeError:
            pass
    ids = [_post(app, f"hello {n}") for n in range(3)]
    assert deliver_outbox(app) == 3
    assert deliver_outbox(app) == 0
    assert [m["text"] for m in slack.channels["C-TIER1"]] == ["hello 0", "hello 1", "hello 2"]
    assert slack.find("rolled back") == []
    for message_id in ids:
        message = _state(app, message_id)
        assert message.state == MessageState.SENT
        assert message.remote_id.startswith("C-TIER1/")


def test_remote_down_then_back_delivers_every_message_exactly_once(app, slack):
    app.config["SLACK_CHANNEL_INTERVAL_MS"] = 0
    slack.down = True
    ids = [_post(app, f"escalation {n}", channel=f"C{n % 3}") for n in range(9)]
    deliver_outbox(app)
    for message_id in ids:
        message = _state(app, message_id)
        assert message.state == MessageState.PENDING
        assert message.attempts == 1
        assert "503" in message.last_error
    slack.down = False
    # Nothing is resent before its backoff has passed...
    assert deliver_outbox(app) == 0
    # ...and after it, each message goes exactly once.
    with time_machine.travel(utcnow() + timedelta(minutes=5), tick=True):
        assert deliver_outbox(app) == 9
        assert deliver_outbox(app) == 0
    texts = sorted(m["text"] for m in slack.all_posts())
    assert texts == sorted(f"escalation {n}" for n in range(9))


def test_an_idle_worker_sleeps_until_the_next_slot_not_a_whole_poll(app, slack):
    app.config["SLACK_CHANNEL_INTERVAL_MS"] = 400
    with app.app_context():
        assert seconds_until_next_due(1.0) == 1.0  # nothing waits: the whole poll
    first, second = _post(app, "first"), _post(app, "second")
    with app.app_context(), transaction():
        enqueue(
            "slack",
            "chat.update",
            {"args": {"text": "edit"}},
            depends_on=db.session.get(OutboxMessage, second),
            not_before=utcnow() + timedelta(milliseconds=50),
        )
    assert deliver_outbox(app, rounds=1) == 1  # the channel's next slot is 0.4 s away
    with app.app_context():
        wait = seconds_until_next_due(1.0)
    # The edit waiting for the second post does not count; the second post's slot does.
    assert 0.2 < wait <= 0.4
    assert _state(app, first).state == MessageState.SENT


def test_a_busy_channel_does_not_hold_up_the_others(app, slack):
    app.config["SLACK_CHANNEL_INTERVAL_MS"] = 60_000
    for n in range(45):  # more than two batches, all for one channel
        _post(app, f"busy {n}", channel="C-BUSY")
    assert deliver_outbox(app, rounds=1) == 1  # the busy channel's one slot for a minute
    quiet = _post(app, "quiet", channel="C-QUIET")
    assert deliver_outbox(app, rounds=1) == 1
    assert _state(app, quiet).state == MessageState.SENT
    assert [m["text"] for m in slack.channels["C-QUIET"]] == ["quiet"]


def test_rate_limit_retry_after_is_honoured(app, slack):
    app.config["SLACK_CHANNEL_INTERVAL_MS"] = 0
    # A long Retry-After goes back to the outbox instead of stalling the worker in place.
    slack.retry_after = 30
    slack.fail_statuses = [429]
    message_id = _post(app, "rate limited")
    sent_at = utcnow()
    deliver_outbox(app)
    message = _state(app, message_id)
    assert message.state == MessageState.PENDING
    assert "429" in message.last_error
    wait = (message.next_attempt_at - sent_at).total_seconds()
    assert 30 <= wait < 45
    with time_machine.travel(sent_at + timedelta(seconds=20), tick=True):
        assert deliver_outbox(app) == 0
    with time_machine.travel(sent_at + timedelta(seconds=46), tick=True):
        assert deliver_outbox(app) == 1
    assert _state(app, message_id).state == MessageState.SENT
    assert len(slack.find("rate limited")) == 1


def test_short_retry_after_is_retried_in_place(app, slack):
    app.config["SLACK_CHANNEL_INTERVAL_MS"] = 0
    slack.retry_after = 1
    slack.fail_statuses = [429]
    message_id = _post(app, "briefly limited")
    started = time.monotonic()
    assert deliver_outbox(app) == 1
    assert time.monotonic() - started >= 1
    assert _state(app, message_id).state == MessageState.SENT
    assert slack.calls == ["chat.postMessage", "chat.postMessage"]


def test_dead_after_the_attempt_limit_shown_to_admins_and_retried_with_one_click(
    app, slack, make_user, login
):
    app.config.update(OUTBOX_MAX_ATTEMPTS=3, SLACK_CHANNEL_INTERVAL_MS=0)
    slack.down = True
    message_id = _post(app, "never arrives while down")
    now = utcnow()
    for hop in range(4):
        with time_machine.travel(now + timedelta(hours=hop + 1), tick=True):
            deliver_outbox(app)
    message = _state(app, message_id)
    assert message.state == MessageState.DEAD
    assert message.attempts == 3

    admin = login(make_user(Role.ADMIN))
    page = admin.get("/admin/outbox?state=dead")
    assert b"never arrives while down" in page.data
    assert b"Slack answered 503" in page.data

    slack.down = False
    response = admin.submit(
        f"/admin/outbox/{message_id}/retry", form_url="/admin/outbox?state=dead"
    )
    assert response.status_code == 302
    assert deliver_outbox(app) == 1
    assert _state(app, message_id).state == MessageState.SENT
    assert len(slack.find("never arrives")) == 1


def test_refused_message_is_dead_at_once(app, slack):
    app.config["SLACK_BOT_TOKEN"] = "xoxb-wrong"
    message_id = _post(app, "bad token")
    deliver_outbox(app)
    message = _state(app, message_id)
    assert message.state == MessageState.DEAD
    assert "invalid_auth" in message.last_error


def test_timeout_after_the_remote_got_it_is_reconciled_not_resent(app, slack):
    app.config.update(OUTBOX_SEND_TIMEOUT_SECONDS=1, SLACK_CHANNEL_INTERVAL_MS=0)
    slack.slow_after_recording = True
    slack.delay_seconds = 2
    message_id = _post(app, "posted but the answer was lost")
    deliver_outbox(app)
    message = _state(app, message_id)
    assert message.state == MessageState.PENDING
    assert message.last_outcome == "unknown"
    slack.delay_seconds = 0
    with time_machine.travel(utcnow() + timedelta(minutes=5), tick=True):
        deliver_outbox(app)
    message = _state(app, message_id)
    assert message.state == MessageState.SENT
    assert len(slack.find("posted but the answer was lost")) == 1
    (posted,) = slack.find("posted but the answer was lost")
    assert message.remote_id == f"C-TIER1/{posted['ts']}"


def test_update_waits_for_the_post_it_edits_and_threads_follow_it(app, slack):
    app.config["SLACK_CHANNEL_INTERVAL_MS"] = 0
    slack.down = True
    with app.app_context(), transaction():
        root = enqueue(
            "slack", "chat.postMessage", {"args": {"channel": "C9", "text": "ticket #1: new"}}
        )
        enqueue("slack", "chat.update", {"args": {"text": "ticket #1: claimed"}}, depends_on=root)
        enqueue(
            "slack",
            "chat.postMessage",
            {"args": {"channel": "C9", "text": "claimed by Sam"}, "thread_on_parent": True},
            depends_on=root,
        )
    assert deliver_outbox(app) == 1  # only the root is due while it is unsent
    slack.down = False
    with time_machine.travel(utcnow() + timedelta(minutes=5), tick=True):
        assert deliver_outbox(app) == 3
    (root_post, reply) = slack.channels["C9"]
    assert root_post["text"] == "ticket #1: claimed"
    assert root_post["edits"] == 1
    assert reply["thread_ts"] == root_post["ts"]


def test_messages_to_one_channel_are_spaced(app, slack):
    app.config["SLACK_CHANNEL_INTERVAL_MS"] = 250
    for n in range(4):
        _post(app, f"spaced {n}", channel="C-SPACED")
    _post(app, "other channel", channel="C-OTHER")
    deadline = time.monotonic() + 10
    while len(slack.all_posts()) < 5 and time.monotonic() < deadline:
        deliver_outbox(app)
        time.sleep(0.05)
    times = sorted(t for t, channel in slack.post_times if channel == "C-SPACED")
    assert len(times) == 4
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.2


def test_email_by_smtp_with_stable_message_id(app, mailbox, make_user):
    with app.app_context(), transaction():
        send_email(
            "someone@example.org", "Hello", "verify_account", user=_FakeUser(), link="http://x/y"
        )
    deliver_outbox(app)
    (message,) = mailbox.to("someone@example.org")
    assert message["Subject"] == "Hello"
    assert message["Message-ID"].endswith("@localhost>")
    with app.app_context():
        stored = db.session.scalar(select(OutboxMessage))
        assert stored.remote_id == message["Message-ID"]


def test_smtp_server_down_then_permanent_refusal(app, make_user):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())  # nothing listens there
    with app.app_context(), transaction():
        send_email(
            "someone@example.org", "Hello", "verify_account", user=_FakeUser(), link="http://x/y"
        )
    deliver_outbox(app)
    with app.app_context():
        message = db.session.scalar(select(OutboxMessage))
        assert message.state == MessageState.PENDING
        assert "SMTP server unavailable" in message.last_error


def test_permanent_smtp_refusal_is_dead(app, mailbox):
    mailbox.refuse_with = "550 mailbox unavailable"
    with app.app_context(), transaction():
        send_email(
            "someone@example.org", "Hello", "verify_account", user=_FakeUser(), link="http://x/y"
        )
    deliver_outbox(app)
    with app.app_context():
        message = db.session.scalar(select(OutboxMessage))
        assert message.state == MessageState.DEAD
        assert "550" in message.last_error


def test_dedupe_key_enqueues_once(app):
    with app.app_context():
        with transaction():
            first = enqueue("email", "send", {"to": "a"}, dedupe_key="offer-1-reminder")
        with transaction():
            second = enqueue("email", "send", {"to": "a"}, dedupe_key="offer-1-reminder")
        assert first.id == second.id
        assert db.session.scalar(select(db.func.count()).select_from(OutboxMessage)) == 1


def test_development_mail_is_written_as_eml_files(app, make_user, login):
    with app.app_context(), transaction():
        send_email(
            "dev@example.org",
            "Dev mail",
            "verify_account",
            user=_FakeUser(),
            link="http://x/verify",
        )
    deliver_outbox(app)
    files = list(Path(app.config["MAIL_DIR"]).glob("*.eml"))
    assert len(files) == 1
    admin = login(make_user(Role.ADMIN))
    listing = admin.get("/admin/mail")
    assert b"Dev mail" in listing.data
    shown = admin.get(f"/admin/mail/{files[0].name}")
    assert b"http://x/verify" in shown.data
    assert admin.get("/admin/mail/..%2Fsecret_key").status_code == 404


class _FakeUser:
    """Template context for an email to someone without an account."""

    full_name = "Someone"


def _worker_env(app, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PORTAL_ENV="testing",
        SECRET_KEY=app.config["SECRET_KEY"],
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        PORTAL_INSTANCE_PATH=app.instance_path,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(port),
        OUTBOX_LEASE_SECONDS="2",
        WORKER_POLL_SECONDS="0.1",
    )
    return env


def test_killed_worker_leaves_its_message_to_be_retried_after_the_lease(app, smtp_server):
    """A real worker process is killed with SIGKILL while an SMTP server holds its message."""
    mailbox, port = smtp_server
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    release = threading.Event()
    original = mailbox.handle_DATA

    async def slow_handle_data(server, session, envelope):
        while not release.is_set():
            await asyncio.sleep(0.05)
        return await original(server, session, envelope)

    mailbox.handle_DATA = slow_handle_data  # the server is slow: the worker waits mid-send
    with app.app_context(), transaction():
        send_email("slow@example.org", "Slow", "verify_account", user=_FakeUser(), link="http://x")
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "portal", "worker"],
        env=_worker_env(app, port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if _first_message(app).state == MessageState.SENDING:
                break
            time.sleep(0.1)
        claimed = _first_message(app)
        assert claimed.state == MessageState.SENDING
        assert claimed.attempts == 1
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    mailbox.handle_DATA = original
    release.set()
    # Until the lease runs out nobody takes the message; then another worker does.
    assert deliver_outbox(app) == 0
    with time_machine.travel(utcnow() + timedelta(seconds=5), tick=True):
        assert deliver_outbox(app) == 1
    message = _first_message(app)
    assert message.state == MessageState.SENT
    assert message.attempts == 2
    assert len(mailbox.to("slow@example.org")) == 1


def _first_message(app) -> OutboxMessage:
    with app.app_context():
        message = db.session.scalar(select(OutboxMessage).order_by(OutboxMessage.id))
        db.session.expunge(message)
        return message


def test_worker_process_delivers_and_stops_on_sigterm(app, smtp_server):
    mailbox, port = smtp_server
    with app.app_context(), transaction():
        for n in range(3):
            send_email(
                f"w{n}@example.org",
                "From the worker",
                "verify_account",
                user=_FakeUser(),
                link="http://x",
            )
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "portal", "worker"],
        env=_worker_env(app, port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while len(mailbox.messages) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(mailbox.messages) == 3
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0
