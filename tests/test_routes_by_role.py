"""Walk every route of the portal as every role and check the status code each gets."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

import pytest
from flask import Flask

import tests.route_tables as tables
from portal import create_app
from portal.auth.services import create_user, open_session, set_programme_staff
from portal.core.roles import Role
from portal.extensions import db
from tests.route_tables import ROLES, Route

MODULES = [
    importlib.import_module(f"tests.route_tables.{info.name}")
    for info in pkgutil.iter_modules(tables.__path__)
]
ALL_ROUTES = [(module, route) for module in MODULES for route in module.ROUTES]

ROLE_ACCOUNTS = {
    "applicant": (Role.APPLICANT, None),
    "delegate": (Role.DELEGATE, None),
    "staff": (Role.STAFF, None),
    "tier1": (Role.STAFF, 1),
    "tier2": (Role.STAFF, 2),
    "tier3": (Role.STAFF, 3),
    "programme": (Role.STAFF, None),
    "admin": (Role.ADMIN, 3),
}
# Endpoints that are not pages (Flask's own static files are covered by one row).
UNLISTED_OK: set[str] = set()


def _make_users(app: Flask) -> dict[str, Any]:
    users = {}
    with app.app_context():
        for role_name, (role, tier) in ROLE_ACCOUNTS.items():
            # No password: accounts are signed in through a server-side session opened here,
            # which keeps this fast.
            user = create_user(
                email=f"{role_name}@example.org",
                full_name=role_name,
                password=None,
                role=role,
                tier=tier,
            )
            if role_name == "programme":
                set_programme_staff(user, True)
            open_session(user)
            db.session.refresh(user)
            db.session.expunge(user)
            users[role_name] = user
    return users


def _client_as(app: Flask, user: Any | None) -> Any:
    client = app.test_client()
    if user is not None:
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
    return client


@pytest.mark.parametrize(
    ("module", "route"),
    ALL_ROUTES,
    ids=[f"{route.method} {route.path}" for _, route in ALL_ROUTES],
)
def test_route_by_role(app, module, route: Route):
    users = _make_users(app)
    values = module.setup(app, users) if hasattr(module, "setup") else {}
    path = route.path.format(**values)
    failures = []
    for role in ROLES:
        expected = route.expect.get(role)
        assert expected is not None, f"{route.path} has no expectation for {role}"
        client = _client_as(app, users.get(role))
        if route.method == "GET":
            response = client.get(path)
        else:
            token = client.csrf_token("/" if role != "anonymous" else "/auth/login")
            response = client.open(
                path, method=route.method, data={**route.data, "csrf_token": token}
            )
        response.close()
        if response.status_code != expected:
            failures.append(f"{role}: got {response.status_code}, expected {expected}")
    assert not failures, f"{route.method} {path}: " + "; ".join(failures)


def _rule_pattern(rule: str) -> re.Pattern[str]:
    escaped = re.escape(rule).replace(r"\<", "<").replace(r"\>", ">")
    pattern = re.sub(r"<path:[^>]+>", ".+", escaped)
    pattern = re.sub(r"<(?:[^:>]+:)?[^>]+>", "[^/]+", pattern)
    return re.compile(f"^{pattern}$")


def test_every_route_is_in_a_table(tmp_path):
    app = create_app({"PORTAL_ENV": "testing", "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path)})
    listed = [(route.method, route.path) for _, route in ALL_ROUTES]
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNLISTED_OK:
            continue
        pattern = _rule_pattern(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if not any(
                m == method and pattern.match(re.sub(r"\{[^}]+\}", "1", p)) for m, p in listed
            ):
                missing.append(f"{method} {rule.rule}")
    assert not missing, "routes missing from tests/route_tables: " + ", ".join(missing)


def test_every_view_declares_who_may_use_it(tmp_path):
    app = create_app({"PORTAL_ENV": "testing", "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path)})
    undeclared = [
        endpoint
        for endpoint, view in app.view_functions.items()
        if endpoint != "static"
        and not endpoint.endswith(".static")
        and not hasattr(view, "required_role")
    ]
    assert not undeclared, f"views without @public or a role check: {undeclared}"
