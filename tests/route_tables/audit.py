"""Routes of the audit log: admins only, the page and both exports."""

from __future__ import annotations

from tests.route_tables import Route, admins

ROUTES = [
    Route("GET", "/admin/audit/", admins(200)),
    Route("GET", "/admin/audit/?since=2026-02-01&until=2026-01-01", admins(422)),
    Route("GET", "/admin/audit/export.csv", admins(200)),
    Route("GET", "/admin/audit/export.json", admins(200)),
]
