"""The `flask --app app portal ...` commands."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from portal.auth.models import ApiToken, User
from portal.core.roles import Role
from portal.extensions import db
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


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


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_serve_answers_http_with_a_worker_and_ctrl_c_stops_both(tmp_path):
    """What `make run` does after bootstrap: the page is served, and Ctrl-C ends both processes."""
    port = free_port()
    env = {
        **os.environ,
        "PORTAL_ENV": "development",
        "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "PORTAL_ADMIN_EMAIL": "admin@example.org",
        "PORTAL_ADMIN_PASSWORD": "a long enough passphrase",
    }
    flask = [sys.executable, "-m", "flask", "--app", "app", "portal"]
    subprocess.run([*flask, "bootstrap"], env=env, cwd=ROOT, check=True, capture_output=True)
    server = subprocess.Popen(
        [*flask, "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        worker_pid = int(re.search(r"worker pid (\d+)", banner).group(1))  # type: ignore[union-attr]
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as response:
                    status, body = response.status, response.read()
                break
            except OSError:
                assert time.monotonic() < deadline, "the portal did not start serving"
                time.sleep(0.2)
        assert status == 200
        assert b'"database"' in body
        assert _process_exists(worker_pid)
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)
        deadline = time.monotonic() + 10
        while _process_exists(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _process_exists(worker_pid)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()
