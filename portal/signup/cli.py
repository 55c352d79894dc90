"""The `flask --app app signup ...` commands, and the bootstrap step that loads the shipped DP0
programme into a portal that has none (and its privacy notice into programmes without one)."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from portal.signup import jobs, privacy, programmes, queries
from portal.signup.errors import SignupError
from portal.signup.programmes import DEFAULT_PROGRAMME_FILE

signup_cli = AppGroup("signup", help="Delegate sign-up: programmes, waves and the waitlist.")


@signup_cli.command("load-config")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def load_config(path: Path) -> None:
    """Create or update a programme, its waves and targets from a TOML file (safe to repeat)."""
    try:
        lines = programmes.load_config(path)
    except SignupError as exc:
        raise click.ClickException(exc.message) from exc
    for line in lines:
        click.echo(line)


@signup_cli.command("run-jobs")
def run_jobs() -> None:
    """Run the sign-up jobs the worker runs every minute, once, now: offer expiry and
    reminders, waitlist carry-over, offers of free seats, GitHub calls that gave up."""
    for line in jobs.run_signup_cycle().lines():
        click.echo(line)


def load_default_programme() -> list[str]:
    """Bootstrap: a portal with no programme gets the shipped DP0 one, and every programme
    from before privacy notices gets the shipped notice as its first version."""
    if queries.newest_programme() is None:
        return [f"sign-up: {line}" for line in programmes.load_config(DEFAULT_PROGRAMME_FILE)]
    lines = []
    for programme in programmes.all_programmes():
        if privacy.published_notice(programme.id) is None:
            notice = programmes.notice_in_force(programme.id)
            lines.append(f"sign-up: {programme.slug}: privacy notice version {notice.version}")
    return lines
