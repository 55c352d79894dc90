"""Fixtures for the help-desk tests: a small real Sphinx site, tiers with Slack channels and a
known calendar, the people of a help desk, and helpers to sign Slack requests."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.auth.models import User
from portal.auth.services import create_user, open_session
from portal.core.db import transaction
from portal.core.roles import Role, SupportTier
from portal.extensions import db
from tests.helpdesk.helpers import CHANNELS, SIGNING_SECRET, WEEKDAYS_9_TO_5, configure_tier

DOCS_PAGES = {
    "index.rst": "DP0 test documentation\n======================\n\n"
    ".. toctree::\n\n   tap\n   notebook\n   support\n",
    "tap.rst": "The API aspect: TAP\n===================\n\n"
    "Catalog queries run through TAP with ADQL. A query that returns millions of rows times "
    "out; add a spatial constraint.\n",
    "notebook.rst": "The Notebook aspect\n===================\n\n"
    "The notebook server (Nublado) starts from the spawner page. If spawning fails, try the "
    "small image.\n",
    "support.rst": "How to get support\n==================\n\n"
    "File a ticket in the portal's help desk.\n",
}


@pytest.fixture(scope="session")
def docs_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny documentation site built by the real Sphinx, so suggestions read a real index."""
    source = tmp_path_factory.mktemp("docs-source")
    (source / "conf.py").write_text('project = "DP0 test docs"\nextensions = []\n')
    for name, text in DOCS_PAGES.items():
        (source / name).write_text(text)
    output = tmp_path_factory.mktemp("docs-html")
    sphinx = Path(sys.executable).parent / "sphinx-build"
    subprocess.run(
        [str(sphinx), "-q", "-b", "html", str(source), str(output)], check=True, capture_output=True
    )
    assert (output / "searchindex.js").exists()
    return output


@pytest.fixture
def app_config(docs_site: Path) -> dict[str, Any]:
    return {
        "PORTAL_DOCS_DIR": str(docs_site),
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        # Frozen clocks never reach a spaced slot; spacing is the outbox's own test.
        "SLACK_CHANNEL_INTERVAL_MS": 0,
        "HELPDESK_ATTACHMENT_MAX_BYTES": 64 * 1024,
        "PORTAL_TIMEZONE": "America/Phoenix",
    }


@dataclass
class People:
    delegate: User
    other_delegate: User
    applicant: User
    tier1: User
    tier2: User
    tier3: User
    programme: User
    admin: User


# Staff have their Slack member IDs linked (U0 + their key), so Slack requests act as them.
PEOPLE = {
    "delegate": ("delegate@example.org", "Luis Ortega", Role.DELEGATE, None),
    "other_delegate": ("other@example.org", "Mei Chen", Role.DELEGATE, None),
    "applicant": ("applicant@example.org", "Priya Raman", Role.APPLICANT, None),
    "tier1": ("tier1@example.org", "Tala Ngata", Role.STAFF, 1),
    "tier2": ("tier2@example.org", "Samir Haddad", Role.STAFF, 2),
    "tier3": ("tier3@example.org", "Ines Carvalho", Role.STAFF, 3),
    "programme": ("programme@example.org", "Grace Okafor", Role.STAFF, None),
    "admin": ("admin@example.org", "Ada Admin", Role.ADMIN, 3),
}


@pytest.fixture
def people(app: Flask) -> People:
    """The people of a help desk. No passwords (hashing them is slow): clients sign in through
    the session, as the route-by-role test does."""
    made = {}
    with app.app_context():
        for key, (email, name, role, tier) in PEOPLE.items():
            user = create_user(
                email=email,
                full_name=name,
                password=None,
                role=role,
                tier=SupportTier(tier) if tier else None,
            )
            if user.is_staff:
                with transaction():
                    user.slack_user_id = f"U0{key.upper()}"
            db.session.refresh(user)
            db.session.expunge(user)
            made[key] = user
    return People(**made)


@pytest.fixture
def as_user(app: Flask) -> Any:
    """A client signed in as the given user (through a browser session opened on the server,
    as signing in does)."""

    def _client(user: User) -> Any:
        if not user.session_key:
            with app.app_context():
                open_session(user)
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
        return client

    return _client


@pytest.fixture
def tiers(app: Flask, people: People) -> dict[int, str]:
    """Every tier: its own Slack channel; weekdays 09:00-17:00 in Phoenix, US-AZ holidays; the
    default targets (tier 1 normal: first response 120 business minutes)."""
    for tier, channel in CHANNELS.items():
        configure_tier(
            app,
            people.admin,
            tier,
            slack_channel_id=channel,
            timezone="America/Phoenix",
            weekly_hours=WEEKDAYS_9_TO_5,
            holiday_country="US",
            holiday_subdivision="AZ",
            closed_dates=[],
            warning_minutes=30,
        )
    return CHANNELS
