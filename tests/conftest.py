"""Fixtures: the portal on SQLite and (with TEST_DATABASE_URL) PostgreSQL, a real SMTP server,
local HTTP stand-ins for Slack and GitHub, and a client that sends CSRF tokens like a browser.

The app and its schema are built once per run and database. Each test then starts on empty
tables, with the settings the app was built with plus its own folders and `app_config`, and
with fresh rate limits; a test whose `app_config` changes what the app is built from (or that
is marked `own_app`) gets an app of its own on the same database."""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import MetaData, create_engine, inspect, text
from sqlalchemy.engine import Connection, make_url

from portal import create_app
from portal.auth import services as auth_services
from portal.auth.models import User
from portal.core.roles import Role, SupportTier
from portal.extensions import db, limiter
from portal.outbox.worker import deliver_due_messages
from tests.standins.github import GitHubStandIn
from tests.standins.slack import SlackStandIn

PASSWORD = "correct horse battery staple"
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])
# Settings that create_app reads while it builds the app (extensions, middleware, the GitHub
# sign-in client) rather than on each request.
BUILD_TIME_SETTINGS = frozenset(
    {
        "PORTAL_ENV",
        "PORTAL_PROXY_HOPS",
        "INSTANCE_PATH",
        "GITHUB_CLIENT_ID",
        "GITHUB_CLIENT_SECRET",
    }
)
BUILD_TIME_PREFIXES = ("SQLALCHEMY_", "RATELIMIT_")


def base_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "PORTAL_ENV": "testing",
        "SECRET_KEY": "test-secret-key-for-signing",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MAIL_SERVER": "",
        "PORTAL_BASE_URL": "http://portal.test",
        "RATELIMIT_STORAGE_URI": "memory://",
        "SLACK_BOT_TOKEN": "",
        "GITHUB_TOKEN": "",
        **own_folders(tmp_path),
    }


def own_folders(tmp_path: Path) -> dict[str, str]:
    """The settings that name one test's own folders."""
    instance = tmp_path / "instance"
    return {
        "INSTANCE_PATH": str(instance),
        "MAIL_DIR": str(tmp_path / "mail"),
        "PORTAL_DOCS_DIR": str(tmp_path / "docs-html"),
        "HELPDESK_ATTACHMENT_DIR": str(instance / "helpdesk-attachments"),
    }


def builds_its_own_app(app_config: dict[str, Any]) -> bool:
    return any(
        key in BUILD_TIME_SETTINGS or key.startswith(BUILD_TIME_PREFIXES) for key in app_config
    )


def build_app(config: dict[str, Any]) -> Flask:
    app = create_app(config)
    app.test_client_class = PortalClient
    return app


@contextmanager
def postgres_database(base_url: str, name: str) -> Iterator[str]:
    """A new, empty database called `name` on the server `base_url` points at, dropped after."""
    url = make_url(base_url).set(drivername="postgresql+psycopg")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """The run's PostgreSQL database, with no tables: the one TEST_DATABASE_URL names or, under
    pytest-xdist, a new database of this worker's own beside it."""
    base = make_url(os.environ["TEST_DATABASE_URL"]).set(drivername="postgresql+psycopg")
    engine = create_engine(base)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # CI sets the variable on purpose: an unreachable server is a failure
        pytest.fail(f"TEST_DATABASE_URL is set but PostgreSQL is unreachable: {exc}")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is not None:
        engine.dispose()
        with postgres_database(str(base), f"{base.database}_{worker}") as url:
            yield url
        return
    with engine.begin() as connection:
        drop_every_table(connection)
    engine.dispose()
    yield base.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'portal.db'}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Extra settings for one test's app (override this fixture in a module)."""
    return {}


@dataclass
class SharedApp:
    """An app built once for the run, and what it was built as, to restore after each test."""

    app: Flask
    config: dict[str, Any]
    instance_path: str

    def restore(self) -> None:
        self.app.config.clear()
        self.app.config.update(self.config)
        self.app.instance_path = self.instance_path


class SharedApps:
    """The apps built once for the run: one per database, on first use."""

    def __init__(self, folders: pytest.TempPathFactory) -> None:
        self.folders = folders
        self.apps: dict[str, SharedApp] = {}

    def on(self, database_url: str) -> SharedApp:
        if database_url not in self.apps:
            app = build_app(base_config(database_url, self.folders.mktemp("shared-app")))
            self.apps[database_url] = SharedApp(app, dict(app.config), app.instance_path)
        return self.apps[database_url]

    def close(self) -> None:
        for shared in self.apps.values():
            with shared.app.app_context():
                db.session.remove()
                db.engine.dispose()


@pytest.fixture(scope="session")
def shared_apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedApps]:
    apps = SharedApps(tmp_path_factory)
    yield apps
    apps.close()


def drop_every_table(connection: Connection) -> None:
    existing = MetaData()
    existing.reflect(connection)
    existing.drop_all(connection)


def empty_database(app: Flask) -> None:
    """Leave the portal's tables empty, in one transaction; make them first where they
    are not the portal's (a new database, or one a command-line test migrated from nothing)."""
    with app.app_context():
        db.session.remove()
        tables = db.metadata.sorted_tables
        if set(inspect(db.engine).get_table_names()) != {table.name for table in tables}:
            with db.engine.begin() as connection:
                drop_every_table(connection)
                db.metadata.create_all(connection)
            return
        # DELETE, not TRUNCATE: on tables this small PostgreSQL deletes in milliseconds what it
        # takes a few hundred to truncate (new files for every table and index).
        with db.engine.begin() as connection:
            if connection.dialect.name == "sqlite":
                # Foreign keys checked at the commit, when every table is empty.
                connection.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            for table in reversed(tables):
                connection.exec_driver_sql(f'DELETE FROM "{table.name}"')  # noqa: S608
            if connection.dialect.name == "postgresql":
                # Ids start again at 1, as in a new database (SQLite reuses them by itself).
                connection.exec_driver_sql(
                    "SELECT setval(quote_ident(schemaname) || '.' || quote_ident(sequencename),"
                    " 1, false) FROM pg_sequences WHERE schemaname = current_schema()"
                )


@pytest.fixture
def app(
    request: pytest.FixtureRequest,
    database_url: str,
    tmp_path: Path,
    app_config: dict[str, Any],
    shared_apps: SharedApps,
) -> Iterator[Flask]:
    shared = None
    if builds_its_own_app(app_config) or request.node.get_closest_marker("own_app"):
        app = build_app({**base_config(database_url, tmp_path), **app_config})
    else:
        shared = shared_apps.on(database_url)
        app = shared.app
        app.config.update({**own_folders(tmp_path), **app_config})
        app.instance_path = app.config["INSTANCE_PATH"]
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    empty_database(app)
    limiter.reset()
    yield app
    with app.app_context():
        db.session.remove()
        # Closed, not kept in the pool: a statement a failed test left unfinished would hold
        # an old snapshot of a SQLite database, on which the next test could not write.
        db.engine.dispose()
    if shared is not None:
        shared.restore()


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


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Show what tests recorded as a "summary" property (how many requests the API contract
    run generated) after the results: under pytest-xdist a test's own output is not shown."""
    lines = [
        str(value)
        for report in terminalreporter.stats.get("passed", [])
        for name, value in getattr(report, "user_properties", [])
        if name == "summary"
    ]
    if lines:
        terminalreporter.section("summary")
        for line in lines:
            terminalreporter.write_line(line)
