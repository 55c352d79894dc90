"""Helpers for the help-desk tests: tier settings, Slack request signing, services as a user."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Flask

from portal.auth.models import User
from portal.extensions import db
from portal.helpdesk import requesters, settings
from portal.helpdesk.models import Ticket

SIGNING_SECRET = "test-slack-signing-secret"
CHANNELS = {1: "C0TIER1", 2: "C0TIER2", 3: "C0TIER3"}
# Monday 2 March 2026, 10:00 in Phoenix (UTC-7 all year): inside business hours.
MONDAY_10AM = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
WEEKDAYS_9_TO_5 = [[[540, 1020]]] * 5 + [[], []]


def configure_tier(app: Flask, admin: User, tier: int, **fields: Any) -> None:
    """Save a tier's settings through the service, as the admin page does."""
    with app.app_context():
        user = db.session.get(User, admin.id)
        assert user is not None
        settings.save_tier_settings(user, tier, **fields)


def slack_headers(
    body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Headers Slack sends: HMAC-SHA256 of v0:timestamp:body with the signing secret."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def slack_post(client: Any, path: str, form: dict[str, str], **signing: Any) -> Any:
    body = urlencode(form)
    return client.post(
        path,
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=slack_headers(body, **signing),
    )


def load_ticket(app: Flask, number: int) -> Ticket:
    with app.app_context():
        ticket = db.session.get(Ticket, number)
        assert ticket is not None
        db.session.expunge(ticket)
        return ticket


def file_ticket(
    app: Flask,
    requester: User,
    *,
    subject: str = "TAP query times out",
    description: str = "My ADQL query on the object table stops after 60 seconds.",
    category: str = "api_tap",
    priority: str = "normal",
) -> int:
    """File a ticket through the service (the web form has its own tests)."""
    with app.app_context():
        user = db.session.get(User, requester.id)
        assert user is not None
        ticket = requesters.create_ticket(
            user, subject=subject, description=description, category=category, priority=priority
        )
        return ticket.id


def act(app: Flask, user: User, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a help-desk service as `user` (a fresh copy from the database)."""
    with app.app_context():
        actor = db.session.get(User, user.id)
        return action(actor, *args, **kwargs)
