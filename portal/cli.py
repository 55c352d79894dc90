"""The `flask --app app portal ...` commands: bootstrap, serve, worker, accounts, demo data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_migrate import upgrade
from werkzeug.serving import run_simple

from portal.auth import services as auth_services
from portal.core.api import openapi_document
from portal.core.roles import Role, SupportTier

portal_cli = AppGroup("portal", help="Run and administer the DP0 portal.")

DEMO_PASSWORD = "dp0-demo-password"  # noqa: S105 - printed for people trying the demo locally


def register_demo_seeder(app: Flask, order: int, func: Callable[[], list[str]]) -> None:
    """Add a step to `portal seed-demo`; each returns lines describing what it made."""
    seeders = app.extensions.setdefault("portal.demo_seeders", [])
    seeders.append((order, func))
    seeders.sort(key=lambda item: item[0])


def register_bootstrap_step(app: Flask, order: int, func: Callable[[], list[str]]) -> None:
    """Add a step to `portal bootstrap` (run by `make run` on every start): it must keep
    existing data and do nothing when its work is already done; it returns lines to print."""
    steps = app.extensions.setdefault("portal.bootstrap_steps", [])
    steps.append((order, func))
    steps.sort(key=lambda item: item[0])


@portal_cli.command("bootstrap")
def bootstrap() -> None:
    """Apply migrations, create the first admin if there is none, and set up defaults."""
    upgrade()
    created = auth_services.ensure_first_admin(
        os.environ.get("PORTAL_ADMIN_EMAIL"), os.environ.get("PORTAL_ADMIN_PASSWORD")
    )
    if created is None:
        click.echo("Database is up to date; an admin account exists.")
    else:
        user, generated = created
        click.echo(f"Created the first admin account: {user.email}")
        if generated:
            click.secho(f"Its password (shown only now): {generated}", bold=True)
    for _, step in current_app.extensions.get("portal.bootstrap_steps", []):
        for line in step():
            click.echo(line)


@portal_cli.command("create-admin")
@click.argument("email")
@click.option("--name", default="Portal administrator", show_default=True)
@click.password_option()
def create_admin(email: str, name: str, password: str) -> None:
    """Create an admin account."""
    try:
        user = auth_services.create_user(
            email=email, full_name=name, password=password, role=Role.ADMIN, tier=SupportTier.EXPERT
        )
    except auth_services.AuthError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Created admin {user.email}.")


@portal_cli.command("create-token")
@click.argument("email")
@click.option("--name", default="command line", show_default=True, help="What the token is for.")
def create_token(email: str, name: str) -> None:
    """Create an API token for a staff account and print it once."""
    user = auth_services.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No account for {email}.")
    try:
        click.echo(auth_services.create_api_token(user, name))
    except auth_services.AuthError as exc:
        raise click.ClickException(exc.message) from exc


@portal_cli.command("openapi")
def openapi() -> None:
    """Print the API's OpenAPI document (the docs site renders docs/guides/portal/openapi.json,
    a copy of it: refresh the copy with this command when the API changes)."""
    click.echo(json.dumps(openapi_document(), indent=2, sort_keys=True))


@portal_cli.command("worker")
@click.option("--once", is_flag=True, help="Run one pass and exit.")
def worker(once: bool) -> None:
    """Deliver outbox messages and run periodic jobs until stopped."""
    from portal.outbox.worker import run_worker

    run_worker(current_app._get_current_object(), once=once)  # type: ignore[attr-defined]


@portal_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the portal (development server) with a delivery worker beside it; Ctrl-C stops both."""
    env = dict(os.environ)
    base_url = env.setdefault("PORTAL_BASE_URL", f"http://{host}:{port}")
    current_app.config["PORTAL_BASE_URL"] = base_url
    worker_process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "portal", "worker"], env=env
    )
    click.echo(f"Portal on {base_url} (worker pid {worker_process.pid}). Ctrl-C stops both.")
    try:
        # app.run() refuses to serve inside a flask command, so start Werkzeug's server directly.
        run_simple(host, port, current_app._get_current_object(), threaded=True)  # type: ignore[attr-defined]
    finally:
        worker_process.send_signal(signal.SIGTERM)
        try:
            worker_process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker_process.kill()


@portal_cli.command("seed-demo")
def seed_demo() -> None:
    """Fill the database with demo accounts, applications and tickets to try every screen."""
    for _, seeder in current_app.extensions.get("portal.demo_seeders", []):
        for line in seeder():
            click.echo(line)
    click.echo(f"Every demo account's password is: {DEMO_PASSWORD}")


DEMO_ACCOUNTS = [
    ("tier1@example.org", "Tala Ngata", Role.STAFF, SupportTier.COMMUNITY_ENGAGEMENT),
    ("tier2@example.org", "Samir Haddad", Role.STAFF, SupportTier.SERVICE_DESK),
    ("tier3@example.org", "Ines Carvalho", Role.STAFF, SupportTier.EXPERT),
    ("programme@example.org", "Grace Okafor", Role.STAFF, None),
    ("delegate@example.org", "Luis Ortega", Role.DELEGATE, None),
    ("delegate2@example.org", "Mei Chen", Role.DELEGATE, None),
    ("applicant@example.org", "Priya Raman", Role.APPLICANT, None),
]


def seed_demo_accounts() -> list[str]:
    lines = []
    for email, name, role, tier in DEMO_ACCOUNTS:
        if auth_services.find_user_by_email(email) is not None:
            continue
        auth_services.create_user(
            email=email, full_name=name, password=DEMO_PASSWORD, role=role, tier=tier
        )
        lines.append(f"account {email} ({role}{f', tier {int(tier)}' if tier else ''})")
    return lines


def init_app(app: Flask) -> None:
    app.cli.add_command(portal_cli)
    register_demo_seeder(app, 10, seed_demo_accounts)
