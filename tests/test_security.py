"""The security baseline: CSRF, headers, cookies, production settings, error answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal import create_app
from portal.auth import services as auth_services
from portal.core.roles import Role
from portal.extensions import db
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parent.parent


def test_post_without_csrf_token_is_refused_with_a_reason(client, make_user):
    user = make_user(Role.DELEGATE)
    response = client.post("/auth/login", data={"email": user.email, "password": "x"})
    assert response.status_code == 400
    assert b"This form has expired or did not come from this site" in response.data
    forged = client.post(
        "/auth/login", data={"email": user.email, "password": "x", "csrf_token": "forged"}
    )
    assert forged.status_code == 400


def test_every_response_carries_security_headers(client):
    for path in ["/", "/auth/login", "/does-not-exist", "/healthz"]:
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert "object-src 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert response.headers["X-Request-ID"]


def test_pages_have_no_inline_script(client, make_user, login):
    admin = login(make_user(Role.ADMIN))
    for path in [
        "/",
        "/auth/login",
        "/auth/register",
        "/account/",
        "/admin/",
        "/admin/users",
        "/admin/outbox",
    ]:
        body = admin.get(path).data.decode()
        for tag in body.split("<script")[1:]:
            assert "src=" in tag.split(">")[0], f"inline script on {path}"
        assert " style=" not in body, f"inline style on {path}"


def test_session_cookie_flags(app, client, make_user):
    user = make_user(Role.DELEGATE)
    response = client.sign_in(user.email)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # testing over plain HTTP


def test_production_cookies_are_secure_and_hsts_is_sent(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-production-secret")
    app = create_app(
        {
            "PORTAL_ENV": "production",
            "INSTANCE_PATH": str(tmp_path),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/p.db",
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    response = app.test_client().get("/auth/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize(
    ("env", "method"),
    [("production", "scrypt"), ("development", "scrypt"), ("testing", "pbkdf2:sha256")],
)
def test_passwords_are_stored_as_scrypt_hashes_outside_the_test_suite(tmp_path, env, method):
    app = create_app(
        {
            "PORTAL_ENV": env,
            "SECRET_KEY": "a-production-secret",
            "INSTANCE_PATH": str(tmp_path),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/p.db",
        }
    )
    with app.app_context():
        db.create_all()
        user = auth_services.create_user(
            email="someone@example.org", full_name="Someone", password=PASSWORD, role=Role.DELEGATE
        )
        assert user.password_hash.startswith(f"{method}:")
        assert auth_services.authenticate("someone@example.org", PASSWORD).id == user.id
        # An unknown address is checked against a hash of the same kind, taking as long.
        with pytest.raises(auth_services.InvalidCredentials):
            auth_services.authenticate("nobody@example.org", PASSWORD)
        dummy = auth_services._dummy_hash(app.config["PASSWORD_HASH_METHOD"])
        assert dummy.startswith(f"{method}:")
        db.engine.dispose()


def test_production_refuses_to_start_without_secret_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "PORTAL_ENV"}}
    env.update(PORTAL_ENV="production", PORTAL_INSTANCE_PATH=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", "import app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set: production mode refuses to start without it." in result.stderr


def test_development_secret_is_generated_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = create_app({"PORTAL_ENV": "development", "INSTANCE_PATH": str(tmp_path)})
    second = create_app({"PORTAL_ENV": "development", "INSTANCE_PATH": str(tmp_path)})
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) > 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_api_errors_are_json_with_a_reason(client):
    missing = client.get("/api/v1/does-not-exist")
    assert missing.status_code == 404
    assert missing.is_json
    assert missing.json["reason"]
    unauthorised = client.get("/api/v1/me")
    assert unauthorised.status_code == 401
    assert unauthorised.json["reason"].startswith("Send an API token")
    bad = client.get("/api/v1/me", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert "not valid" in bad.json["reason"]


def test_friendly_error_pages(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"We could not find that page." in response.data
    assert b"Go to the home page" in response.data


@pytest.mark.own_app
def test_unexpected_errors_are_a_friendly_500_and_logged(app, client, caplog):
    @app.route("/boom")
    def boom() -> str:
        raise RuntimeError("kaboom")

    boom.required_role = None  # type: ignore[attr-defined]
    response = client.get("/boom")
    assert response.status_code == 500
    assert b"Something went wrong on our side" in response.data
    assert b"kaboom" not in response.data
    assert any("unhandled error" in record.getMessage() for record in caplog.records)


def test_request_log_is_structured(app, client, make_user, caplog):
    caplog.set_level("INFO", logger="portal.request")
    user = make_user(Role.DELEGATE)
    client.sign_in(user.email)
    client.get("/account/", headers={"X-Request-ID": "trace-123"})
    response = client.get("/account/", headers={"X-Request-ID": "trace-123"})
    assert response.headers["X-Request-ID"] == "trace-123"
    assert response.headers["Server-Timing"].startswith("app;dur=")
    record = next(r for r in caplog.records if getattr(r, "request_id", None) == "trace-123")
    assert record.route == "/account/"
    assert record.status == 200
    assert record.user_id == str(user.id)
    assert record.duration_ms >= 0
    from portal.core.logging import JsonFormatter

    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "trace-123"
    assert line["route"] == "/account/"
