"""Public pages: home, health check, and the documentation site served under /docs/."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from portal.core.roles import Role


def test_home_page_links_to_docs_and_sign_in(client):
    page = client.get("/").data.decode()
    assert 'href="/docs/"' in page
    assert 'href="/auth/login"' in page
    assert "Skip to main content" in page


def test_navigation_follows_the_role(make_user, login, client):
    assert b'href="/admin/"' not in client.get("/").data
    delegate = login(make_user(Role.DELEGATE))
    page = delegate.get("/").data
    assert b'href="/admin/"' not in page
    assert b"Sign out" in page
    admin = login(make_user(Role.ADMIN))
    assert b'href="/admin/"' in admin.get("/").data


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.json == {"status": "ok", "database": "ok"}


def _built_site(root: Path) -> None:
    (root / "tutorials").mkdir(parents=True)
    (root / "index.html").write_text(
        "<html><head><script>document.documentElement.dataset.mode = 'light';</script>"
        '<script src="_static/app.js"></script></head><body>DP0 docs</body></html>'
    )
    (root / "tutorials" / "index.html").write_text("<html><body>Tutorials</body></html>")
    (root / "tutorials" / "01-intro.ipynb").write_text('{"cells": []}')


def test_docs_are_served_with_hashes_for_their_inline_scripts(app, client):
    root = Path(app.config["PORTAL_DOCS_DIR"])
    _built_site(root)
    response = client.get("/docs/")
    assert response.status_code == 200
    assert b"DP0 docs" in response.data
    expected = base64.b64encode(
        hashlib.sha256(b"document.documentElement.dataset.mode = 'light';").digest()
    ).decode()
    csp = response.headers["Content-Security-Policy"]
    assert f"'sha256-{expected}'" in csp
    assert "script-src 'self' 'sha256-" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    response.close()
    tutorials = client.get("/docs/tutorials/")
    assert tutorials.status_code == 200
    tutorials.close()
    notebook = client.get("/docs/tutorials/01-intro.ipynb")
    assert notebook.headers["Content-Disposition"] == 'attachment; filename="01-intro.ipynb"'
    notebook.close()
    assert client.get("/docs/../secret_key").status_code == 404
    assert client.get("/docs/missing.html").status_code == 404


def test_docs_not_built_says_how_to_build_them(client):
    response = client.get("/docs/")
    assert response.status_code == 503
    assert b"make docs" in response.data
