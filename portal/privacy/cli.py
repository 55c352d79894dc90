"""The `flask --app app privacy ...` commands: the retention schedule (with a dry run) and an
export for an operator answering a request that came by email or post."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import AppGroup

from portal.privacy import export, retention

privacy_cli = AppGroup("privacy", help="Personal data: the retention schedule and exports.")


@privacy_cli.command("retention")
@click.option("--dry-run", is_flag=True, help="Say what would be erased, and erase nothing.")
def run_retention(dry_run: bool) -> None:
    """Erase what the retention schedule says is due now (the worker does this every hour)."""
    if dry_run:
        plan = retention.retention_plan()
        click.echo(f"Dry run: nothing is erased. A run now would erase {plan.total} records.")
        lines = plan.lines("would be erased")
    else:
        done = retention.run_retention()
        click.echo(f"Erased {done.total} records.")
        lines = done.lines("erased")
    for line in lines:
        click.echo(f"  {line}")


@privacy_cli.command("export")
@click.argument("email")
@click.argument("output", type=click.Path(dir_okay=False, writable=True, path_type=Path))
def export_person(email: str, output: Path) -> None:
    """Write everything the portal holds about EMAIL to the JSON file OUTPUT."""
    document = export.export_for_operator(email)
    output.write_text(json.dumps(document, indent=2, ensure_ascii=False))
    output.chmod(0o600)
    click.echo(
        f"Wrote {output} ({len(document['applications'])} applications, "
        f"{len(document['tickets'])} tickets, {len(document['emails'])} emails)."
    )
