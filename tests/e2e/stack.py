"""The portal as the end-to-end journeys meet it: gunicorn and the delivery worker on a fresh
database, mail caught by a local SMTP server, and the Slack and GitHub stand-ins as processes."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from portal import create_app
from tests.conftest import Mailbox, free_port
from tests.e2e.audit import ARTIFACTS

ROOT = Path(__file__).resolve().parents[2]
PROGRAMMES = Path(__file__).resolve().parent / "programmes"
SECRET_KEY = "e2e-secret-key-" + secrets.token_hex(8)
SLACK_SIGNING_SECRET = "e2e-slack-signing-secret"
SLACK_TOKEN = "xoxb-test-token"
ADMIN_EMAIL = "admin@example.org"
PASSWORD = "e2e correct horse battery"


class Stack:
    """The running portal and what surrounds it, with an app object on the same database for
    arranging data through the services (the browser does everything a journey is about)."""

    def __init__(self, workdir: Path, database_url: str) -> None:
        self.workdir = workdir
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mailbox = Mailbox()
        self.smtp_port = free_port()
        self.slack_url = f"http://127.0.0.1:{free_port()}"
        self.github_url = f"http://127.0.0.1:{free_port()}"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.log_files: list[Any] = []
        self.logs = ARTIFACTS / "logs"
        self.env = {
            **os.environ,
            "PORTAL_ENV": "development",
            "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": database_url,
            "PORTAL_INSTANCE_PATH": str(workdir / "instance"),
            "PORTAL_BASE_URL": self.url,
            "PORTAL_DOCS_DIR": str(ROOT / "docs" / "_build" / "html"),
            "PORTAL_ADMIN_EMAIL": ADMIN_EMAIL,
            "PORTAL_ADMIN_PASSWORD": PASSWORD,
            "SESSION_COOKIE_SECURE": "false",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(self.smtp_port),
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
            "SLACK_API_URL": self.slack_url + "/api/",
            "SLACK_CHANNEL_INTERVAL_MS": "50",
            "GITHUB_URL": self.github_url,
            "GITHUB_API_URL": self.github_url,
            "GITHUB_TOKEN": "ghp-provisioning-token",
            "GITHUB_ORG": "dp0-community",
            "GITHUB_TEAM": "dp0-delegates",
            "LOGIN_RATE_LIMIT": "200 per minute",
            "WORKER_POLL_SECONDS": "0.2",
            "OUTBOX_BACKOFF_BASE_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        self.app: Flask | None = None
        self.smtp: Controller | None = None

    # -- starting and stopping ---------------------------------------------------------------
    def _flask(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"flask {' '.join(args)} failed:\n{done.stderr}"

    def _spawn(self, name: str, *args: str) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.log").open("wb")
        self.log_files.append(log)
        self.processes.append(
            subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        )

    @staticmethod
    def _wait_for(url: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - a local test server
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def start(self) -> None:
        self.smtp = Controller(self.mailbox, hostname="127.0.0.1", port=self.smtp_port)
        self.smtp.start()
        for name, url in (("slack", self.slack_url), ("github", self.github_url)):
            port = url.rsplit(":", 1)[1]
            self._spawn(name, sys.executable, "-m", f"tests.standins.{name}", "--port", port)
            self._wait_for(url + "/_standin/state")
        self._flask("db", "upgrade")
        # The newest programme is the one the home page's "Apply" leads to.
        self._flask("signup", "load-config", str(PROGRAMMES / "cohort.toml"))
        self._flask("signup", "load-config", str(PROGRAMMES / "first_come.toml"))
        self._flask("portal", "bootstrap")
        self._spawn(
            "gunicorn",
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--threads",
            "4",
            "--bind",
            f"127.0.0.1:{self.port}",
            "app:app",
        )
        self._spawn("worker", sys.executable, "-m", "flask", "--app", "app", "portal", "worker")
        self._wait_for(self.url + "/healthz")
        self.app = create_app(
            {
                "PORTAL_ENV": "development",
                "SECRET_KEY": SECRET_KEY,
                "SQLALCHEMY_DATABASE_URI": self.env_database_url(),
                "INSTANCE_PATH": str(self.workdir / "arrange-instance"),
                "PORTAL_BASE_URL": self.url,
                "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": self.smtp_port,
            }
        )

    def env_database_url(self) -> str:
        url = self.database_url
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self.log_files:
            log.close()
        if self.smtp is not None:
            self.smtp.stop()
        if self.app is not None:
            from portal.extensions import db

            with self.app.app_context():
                db.engine.dispose()

    # -- what the outside world saw --------------------------------------------------------
    def wait_for_mail(
        self, address: str, subject_part: str, *, count: int = 1, seconds: float = 30
    ) -> Any:
        """The newest message to `address` whose subject contains `subject_part`, once
        the worker has delivered `count` of them."""
        deadline = time.monotonic() + seconds
        while True:
            found = [m for m in self.mailbox.to(address) if subject_part in str(m["Subject"])]
            if len(found) >= count:
                return found[-1]
            if time.monotonic() > deadline:
                subjects = [str(m["Subject"]) for m in self.mailbox.to(address)]
                raise AssertionError(f"no mail {subject_part!r} to {address}; got {subjects}")
            time.sleep(0.2)

    def standin_state(self, name: str) -> dict[str, Any]:
        url = (self.slack_url if name == "slack" else self.github_url) + "/_standin/state"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local stand-in
            return dict(json.loads(response.read()))


def postgres_database(base_url: str) -> tuple[str, Any]:
    """A uniquely named database on the server TEST_DATABASE_URL points at, and its dropper."""
    url = make_url(base_url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"dp0_e2e_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    plain = url.set(drivername="postgresql", database=name)
    return plain.render_as_string(hide_password=False), drop
