"""Routes of the foundation: home, docs, accounts, admin, API."""

from __future__ import annotations

from typing import Any

from portal.core.db import transaction
from portal.outbox import enqueue
from tests.route_tables import ROLES, Route, admins, everyone, signed_in, staff


def setup(app: Any, users: dict[str, Any]) -> dict[str, Any]:
    with app.app_context(), transaction():
        message = enqueue("email", "send", {"to": "x@example.org", "subject": "s"})
        message.state = "dead"
        message_id = message.id
    return {"message_id": message_id, "some_user_id": users["delegate"].id}


ROUTES = [
    Route("GET", "/", everyone(200)),
    Route("GET", "/healthz", everyone(200)),
    Route("GET", "/docs/", everyone(503)),  # the test app has no built docs
    Route("GET", "/docs/about/index.html", everyone(503)),
    Route("GET", "/static/portal.css", everyone(200)),
    Route("GET", "/auth/login", {"anonymous": 200, **dict.fromkeys(ROLES[1:], 302)}),
    Route("POST", "/auth/login", {"anonymous": 422, **dict.fromkeys(ROLES[1:], 302)}),
    Route("POST", "/auth/logout", everyone(302)),
    Route("GET", "/auth/register", everyone(200)),
    Route("POST", "/auth/register", everyone(422)),
    Route("GET", "/auth/verify", everyone(200)),
    Route("POST", "/auth/verify", everyone(422)),
    Route("GET", "/auth/verify/not-a-token", everyone(400)),
    Route("GET", "/auth/reset", everyone(200)),
    Route("POST", "/auth/reset", everyone(422)),
    Route("GET", "/auth/reset/not-a-token", everyone(400)),
    Route("POST", "/auth/reset/not-a-token", everyone(400)),
    Route("GET", "/auth/github/login", everyone(404)),  # GitHub is not configured here
    Route("GET", "/auth/github/callback", everyone(404)),
    Route("GET", "/account/", signed_in(200)),
    Route("POST", "/account/", signed_in(422)),
    Route("POST", "/account/password", signed_in(422)),
    Route("POST", "/account/sessions/end", signed_in(302)),
    Route("GET", "/account/tokens", staff(200)),
    Route("POST", "/account/tokens", staff(422)),
    Route("POST", "/account/tokens/999/revoke", staff(404)),
    Route("GET", "/admin/", admins(200)),
    Route("GET", "/admin/users", admins(200)),
    Route("GET", "/admin/users/new", admins(200)),
    Route("POST", "/admin/users/new", admins(422)),
    Route("GET", "/admin/users/{some_user_id}", admins(200)),
    Route("POST", "/admin/users/{some_user_id}", admins(422), data={"role": "nonsense"}),
    Route("GET", "/admin/mail", admins(200)),
    Route("GET", "/admin/mail/nothing.eml", admins(404)),
    Route("GET", "/admin/outbox", admins(200)),
    Route("POST", "/admin/outbox/{message_id}/retry", admins(302)),
    # The API authenticates by token only: a browser session is not enough.
    Route("GET", "/api/v1/me", everyone(401)),
    # The API's contract is public; the data behind it needs a token.
    Route("GET", "/api/v1/openapi.json", everyone(200)),
]
