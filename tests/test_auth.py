"""Accounts: registration, email verification, sign-in, sign-out, password reset, rate limits."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import time_machine
from sqlalchemy import select

from portal.auth.models import User
from portal.core.db import utcnow
from portal.core.roles import Role
from portal.extensions import db
from tests.conftest import PASSWORD, deliver_outbox


def _path(link: str) -> str:
    parts = urlsplit(link)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_register_verify_and_sign_in(app, client, mailbox):
    response = client.submit(
        "/auth/register",
        {
            "full_name": "Ada Example",
            "email": "Ada@Example.org",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert response.status_code == 200
    assert b"Check your email" in response.data

    # Before verification the account cannot sign in, and the reason is given.
    refused = client.submit("/auth/login", {"email": "ada@example.org", "password": PASSWORD})
    assert refused.status_code == 422
    assert b"Confirm your email address first" in refused.data

    assert deliver_outbox(app) == 1
    (message,) = mailbox.to("ada@example.org")
    assert message["Subject"] == "Confirm your email address for the DP0 portal"
    assert "Ada Example" in mailbox.text(message)
    assert mailbox.html(message)  # the HTML alternative is there too
    link = mailbox.last_link_to("ada@example.org", "/auth/verify/")
    assert link.startswith("http://portal.test/auth/verify/")

    verified = client.get(_path(link))
    assert verified.status_code == 302
    signed_in = client.submit("/auth/login", {"email": "ADA@example.org", "password": PASSWORD})
    assert signed_in.status_code == 302
    page = client.get("/account/")
    assert page.status_code == 200
    assert b"ada@example.org" in page.data


def test_register_keeps_input_and_explains_errors(client, make_user):
    make_user(Role.APPLICANT, email="taken@example.org")
    response = client.submit(
        "/auth/register",
        {
            "full_name": "Bo Typed",
            "email": "taken@example.org",
            "password": "short",
            "confirm": "other",
        },
    )
    assert response.status_code == 422
    body = response.data.decode()
    assert 'value="Bo Typed"' in body
    assert 'value="taken@example.org"' in body
    assert "Use at least 10 characters." in body
    assert "The passwords differ." in body
    assert 'aria-invalid="true"' in body

    duplicate = client.submit(
        "/auth/register",
        {
            "full_name": "Bo",
            "email": "TAKEN@example.org",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert duplicate.status_code == 200
    assert b"Check your email" in duplicate.data
    assert b"already exists" not in duplicate.data


def test_registering_a_taken_address_answers_as_for_a_new_one_and_tells_the_owner(
    app, client, make_user, mailbox
):
    owner = make_user(Role.DELEGATE, email="owner@example.org", name="Olu Owner")
    fields = {"full_name": "Someone", "password": PASSWORD, "confirm": PASSWORD}
    taken = client.submit("/auth/register", {**fields, "email": "Owner@example.org"})
    fresh = client.submit("/auth/register", {**fields, "email": "fresh@example.org"})
    assert taken.status_code == fresh.status_code == 200

    def page(response, email):
        return response.data.decode().replace(email, "EMAIL")

    csrf = 'name="csrf_token"'
    assert csrf not in page(taken, "owner@example.org")
    assert page(taken, "owner@example.org") == page(fresh, "fresh@example.org")
    deliver_outbox(app)
    [notice] = mailbox.to(owner.email)
    assert notice["Subject"] == "You already have a DP0 portal account"
    assert "http://portal.test/auth/reset" in mailbox.text(notice)
    assert mailbox.to("fresh@example.org")[0]["Subject"].startswith("Confirm your email")
    with app.app_context():
        assert (
            db.session.scalar(select(User).where(User.email == "owner@example.org")).full_name
            == "Olu Owner"
        )


@pytest.mark.parametrize("path", ["/auth/verify", "/auth/reset", "/auth/register"])
def test_forms_that_send_mail_are_limited_per_recipient_across_addresses(app, path):
    app.config.update(MAIL_RECIPIENT_RATE_LIMIT="2 per hour", PORTAL_PROXY_HOPS=0)
    statuses = []
    for n in range(3):
        client = app.test_client()
        data = {"email": "victim@example.org", "full_name": "V", "password": PASSWORD}
        data["confirm"] = PASSWORD
        statuses.append(
            client.submit(path, data, environ_base={"REMOTE_ADDR": f"198.51.100.{n}"}).status_code
        )
    assert statuses[:2] != [429, 429]
    assert statuses[2] == 429


def test_forms_that_send_mail_are_limited_per_client_address(app):
    app.config["MAIL_RATE_LIMIT"] = "2 per hour"
    client = app.test_client()
    statuses = [
        client.submit("/auth/verify", {"email": f"someone{n}@example.org"}).status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_expired_and_damaged_verification_links(app, client, mailbox):
    client.submit(
        "/auth/register",
        {"full_name": "Cy", "email": "cy@example.org", "password": PASSWORD, "confirm": PASSWORD},
    )
    deliver_outbox(app)
    link = _path(mailbox.last_link_to("cy@example.org", "/auth/verify/"))
    damaged = client.get(link[:-3] + "xyz")
    assert damaged.status_code == 400
    assert b"not valid" in damaged.data
    with time_machine.travel(utcnow().timestamp() + 3 * 24 * 3600):
        expired = client.get(link)
    assert expired.status_code == 400
    assert b"expired" in expired.data


def test_wrong_password_and_unknown_email_get_the_same_answer(client, make_user):
    user = make_user(Role.DELEGATE)
    wrong = client.submit("/auth/login", {"email": user.email, "password": "not the password"})
    unknown = client.submit(
        "/auth/login", {"email": "nobody@example.org", "password": "whatever12"}
    )
    assert wrong.status_code == unknown.status_code == 422
    message = b"That email and password do not match an active account."
    assert message in wrong.data
    assert message in unknown.data
    assert f'value="{user.email}"'.encode() in wrong.data


def test_sign_in_starts_a_fresh_session_and_sign_out_needs_post(app, client, make_user):
    user = make_user(Role.DELEGATE)
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    client.sign_in(user.email)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"].startswith(f"{user.id}.1.")

    assert client.get("/auth/logout").status_code == 405
    assert client.post("/auth/logout").status_code == 400  # no CSRF token
    assert client.get("/account/").status_code == 200
    response = client.submit("/auth/logout", form_url="/account/")
    assert response.status_code == 302
    assert client.get("/account/").status_code == 302


def test_next_redirect_only_goes_to_this_site(client, make_user):
    user = make_user(Role.STAFF, tier=1)
    token = client.csrf_token("/auth/login")
    data = {"email": user.email, "password": PASSWORD, "csrf_token": token}
    response = client.post("/auth/login?next=https://evil.example/steal", data=data)
    assert response.headers["Location"] == "/staff/tickets/"
    client.submit("/auth/logout", form_url="/")
    token = client.csrf_token("/auth/login")
    data["csrf_token"] = token
    response = client.post("/auth/login?next=/account/tokens", data=data)
    assert response.headers["Location"] == "/account/tokens"


def test_protected_page_sends_the_signed_out_to_sign_in(client):
    response = client.get("/account/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=/account/")


def test_password_reset_is_single_use_and_signs_out_other_sessions(
    app, client, make_user, mailbox, login
):
    user = make_user(Role.DELEGATE)
    other_device = login(user)
    assert other_device.get("/account/").status_code == 200

    response = client.submit("/auth/reset", {"email": user.email})
    assert b"If <strong>" in response.data
    # An unknown address gets the same page and no mail.
    same = client.submit("/auth/reset", {"email": "nobody@example.org"})
    assert same.status_code == 200
    assert b"If <strong>" in same.data
    deliver_outbox(app)
    assert mailbox.to("nobody@example.org") == []
    link = _path(mailbox.last_link_to(user.email, "/auth/reset/"))

    short = client.submit(link, {"password": "short", "confirm": "short"})
    assert short.status_code == 422
    new_password = "a brand new passphrase"
    done = client.submit(link, {"password": new_password, "confirm": new_password})
    assert done.status_code == 302

    again = client.get(link)
    assert again.status_code == 400
    assert b"already been used" in again.data
    assert other_device.get("/account/").status_code == 302  # signed out there
    client.sign_in(user.email, new_password)


def test_change_password_checks_the_current_one(app, make_user, login):
    user = make_user(Role.DELEGATE)
    client = login(user)
    bad = client.submit(
        "/account/password",
        {
            "current": "wrong password",
            "password": "another passphrase",
            "confirm": "another passphrase",
        },
        form_url="/account/",
    )
    assert bad.status_code == 422
    assert b"Your current password is not right." in bad.data
    good = client.submit(
        "/account/password",
        {"current": PASSWORD, "password": "another passphrase", "confirm": "another passphrase"},
        form_url="/account/",
    )
    assert good.status_code == 302
    assert client.get("/account/").status_code == 200  # this device stays signed in


def test_failed_sign_ins_are_limited_per_client_address(app, client, make_user):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    user = make_user(Role.DELEGATE)
    # Different accounts each time: it is the address that is limited here.
    statuses = [
        client.submit(
            "/auth/login", {"email": f"guess{n}@example.org", "password": "wrong password!"}
        ).status_code
        for n in range(4)
    ]
    assert statuses == [422, 422, 422, 429]
    blocked = client.submit("/auth/login", {"email": user.email, "password": PASSWORD})
    assert blocked.status_code == 429
    assert b"Too many attempts from your address. Try again in" in blocked.data
    assert 0 < int(blocked.headers["Retry-After"]) <= 60


def test_successful_sign_ins_from_one_address_do_not_lock_it_out(app, make_user):
    """A workshop behind one campus address: everyone signs in, nobody is refused."""
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    for _ in range(6):
        client = app.test_client()
        assert client.sign_in(make_user(Role.DELEGATE).email).status_code == 302
    # A mistyped password among them still leaves room for the others.
    client = app.test_client()
    typo = client.submit("/auth/login", {"email": "x@example.org", "password": "wrong!"})
    assert typo.status_code == 422
    assert app.test_client().sign_in(make_user(Role.DELEGATE).email).status_code == 302


def _from(app, address: str, email: str, password: str):
    client = app.test_client()
    return client.submit(
        "/auth/login",
        {"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def test_wrong_passwords_slow_an_account_down_without_locking_its_owner_out(app, make_user):
    app.config.update(
        LOGIN_BACKOFF_FREE_FAILURES=2, LOGIN_BACKOFF_BASE_SECONDS=10, LOGIN_BACKOFF_MAX_SECONDS=20
    )
    owner = make_user(Role.DELEGATE)
    # On a whole second, so that Retry-After (whole seconds) is exactly the pause.
    with time_machine.travel(utcnow().replace(microsecond=0), tick=False) as clock:
        # An attacker changes address on every try, so no per-address limit applies.
        guesses = [
            _from(app, f"198.51.100.{n}", owner.email, "guess!").status_code for n in range(3)
        ]
        assert guesses == [422, 422, 422]  # the third wrong password starts a 10 s pause
        paused = _from(app, "198.51.100.9", owner.email, "guess!")
        assert paused.status_code == 429
        assert paused.headers["Retry-After"] == "10"
        assert b"try again in 10 seconds" in paused.data
        assert f'value="{owner.email}"'.encode() in paused.data  # the form keeps what was typed
        # During the pause even the right password waits: nothing is checked at all.
        assert _from(app, "192.0.2.1", owner.email, PASSWORD).status_code == 429
        clock.shift(10)
        assert _from(app, "198.51.100.10", owner.email, "guess!").status_code == 422
        # Each failure after the free ones doubles the pause, up to the ceiling.
        assert _from(app, "198.51.100.11", owner.email, "guess!").headers["Retry-After"] == "20"
        clock.shift(20)
        assert _from(app, "198.51.100.12", owner.email, "guess!").status_code == 422
        assert _from(app, "198.51.100.13", owner.email, "guess!").headers["Retry-After"] == "20"
        # Once the pause has passed the owner signs in, and the failures are forgotten.
        clock.shift(20)
        assert _from(app, "192.0.2.1", owner.email, PASSWORD).status_code == 302
        assert _from(app, "198.51.100.14", owner.email, "guess!").status_code == 422
        assert _from(app, "198.51.100.15", owner.email, "guess!").status_code == 422


def test_the_backoff_is_the_same_for_an_address_without_an_account(app):
    app.config.update(LOGIN_BACKOFF_FREE_FAILURES=1, LOGIN_BACKOFF_BASE_SECONDS=30)
    statuses = [
        _from(app, f"198.51.100.{n}", "nobody@example.org", "x").status_code for n in range(3)
    ]
    assert statuses == [422, 422, 429]


def test_deactivated_account_cannot_sign_in(app, client, make_user):
    user = make_user(Role.DELEGATE)
    with app.app_context():
        db.session.execute(db.update(User).where(User.id == user.id).values(active=False))
        db.session.commit()
    response = client.submit("/auth/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 422


def test_staff_can_link_slack_member_id(app, make_user, login):
    staff = make_user(Role.STAFF, tier=2)
    other = make_user(Role.STAFF, tier=1)
    client = login(staff)
    saved = client.submit("/account/", {"full_name": "Renamed Staff", "slack_user_id": "U012AB3CD"})
    assert saved.status_code == 302
    bad = client.submit("/account/", {"full_name": "Renamed Staff", "slack_user_id": "not-an-id"})
    assert bad.status_code == 422
    assert b"looks like U012AB3CD" in bad.data
    other_client = login(other)
    clash = other_client.submit("/account/", {"full_name": "Other", "slack_user_id": "U012AB3CD"})
    assert clash.status_code == 422
    assert b"linked to another staff account" in clash.data
    with app.app_context():
        assert (
            db.session.scalar(select(User.slack_user_id).where(User.id == staff.id)) == "U012AB3CD"
        )


def _cookies(client) -> dict[str, str]:
    return {cookie.key: cookie.value for cookie in client._cookies.values()}


def _client_with(app, cookies: dict[str, str]):
    copy = app.test_client()
    for name, value in cookies.items():
        copy.set_cookie(name, value, domain="localhost")
    return copy


def test_a_session_cookie_copied_before_sign_out_no_longer_opens_the_account(app, make_user):
    user = make_user(Role.DELEGATE)
    client = app.test_client()
    client.sign_in(user.email)
    stolen = _cookies(client)
    assert _client_with(app, stolen).get("/account/").status_code == 200
    client.submit("/auth/logout", form_url="/account/")
    assert _client_with(app, stolen).get("/account/").status_code == 302


# Flask-Login computes the remember cookie's expiry with the deprecated datetime.utcnow().
@pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")
def test_a_remember_me_cookie_alone_stops_working_after_sign_out(app, make_user):
    user = make_user(Role.DELEGATE)
    client = app.test_client()
    response = client.submit(
        "/auth/login", {"email": user.email, "password": PASSWORD, "remember": "y"}
    )
    assert response.status_code == 302
    remember = {"remember_token": _cookies(client)["remember_token"]}
    assert _client_with(app, remember).get("/account/").status_code == 200
    client.submit("/auth/logout", form_url="/account/")
    assert _client_with(app, remember).get("/account/").status_code == 302


def test_sign_out_everywhere_ends_every_browser_session(app, make_user):
    user = make_user(Role.DELEGATE)
    laptop, phone = app.test_client(), app.test_client()
    laptop.sign_in(user.email)
    phone.sign_in(user.email)
    response = laptop.submit("/account/sessions/end", form_url="/account/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/auth/login")
    assert laptop.get("/account/").status_code == 302
    assert phone.get("/account/").status_code == 302
    laptop.sign_in(user.email)
    assert laptop.get("/account/").status_code == 200


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(app, make_user):
    user = make_user(Role.DELEGATE)
    laptop, phone = app.test_client(), app.test_client()
    laptop.sign_in(user.email)
    phone.sign_in(user.email)
    response = laptop.submit(
        "/account/password",
        {
            "current": PASSWORD,
            "password": "a brand new passphrase",
            "confirm": "a brand new passphrase",
        },
        form_url="/account/",
    )
    assert response.status_code == 302
    assert laptop.get("/account/").status_code == 200
    assert phone.get("/account/").status_code == 302


def test_staff_land_on_their_queue_and_delegates_on_the_home_page(app, make_user):
    for role, tier, landing in [
        (Role.STAFF, 2, "/staff/tickets/"),
        (Role.ADMIN, None, "/staff/tickets/"),
        (Role.DELEGATE, None, "/"),
    ]:
        client = app.test_client()
        response = client.sign_in(make_user(role, tier=tier).email)
        assert response.headers["Location"] == landing, role
    asked = app.test_client()
    response = asked.submit(
        "/auth/login?next=/account/",
        {"email": make_user(Role.STAFF, tier=1).email, "password": PASSWORD},
        form_url="/auth/login",
    )
    assert response.headers["Location"] == "/account/"
