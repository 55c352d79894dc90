""" "Sign in with GitHub" on the form: the GitHub username is filled in, locked and verified,
through a stand-in of GitHub's OAuth and API over real HTTP."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from portal.extensions import db
from portal.signup.models import Application
from tests.signup.conftest import form_data


@pytest.fixture
def app_config(github_standin):
    return {
        "GITHUB_CLIENT_ID": github_standin.client_id,
        "GITHUB_CLIENT_SECRET": github_standin.client_secret,
        "GITHUB_URL": github_standin.url,
        "GITHUB_API_URL": github_standin.url,
    }


def test_github_sign_in_fills_and_locks_a_verified_username(
    app, client, make_programme, github_standin
):
    make_programme(mode="reviewed")
    form = client.get("/signup/").data.decode()
    assert "Sign in with GitHub" in form
    assert "/auth/github/login?next=" in form

    github_standin.add_user("Octo-Astro", 4242, "octo@example.org", name="Octo Astro")
    github_standin.next_login = "Octo-Astro"
    start = client.get("/auth/github/login?next=/signup/")
    authorize = requests.get(start.headers["Location"], allow_redirects=False, timeout=5)
    callback = urlsplit(authorize.headers["Location"])
    back = client.get(f"{callback.path}?{callback.query}")
    assert back.headers["Location"] == "/signup/"

    form = client.get("/signup/").data.decode()
    assert 'value="Octo-Astro"' in form
    assert "readonly" in form.split('id="github_username"')[1].split(">")[0]
    assert 'value="octo@example.org"' in form
    # Whatever is typed, the verified username is the one recorded.
    response = client.submit(
        "/signup/", form_data(1, email="octo@example.org", github_username="someone-else")
    )
    assert response.status_code == 302  # the account's email is verified: no link needed
    with app.app_context():
        application = db.session.scalar(select(Application))
        assert application.github_username == "Octo-Astro"
        assert application.github_verified
        assert application.state == "pending"
