"""The servers a scenario runs against: a fresh PostgreSQL database, the portal under gunicorn,
the delivery worker, the Slack stand-in and an SMTP server that receives the portal's mail."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import Engine, make_url

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN_CONFIG = ROOT / "deploy" / "gunicorn.conf.py"
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ADMIN_EMAIL = "bench-admin@example.org"
PASSWORD = "bench passphrase for every account"  # noqa: S105 - accounts of a throwaway database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _psycopg_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


@contextmanager
def database(scenario: str) -> Iterator[str]:
    """A database for one scenario: BENCH_DATABASE_URL emptied first, or a new database on
    the local PostgreSQL that is dropped afterwards."""
    given = os.environ.get("BENCH_DATABASE_URL")
    if given:
        url = _psycopg_url(given)
        _empty(url)
        yield url
        return
    server = make_url(_psycopg_url(os.environ.get("BENCH_POSTGRES_URL", DEFAULT_SERVER)))
    name = f"dp0_bench_{scenario}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _empty(url: str) -> None:
    """Drop every table of a database given for benchmarking only."""
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        metadata.drop_all(engine)
    finally:
        engine.dispose()


# --- processes -----------------------------------------------------------------------------------


@dataclass
class Service:
    """A server process with its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up (a crash)."""
        self.process.kill()
        self.process.wait()

    def children(self) -> list[int]:
        """Process ids of its direct children (gunicorn's workers)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []


def start_service(name: str, command: list[str], env: dict[str, str], workdir: Path) -> Service:
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{name}.log"
    with log.open("ab") as handle:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    return Service(name, process, log)


def gunicorn_command(app: str, port: int) -> list[str]:
    """gunicorn with the portal's settings, on a loopback port."""
    return [PYTHON, "-m", "gunicorn", "-c", str(GUNICORN_CONFIG), "-b", f"127.0.0.1:{port}", app]


def wait_for_http(url: str, service: Service, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited; see {service.log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status < 500:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{service.name} did not answer {url} within {timeout} s")


@dataclass
class Portal:
    """The portal of one scenario: its settings, and the processes that serve it."""

    workdir: Path
    database_url: str
    settings: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    web: Service | None = None
    worker: Service | None = None
    worker_runs: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PORTAL_", "MAIL_", "SLACK_", "GITHUB_", "OUTBOX_"))
        }
        env.update(
            PORTAL_ENV="production",
            SESSION_COOKIE_SECURE="false",
            DATABASE_URL=self.database_url,
            PORTAL_BASE_URL=self.base_url,
            PORTAL_INSTANCE_PATH=str(self.workdir / "instance"),
            PORTAL_DOCS_DIR=str(self.workdir / "docs-html"),
            PORTAL_ADMIN_EMAIL=ADMIN_EMAIL,
            PORTAL_ADMIN_PASSWORD=PASSWORD,
            # The load comes from many addresses through one trusted proxy hop (the bench sets
            # X-Forwarded-For, as nginx would), so per-address limits apply per applicant.
            PORTAL_PROXY_HOPS="1",
            # A killed worker's messages are retried after this lease; short, so the crash
            # drill does not wait a minute for it.
            OUTBOX_LEASE_SECONDS="10",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.settings)
        return env

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Fixed once, so that the web processes and the worker sign with the same key.
        self.settings.setdefault("SECRET_KEY", "bench-" + secrets.token_urlsafe(32))

    def flask(self, *args: str) -> str:
        """Run a `flask --app app` command of the portal; returns its output."""
        result = subprocess.run(
            [PYTHON, "-m", "flask", "--app", "app", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(f"flask {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def bootstrap(self) -> None:
        """Migrate the empty database and create the first admin, as a deployment would."""
        self.flask("portal", "bootstrap")

    def start_web(self) -> None:
        self.web = start_service(
            "gunicorn", gunicorn_command("app:app", self.port), self.env, self.workdir
        )
        wait_for_http(self.base_url + "/healthz", self.web)

    def start_worker(self) -> None:
        self.worker_runs += 1
        self.worker = start_service(
            f"worker-{self.worker_runs}",
            [PYTHON, "-m", "flask", "--app", "app", "portal", "worker"],
            self.env,
            self.workdir,
        )

    def stop(self) -> None:
        for service in (self.worker, self.web):
            if service is not None:
                service.stop()

    def engine(self) -> Engine:
        return create_engine(self.database_url)


@contextmanager
def running_portal(portal: Portal, *, worker: bool = True) -> Iterator[Portal]:
    try:
        portal.start_web()
        if worker:
            portal.start_worker()
        yield portal
    finally:
        portal.stop()


# --- the Slack stand-in, as its own process ----------------------------------------------------


@dataclass
class SlackProcess:
    service: Service
    url: str
    token: str = "xoxb-test-token"  # noqa: S105 - the stand-in's fixed token

    def configure(self, **settings: Any) -> None:
        request = urllib.request.Request(  # noqa: S310 - loopback
            self.url + "/_standin/configure",
            data=json.dumps(settings).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback
            pass

    def state(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/_standin/state", timeout=60) as response:  # noqa: S310
            return dict(json.loads(response.read()))


@contextmanager
def slack_standin(workdir: Path) -> Iterator[SlackProcess]:
    port = free_port()
    service = start_service(
        "slack-standin",
        [PYTHON, "-m", "tests.standins.slack", "--port", str(port)],
        dict(os.environ),
        workdir,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(url + "/_standin/state", service)
        yield SlackProcess(service, url)
    finally:
        service.stop()


# --- a real SMTP server in this process --------------------------------------------------------

LINK = re.compile(r"https?://\S+")


@dataclass
class ReceivedMail:
    message_id: str
    to: str
    subject: str
    links: list[str]
    received_at: float


class MailSink:
    """An aiosmtpd server that keeps what it receives and wakes whoever waits for a link."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[ReceivedMail] = []
        self._lock = threading.Lock()
        self._waiters: dict[tuple[str, str], tuple[asyncio.AbstractEventLoop, asyncio.Future[str]]]
        self._waiters = {}
        self._links: dict[str, list[str]] = {}
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> MailSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook
        # The legacy parser: the modern email policy costs the load generator milliseconds of
        # CPU a message, taken from the servers it measures.
        message = message_from_bytes(envelope.content, policy=compat32)
        content = "".join(
            payload.decode()
            for part in message.walk()
            if part.get_content_type() == "text/plain"
            and isinstance(payload := part.get_payload(decode=True), bytes)
        )
        mail = ReceivedMail(
            message_id=str(message["Message-ID"]),
            to=str(message["To"]).lower(),
            subject=str(message["Subject"]),
            links=LINK.findall(content),
            received_at=time.monotonic(),
        )
        with self._lock:
            self.received.append(mail)
            self._links.setdefault(mail.to, []).extend(mail.links)
            for link in mail.links:
                for (address, part), (loop, future) in list(self._waiters.items()):
                    if address == mail.to and part in link:
                        del self._waiters[(address, part)]
                        loop.call_soon_threadsafe(_resolve, future, link)
        return "250 OK"

    async def link_for(self, address: str, part: str, timeout: float) -> str:
        """The first link containing `part` mailed to `address` (waiting for it to arrive)."""
        key = (address.lower(), part)
        loop = asyncio.get_running_loop()
        with self._lock:
            for link in self._links.get(key[0], []):
                if part in link:
                    return link
            future: asyncio.Future[str] = loop.create_future()
            self._waiters[key] = (loop, future)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            with self._lock:
                self._waiters.pop(key, None)

    def counts(self) -> Counter[str]:
        """How many times each Message-ID arrived."""
        with self._lock:
            return Counter(mail.message_id for mail in self.received)


def _resolve(future: asyncio.Future[str], link: str) -> None:
    if not future.done():
        future.set_result(link)
