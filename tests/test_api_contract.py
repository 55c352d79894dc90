"""The API as a contract: its OpenAPI 3.1 document is generated from the code and published,
every endpoint needs a staff token, and schemathesis fuzzes the running portal against the
document (no 5xx, no answer the document does not allow, no endpoint open without a token)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, Response, jsonify
from sqlalchemy import select
from werkzeug.serving import make_server

from portal.auth.models import User
from portal.auth.services import create_api_token
from portal.core.api import Me, operation
from portal.core.db import transaction
from portal.core.roles import Role
from portal.extensions import db
from portal.helpdesk.models import Ticket
from portal.signup.models import Programme

DOCS_COPY = Path(__file__).resolve().parent.parent / "docs" / "guides" / "portal" / "openapi.json"
SCHEMATHESIS = Path(sys.executable).parent / "st"
METHODS = ("get", "post", "put", "patch", "delete")


def _document(app: Flask) -> dict[str, Any]:
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return dict(response.json)


def _operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method, path)
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    ]


def _token_for(app: Flask, email: str) -> str:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        assert user is not None
        return create_api_token(user, "contract")


def _former_staff_token(app: Flask, make_user: Any) -> str:
    """A token made while its owner was staff, after the owner became a delegate."""
    user = make_user(Role.STAFF, email="former-staff@example.org")
    token = _token_for(app, user.email)
    with app.app_context(), transaction() as session:
        owner = session.get(User, user.id)
        assert owner is not None
        owner.role = Role.DELEGATE
    return token


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """The portal on a free loopback port, served by threads of this process."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_contract_is_published_without_a_token_and_covers_the_whole_api(app):
    document = _document(app)
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["token"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A staff API token.",
    }
    assert document["security"] == [{"token": []}]
    # Every API route the app serves is in the document (only the document itself is not).
    declared = {(method.upper(), path) for method, path in _operations(document)}
    served = {
        (method, re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert served - declared == {("GET", "/api/v1/openapi.json")}
    assert declared <= served
    # Each operation says what it answers, refusals included, with the error shape.
    for method, path in _operations(document):
        responses = document["paths"][path][method]["responses"]
        assert {"400", "401", "403", "422"} <= set(responses), (method, path)
        for status, response in responses.items():
            schema = response["content"]["application/json"]["schema"]
            if status.startswith("4"):
                assert schema == {"$ref": "#/components/schemas/ApiError"}, (method, path)


def test_the_docs_site_renders_the_current_contract(app):
    published = json.loads(DOCS_COPY.read_text(encoding="utf-8"))
    assert published == _document(app), (
        "The API changed: refresh the docs' copy with "
        "`.venv/bin/flask --app app portal openapi > docs/guides/portal/openapi.json`."
    )


def test_every_operation_needs_a_staff_token(app, make_user):
    document = _document(app)
    former_staff = _former_staff_token(app, make_user)
    client = app.test_client()
    for method, path in _operations(document):
        url = path.replace("{number}", "1").replace("{programme_id}", "1")
        for headers, status in [
            ({}, 401),
            ({"Authorization": "Bearer dp0_not-a-token"}, 401),
            ({"Authorization": "Basic c3RhZmY6cGFzcw=="}, 401),
            ({"Authorization": f"Bearer {former_staff}"}, 403),
        ]:
            response = client.open(url, method=method.upper(), headers=headers, json={})
            assert response.status_code == status, (method, url, headers, response.json)
            body = response.json
            assert set(body) == {"error", "reason", "status"}
            assert body["status"] == status
            assert body["reason"]


def test_invalid_requests_are_refused_with_the_reason(app, make_user):
    staff = make_user(Role.STAFF, tier=1)
    headers = {"Authorization": f"Bearer {_token_for(app, staff.email)}"}
    client = app.test_client()
    not_json = client.post("/api/v1/tickets", data="subject=x", headers=headers)
    assert (not_json.status_code, not_json.json["error"]) == (415, "unsupported_media_type")
    broken = client.post(
        "/api/v1/tickets", data="{", headers={**headers, "Content-Type": "application/json"}
    )
    assert (broken.status_code, broken.json["reason"]) == (400, "The body is not a JSON object.")
    listed = client.post("/api/v1/tickets", json=["subject"], headers=headers)
    assert (listed.status_code, listed.json["reason"]) == (400, "The body is not a JSON object.")
    unknown_key = client.post(
        "/api/v1/tickets",
        json={"subject": "A fine subject", "description": "d", "category": "portal", "x": 1},
        headers=headers,
    )
    assert unknown_key.status_code == 422
    assert unknown_key.json["reason"] == "x: Extra inputs are not permitted"
    blank = client.post(
        "/api/v1/tickets",
        json={"subject": "       ", "description": "d", "category": "portal"},
        headers=headers,
    )
    assert blank.status_code == 422
    assert blank.json["reason"].startswith("subject: String should match pattern")
    moved = client.get("/api/v1/tickets?tier=4&sort=oldest", headers=headers)
    assert moved.status_code == 422
    assert moved.json["reason"].startswith("tier: Input should be 1, 2 or 3")
    assert "; sort: Input should be 'due', 'updated' or 'created'" in moved.json["reason"]
    assert client.get("/api/v1/tickets/0", headers=headers).status_code == 404
    wrong_method = client.delete("/api/v1/tickets", headers=headers)
    assert wrong_method.status_code == 405
    assert set(wrong_method.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}


@pytest.mark.own_app
def test_an_answer_outside_the_contract_is_a_500_that_tells_nothing_and_is_logged(
    app, make_user, caplog
):
    @app.route("/api/v1/broken")
    @operation(Me, tag="account")
    def broken() -> Response:
        """An endpoint whose answer does not match what it declares."""
        return jsonify(id="one", email="staff@example.org", role="staff", tier=None, pin="1234")

    staff = make_user(Role.STAFF)
    headers = {"Authorization": f"Bearer {_token_for(app, staff.email)}"}
    response = app.test_client().get("/api/v1/broken", headers=headers)
    assert response.status_code == 500
    assert response.json == {
        "error": "internal_server_error",
        "reason": "The answer did not match the API's contract; it has been logged.",
        "status": 500,
    }
    logged = [r.getMessage() for r in caplog.records if "breaks the contract" in r.getMessage()]
    # Which fields are wrong, not what they held.
    assert len(logged) == 1
    assert "'loc': ('id',)" in logged[0]
    assert "'loc': ('pin',)" in logged[0]
    assert "1234" not in logged[0]


# What the contract run may not rely on by chance: records with these ids exist (the demo data
# files tickets 1 to 63 and one programme), and half the generated ids are taken from them.
SCHEMATHESIS_CONFIG = """
seed = 1515
workers = 1

[generation]
max-examples = {max_examples}
# The portal refuses a NUL character in any field before any view runs (400, declared in every
# operation; tests/test_request_input.py tests it): a generated string holding one would test
# that layer, not the endpoint.
allow-x00 = false
database = "none"

[checks]
enabled = true

[dictionaries]
tickets = {{ values = [1, 2, 3, 10] }}
programmes = {{ values = [{programme_id}] }}

[parameters]
"path.number" = {{ dictionary = "tickets", probability = 0.5 }}
"path.programme_id" = {{ dictionary = "programmes", probability = 0.5 }}

[warnings]
fail-on = true

# These refuse, with 422, a well-formed value that names nothing (an address with no account,
# a wave the programme does not have): the document cannot list the valid ones.
[[operations]]
include-operation-id = ["create_ticket", "applications"]
checks.positive_data_acceptance.expected-statuses = ["2xx", 401, 403, 404, 409, 422]
"""


# Each part of the API fuzzed with the token of a demo account that works it: the help desk
# with a tier-2 support engineer's, sign-up with the programme staff's (who see applicants'
# profiles, so the profile filters and the cohort's composition are reached too).
CONTRACT_RUNS = [
    ("tier2@example.org", ["tickets", "account"]),
    ("programme@example.org", ["sign-up"]),
]


def _fuzz(url: str, token: str, tags: list[str], config: Path, folder: Path) -> dict[str, Any]:
    """One schemathesis run over the operations with `tags`; returns its JSON report."""
    report = folder / f"report-{tags[0]}.json"
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            f"{url}/api/v1/openapi.json",
            *(part for tag in tags for part in ("--include-tag", tag)),
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            "--no-color",
            "--report",
            "json",
            "--report-json-path",
            str(report),
        ],
        # Schemathesis keeps a cache in its working folder.
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    summary: dict[str, Any] = json.loads(report.read_text())
    assert (summary["failures"], summary["errors"]) == ([], [])
    return summary


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_contract(
    app, tmp_path, record_property
):
    seeded = app.test_cli_runner().invoke(args=["portal", "seed-demo"])
    assert seeded.exit_code == 0, seeded.output
    with app.app_context():
        programme_id = db.session.scalar(select(Programme.id))
        assert db.session.get(Ticket, 10) is not None
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG.format(max_examples=8, programme_id=programme_id))
    with serving(app) as url:
        assert requests.get(f"{url}/api/v1/openapi.json", timeout=10).status_code == 200
        summaries = [
            _fuzz(url, _token_for(app, email), tags, config, tmp_path)
            for email, tags in CONTRACT_RUNS
        ]
    assert sum(s["operations"]["tested"] for s in summaries) == len(_operations(_document(app)))
    generated = sum(s["test_cases"]["generated"] for s in summaries)
    # Shown in the run's summary (tests/conftest.py prints "summary" properties).
    record_property("summary", f"API contract: schemathesis generated {generated} test cases")
    assert generated > 100
