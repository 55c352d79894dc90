"""Sign in with GitHub through a local stand-in of GitHub's OAuth and API over real HTTP."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from portal.auth.models import User
from portal.core.roles import Role
from portal.extensions import db


@pytest.fixture
def app_config(github_standin):
    return {
        "GITHUB_CLIENT_ID": github_standin.client_id,
        "GITHUB_CLIENT_SECRET": github_standin.client_secret,
        "GITHUB_URL": github_standin.url,
        "GITHUB_API_URL": github_standin.url,
    }


def _github_round_trip(client, standin, next_path: str | None = None):
    """Start at the portal, let the stand-in 'approve' over HTTP, and come back."""
    start = client.get("/auth/github/login" + (f"?next={next_path}" if next_path else ""))
    assert start.status_code == 302
    authorize = requests.get(start.headers["Location"], allow_redirects=False, timeout=5)
    assert authorize.status_code == 302
    callback = urlsplit(authorize.headers["Location"])
    assert callback.netloc == "portal.test"
    return client.get(f"{callback.path}?{callback.query}")


def _user(app, **filters) -> User | None:
    with app.app_context():
        user = db.session.scalar(select(User).filter_by(**filters))
        if user is not None:
            db.session.expunge(user)
        return user


def test_new_person_gets_an_applicant_account_with_verified_github(app, client, github_standin):
    github_standin.add_user("octo-astro", 4242, "octo@example.org", name="Octo Astro")
    github_standin.next_login = "octo-astro"
    response = _github_round_trip(client, github_standin, next_path="/account/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/"
    user = _user(app, github_id=4242)
    assert user.github_username == "octo-astro"
    assert user.email == "octo@example.org"
    assert user.email_verified
    assert user.role == Role.APPLICANT
    assert b"octo-astro" in client.get("/account/").data


def test_github_links_to_the_signed_in_account(app, make_user, login, github_standin):
    delegate = make_user(Role.DELEGATE, email="delegate-gh@example.org")
    client = login(delegate)
    github_standin.add_user("linked-login", 77, "someone-else@example.org")
    github_standin.next_login = "linked-login"
    _github_round_trip(client, github_standin)
    assert _user(app, id=delegate.id).github_username == "linked-login"


def test_matching_verified_email_signs_in_the_existing_account(app, make_user, github_standin):
    existing = make_user(Role.DELEGATE, email="same@example.org")
    github_standin.add_user("same-person", 99, "same@example.org")
    github_standin.next_login = "same-person"
    client = app.test_client()
    _github_round_trip(client, github_standin)
    assert _user(app, id=existing.id).github_id == 99
    assert client.get("/account/").status_code == 200


def test_unverified_github_email_is_not_trusted(app, make_user, github_standin):
    make_user(Role.DELEGATE, email="victim@example.org")
    github_standin.add_user("impostor", 13, "victim@example.org", verified=False)
    github_standin.next_login = "impostor"
    client = app.test_client()
    response = _github_round_trip(client, github_standin)
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"
    assert _user(app, github_id=13) is None
    assert client.get("/account/").status_code == 302


def test_denied_or_broken_sign_in_explains_and_goes_back(app, client, github_standin):
    github_standin.deny = True
    response = _github_round_trip(client, github_standin)
    assert response.headers["Location"] == "/auth/login"
    page = client.get("/auth/login")
    assert b"GitHub sign-in did not complete" in page.data
    # A callback with a forged state is refused the same way.
    forged = client.get("/auth/github/callback?code=abc&state=forged")
    assert forged.status_code == 302
    assert forged.headers["Location"] == "/auth/login"


def test_login_page_offers_github_when_configured(client):
    assert b"Sign in with GitHub" in client.get("/auth/login").data
