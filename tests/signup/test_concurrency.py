"""Seats are never over-given under real concurrency: many simultaneous requests, through the
HTTP stack, to several gunicorn worker processes (each with threads), on SQLite and on
PostgreSQL.

The test-only race window (SIGNUP_RACE_WINDOW_SECONDS) makes every seat transaction sleep
between counting the seats taken and writing the admission. Without a lock, every request that
counts during another's sleep sees the same free seat and takes it, so dozens of simultaneous
requests would admit far more people than there are seats; the last test shows exactly that on
PostgreSQL with the lock switched off. With the lock, the count and the write happen one
transaction at a time and the capacity holds exactly.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from portal.core.roles import Role
from portal.extensions import db
from portal.signup.models import Application
from portal.signup.seats import seats_held
from tests.conftest import PASSWORD, free_port
from tests.signup.conftest import verify_token

pytestmark = pytest.mark.slow  # a gunicorn per test, and requests that wait on purpose

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
REQUESTS = 40


@contextmanager
def served(app: Any, tmp_path: Path, **settings: str) -> Iterator[str]:
    """The portal under gunicorn (4 worker processes x 4 threads) on the test's database."""
    port = free_port()
    env = {
        **os.environ,
        "PORTAL_ENV": "testing",
        "SECRET_KEY": app.config["SECRET_KEY"],
        "DATABASE_URL": make_url(app.config["SQLALCHEMY_DATABASE_URI"]).render_as_string(
            hide_password=False
        ),
        "PORTAL_INSTANCE_PATH": str(tmp_path / "served"),
        "PORTAL_BASE_URL": f"http://127.0.0.1:{port}",
        "MAIL_SERVER": "",
        "GITHUB_TOKEN": "",
        "RATELIMIT_STORAGE_URI": "memory://",
        **settings,
    }
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                str(GUNICORN),
                "--workers=4",
                "--threads=4",
                "--worker-class=gthread",
                f"--bind=127.0.0.1:{port}",
                "--timeout=120",
                # Import the app once and fork the workers from it: a quicker start.
                "--preload",
                "app:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "gunicorn did not start: " + log_path.read_text()
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def all_at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in as many threads, released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _counts(app, programme_id: int, wave_id: int) -> tuple[int, int, dict[str, int]]:
    with app.app_context():
        by_state = dict(
            db.session.execute(
                select(Application.state, func.count())
                .where(Application.programme_id == programme_id)
                .group_by(Application.state)
            ).all()
        )
        return (
            seats_held(programme_id, wave_id=wave_id),
            seats_held(programme_id),
            by_state,
        )


def _confirm_all_at_once(app, tmp_path, programme, submit, **settings) -> dict[str, int]:
    tokens = [verify_token(app, submit(programme, n)) for n in range(REQUESTS)]
    with served(app, tmp_path, **settings) as url:
        responses = all_at_once(
            [
                lambda token=token: requests.get(
                    f"{url}/signup/verify/{token}", allow_redirects=False, timeout=120
                )
                for token in tokens
            ]
        )
    assert [r.status_code for r in responses] == [302] * REQUESTS
    return _counts(app, programme.id, programme.wave_id)[2]


def test_simultaneous_confirmations_never_overfill_a_wave(app, tmp_path, make_programme, submit):
    programme = make_programme(capacity=5, total=300, mode="fcfs")
    by_state = _confirm_all_at_once(
        app, tmp_path, programme, submit, SIGNUP_RACE_WINDOW_SECONDS="0.1"
    )
    assert by_state == {"admitted": 5, "waitlisted": REQUESTS - 5}


def test_simultaneous_confirmations_never_overfill_a_programme(
    app, tmp_path, make_programme, submit
):
    programme = make_programme(capacity=100, total=4, mode="fcfs")
    by_state = _confirm_all_at_once(
        app, tmp_path, programme, submit, SIGNUP_RACE_WINDOW_SECONDS="0.1"
    )
    assert by_state == {"admitted": 4, "waitlisted": REQUESTS - 4}


def _staff_session(url: str, email: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{url}/auth/login", timeout=30).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None
    signed_in = session.post(
        f"{url}/auth/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=30,
    )
    assert signed_in.status_code == 302, signed_in.text[:500]
    return session


def test_simultaneous_bulk_admissions_by_several_staff_never_overfill(
    app, tmp_path, make_programme, apply_confirmed, make_user
):
    programme = make_programme(capacity=6, mode="reviewed")
    ids = [apply_confirmed(programme, n) for n in range(30)]
    staff = [make_user(Role.STAFF, email=f"reviewer{n}@example.org") for n in range(6)]
    queue = f"/staff/signup/applications?programme={programme.id}"
    with served(app, tmp_path, SIGNUP_RACE_WINDOW_SECONDS="0.05") as url:
        sessions = [_staff_session(url, user.email) for user in staff]
        forms = []
        for n, session in enumerate(sessions):
            page = session.get(url + queue, timeout=30).text
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
            assert token is not None
            # Overlapping picks, each in its own order, as reviewers working side by side.
            picked = ids[n * 4 : n * 4 + 12]
            forms.append((session, token.group(1), picked))
        responses = all_at_once(
            [
                lambda session=session, token=token, picked=picked: session.post(
                    url + queue,
                    data={
                        "csrf_token": token,
                        "ids": [str(i) for i in picked],
                        "action": "admit",
                        "reason": "Round 1",
                    },
                    timeout=120,
                )
                for session, token, picked in forms
            ]
        )
    assert {r.status_code for r in responses} == {200}  # followed to the queue page
    reported = sum(
        int(m.group(1)) for r in responses if (m := re.search(r"Admitted: (\d+)\.", r.text))
    )
    assert reported == 6
    assert sum("Did not fit" in r.text for r in responses) >= len(staff) - 1
    wave_seats, programme_seats, by_state = _counts(app, programme.id, programme.wave_id)
    assert (wave_seats, programme_seats) == (6, 6)
    assert by_state == {"admitted": 6, "pending": 24}


def test_the_race_window_overfills_postgresql_without_the_seat_lock(
    app, tmp_path, make_programme, submit
):
    """The control: the same simultaneous confirmations with the seat lock left out. On
    PostgreSQL the wave overfills, which shows the window is real and the tests above would
    catch a missing lock. SQLite has no row locks: its write transactions start with BEGIN
    IMMEDIATE (the foundation's unit of work), which lets one writer in at a time, so there
    the capacity still holds."""
    programme = make_programme(capacity=5, total=300, mode="fcfs")
    by_state = _confirm_all_at_once(
        app,
        tmp_path,
        programme,
        submit,
        SIGNUP_RACE_WINDOW_SECONDS="0.3",
        SIGNUP_TEST_SKIP_SEAT_LOCK="1",
    )
    if make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "postgresql":
        assert by_state["admitted"] > 5
    else:
        assert by_state == {"admitted": 5, "waitlisted": REQUESTS - 5}
