"""The `flask --app app portal ...` commands."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select, text

from portal.auth.models import ApiToken, Role, User
from portal.extensions import db


def _empty_the_database(app: Flask) -> None:
    """Leave nothing behind, so that bootstrap migrates from an empty database."""
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


def test_bootstrap_creates_one_admin_and_prints_a_generated_password(app, monkeypatch):
    monkeypatch.delenv("PORTAL_ADMIN_EMAIL", raising=False)
    monkeypatch.delenv("PORTAL_ADMIN_PASSWORD", raising=False)
    runner = app.test_cli_runner()
    _empty_the_database(app)
    first = runner.invoke(args=["portal", "bootstrap"])
    assert first.exit_code == 0, first.output
    assert "Created the first admin account: admin@example.org" in first.output
    password = first.output.split("Its password (shown only now): ")[1].split()[0]
    again = runner.invoke(args=["portal", "bootstrap"])
    assert again.exit_code == 0
    assert "an admin account exists" in again.output
    assert "shown only now" not in again.output
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(User).where(User.role == Role.ADMIN))
            == 1
        )
    app.test_client().sign_in("admin@example.org", password)


def test_bootstrap_uses_the_configured_admin(app, monkeypatch):
    monkeypatch.setenv("PORTAL_ADMIN_EMAIL", "chief@example.org")
    monkeypatch.setenv("PORTAL_ADMIN_PASSWORD", "chief's own passphrase")
    _empty_the_database(app)
    result = app.test_cli_runner().invoke(args=["portal", "bootstrap"])
    assert result.exit_code == 0, result.output
    assert "shown only now" not in result.output
    app.test_client().sign_in("chief@example.org", "chief's own passphrase")


def test_create_token_for_staff_only(app, make_user):
    staff = make_user(Role.STAFF, tier=2)
    delegate = make_user(Role.DELEGATE)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["portal", "create-token", staff.email, "--name", "stats"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("dp0_")
    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json == {"id": staff.id, "email": staff.email, "role": "staff", "tier": 2}
    refused = runner.invoke(args=["portal", "create-token", delegate.email])
    assert refused.exit_code != 0
    assert "Only staff accounts" in refused.output
    missing = runner.invoke(args=["portal", "create-token", "nobody@example.org"])
    assert "No account for nobody@example.org" in missing.output
    with app.app_context():
        stored = db.session.scalar(select(ApiToken))
        assert stored.token_hash != token  # only the hash is kept


def test_create_admin(app):
    result = app.test_cli_runner().invoke(
        args=["portal", "create-admin", "boss@example.org"],
        input="boss passphrase 1\nboss passphrase 1\n",
    )
    assert result.exit_code == 0, result.output
    app.test_client().sign_in("boss@example.org", "boss passphrase 1")


def test_seed_demo_is_repeatable(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["portal", "seed-demo"])
    assert first.exit_code == 0, first.output
    assert "tier1@example.org" in first.output
    second = runner.invoke(args=["portal", "seed-demo"])
    assert second.exit_code == 0, second.output
    with app.app_context():
        staff = db.session.scalars(select(User).where(User.role == Role.STAFF)).all()
        assert sorted(u.support_tier or 0 for u in staff) == [0, 1, 2, 3]
    app.test_client().sign_in("tier2@example.org", "dp0-demo-password")
