"""Fixtures: the portal on SQLite and (with TEST_DATABASE_URL) PostgreSQL, a real SMTP server,
local HTTP stand-ins for Slack and GitHub, and a client that sends CSRF tokens like a browser."""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from portal import create_app
from portal.auth import services as auth_services
from portal.auth.models import User
from portal.core.roles import Role, SupportTier
from portal.extensions import db
from portal.outbox.worker import deliver_due_messages
from tests.standins.github import GitHubStandIn
from tests.standins.slack import SlackStandIn

PASSWORD = "correct horse battery staple"
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


def _pg_url() -> str:
    url = os.environ["TEST_DATABASE_URL"]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def base_config(database_url: str, tmp_path: Any) -> dict[str, Any]:
    return {
        "PORTAL_ENV": "testing",
        "SECRET_KEY": "test-secret-key-for-signing",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MAIL_DIR": str(tmp_path / "mail"),
        "MAIL_SERVER": "",
        "PORTAL_BASE_URL": "http://portal.test",
        "RATELIMIT_STORAGE_URI": "memory://",
        "PORTAL_DOCS_DIR": str(tmp_path / "docs-html"),
        "SLACK_BOT_TOKEN": "",
        "GITHUB_TOKEN": "",
    }


@pytest.fixture(scope="session")
def postgres_schema(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Create the schema once per run in the database TEST_DATABASE_URL names."""
    url = _pg_url()
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # CI sets the variable on purpose: an unreachable server is a failure
        pytest.fail(f"TEST_DATABASE_URL is set but PostgreSQL is unreachable: {exc}")
    finally:
        engine.dispose()
    app = create_app(base_config(url, tmp_path_factory.mktemp("pg")))
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.engine.dispose()
    return url


def _truncate_all(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with db.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_schema"))
    return f"sqlite:///{tmp_path / 'portal.db'}"


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Extra settings for one test's app (override this fixture in a module)."""
    return {}


@pytest.fixture
def app(database_url: str, tmp_path: Any, app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app({**base_config(database_url, tmp_path), **app_config})
    app.test_client_class = PortalClient
    is_postgres = make_url(database_url).get_backend_name() == "postgresql"
    with app.app_context():
        if not is_postgres:
            db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
    if is_postgres:
        _truncate_all(app)
    with app.app_context():
        db.engine.dispose()


class PortalClient(FlaskClient):
    """A test client that, like a browser, sends back the CSRF token of the form it was shown."""

    def csrf_token(self, url: str = "/auth/login") -> str:
        page = self.get(url)
        match = re.search(
            rb'name="csrf_token" type="hidden" value="([^"]+)"', page.data
        ) or re.search(rb'name="csrf_token" value="([^"]+)"', page.data)
        assert match, f"no CSRF token on {url} (status {page.status_code})"
        return match.group(1).decode()

    def submit(
        self,
        url: str,
        data: dict[str, Any] | None = None,
        *,
        form_url: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """POST a form the way a browser would after loading `form_url` (default: `url`)."""
        payload = dict(data or {})
        payload["csrf_token"] = self.csrf_token(form_url or url)
        return self.post(url, data=payload, **kwargs)

    def sign_in(self, email: str, password: str = PASSWORD) -> Any:
        response = self.submit("/auth/login", {"email": email, "password": password})
        assert response.status_code == 302, response.data[:2000]
        return response


@pytest.fixture
def client(app: Flask) -> PortalClient:
    return app.test_client()  # type: ignore[return-value]


@pytest.fixture
def make_user(app: Flask) -> Any:
    """Create an account with a role (and tier), verified, with the shared test password."""
    counter = iter(range(1, 10_000))

    def _make(
        role: Role | str = Role.DELEGATE,
        tier: int | None = None,
        email: str | None = None,
        name: str | None = None,
        password: str = PASSWORD,
    ) -> User:
        n = next(counter)
        role = Role(role)
        with app.app_context():
            user = auth_services.create_user(
                email=email or f"{role.value}{n}@example.org",
                full_name=name or f"{role.value.capitalize()} Person {n}",
                password=password,
                role=role,
                tier=SupportTier(tier) if tier else None,
            )
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    return _make


def signed_in_client(app: Flask, user: User) -> PortalClient:
    client: PortalClient = app.test_client()  # type: ignore[assignment]
    client.sign_in(user.email)
    return client


@pytest.fixture
def login(app: Flask) -> Any:
    """A client signed in as the given user, through the real sign-in form."""
    return lambda user: signed_in_client(app, user)


def deliver_outbox(app: Flask, rounds: int = 50) -> int:
    """Run the worker's delivery step until nothing is due; returns how many were attempted."""
    total = 0
    with app.app_context():
        for _ in range(rounds):
            attempted = deliver_due_messages("test-worker")
            db.session.remove()
            if not attempted:
                break
            total += attempted
    return total


# --- a real SMTP server --------------------------------------------------------------------------


class Mailbox:
    """Messages received by a local aiosmtpd server."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.refuse_with: str | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.refuse_with:
            return self.refuse_with
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    @staticmethod
    def text(message: EmailMessage) -> str:
        body = message.get_body(preferencelist=("plain",))
        return body.get_content() if body is not None else ""

    @staticmethod
    def html(message: EmailMessage) -> str:
        body = message.get_body(preferencelist=("html",))
        return body.get_content() if body is not None else ""

    def links(self, message: EmailMessage) -> list[str]:
        return re.findall(r"https?://\S+", self.text(message))

    def last_link_to(self, address: str, contains: str = "") -> str:
        for message in reversed(self.to(address)):
            for link in self.links(message):
                if contains in link:
                    return link
        raise AssertionError(f"no link containing {contains!r} mailed to {address}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


@pytest.fixture
def mailbox(app: Flask, smtp_server: tuple[Mailbox, int]) -> Mailbox:
    """The app sends mail by SMTP to a local server; returns what that server received."""
    box, port = smtp_server
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False)
    return box


# --- stand-ins for Slack and GitHub -------------------------------------------------------


@pytest.fixture
def slack(app: Flask) -> Iterator[SlackStandIn]:
    standin = SlackStandIn()
    standin.start()
    app.config.update(SLACK_BOT_TOKEN=standin.token, SLACK_API_URL=standin.url + "/api/")
    yield standin
    standin.stop()


@pytest.fixture
def github_standin() -> Iterator[GitHubStandIn]:
    standin = GitHubStandIn()
    standin.start()
    yield standin
    standin.stop()
