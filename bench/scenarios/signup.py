"""signup_burst and crash_drill: applicants go through the real sign-up pages (the form, the
post with its CSRF token, the link from the confirmation email) against a first-come-first-served
wave, beside the stack's ceiling (a constant, one inserted row) under the same gunicorn."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import create_engine, text

from bench.baseline import BaselineRow
from bench.client import Person, Recorder
from bench.sizes import Sizes
from bench.stack import (
    MailSink,
    Portal,
    database,
    free_port,
    gunicorn_command,
    running_portal,
    start_service,
    wait_for_http,
)
from bench.stats import percentile, rounded

PROGRAMME = "launch-day"
APPLY_PATH = f"/signup/?programme={PROGRAMME}"
VERIFY_PART = "/signup/verify/"
MAIL_TIMEOUT = 120.0


def programme_file(workdir: Path, capacity: int) -> Path:
    """A programme whose one wave admits `capacity` people, first come, first served."""
    path = workdir / "launch-day.toml"
    path.write_text(
        f"""
[programme]
slug = "{PROGRAMME}"
name = "DP0 launch day"
total_capacity = {capacity * 3}
plus_one_capacity = 0
accepting_applications = true

[[waves]]
slug = "launch"
name = "Launch wave"
capacity = {capacity}
mode = "fcfs"
"""
    )
    return path


def prepare(portal: Portal, capacity: int) -> None:
    """Migrate, load the launch-day programme, create the admin: what an operator runs."""
    portal.flask("db", "upgrade")
    portal.flask("signup", "load-config", str(programme_file(portal.workdir, capacity)))
    portal.bootstrap()


def application(number: int) -> list[tuple[str, str]]:
    """What applicant `number` types into the form."""
    return [
        ("full_name", f"Applicant {number}"),
        ("email", f"applicant{number}@example.org"),
        ("institution", "University of Arizona"),
        ("institution_type", "research_university"),
        ("country", "US"),
        ("career_stage", ("graduate", "postdoc", "faculty")[number % 3]),
        ("data_rights", "yes"),
        ("data_rights_basis", "Employed at a US institution"),
        ("science_collaborations", ("desc", "galaxies", "tvs")[number % 3]),
        ("github_username", f"dp0-applicant-{number}"),
        ("experience_python", "intermediate"),
        ("experience_jupyter", "beginner"),
        ("experience_sql", "beginner"),
        ("contribution", "Tutorials on photometric redshifts for the community forum."),
        ("preferred_language", "en"),
        ("plus_one_sponsor", ""),
        ("accept_guidelines", "y"),
        ("accept_privacy", "y"),
    ]


@dataclass
class Applicant:
    number: int
    submitted: bool = False
    verified: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def email(self) -> str:
        return f"applicant{self.number}@example.org"


Call = Callable[[], Awaitable[tuple[int, str, dict[str, str]]]]


async def _attempt(
    applicant: Applicant, what: str, call: Call, accept: Callable[[int, str], bool], retries: int
) -> tuple[int, str] | None:
    """Make a request; a person whose page failed to load tries again `retries` times."""
    for attempt in range(retries + 1):
        try:
            status, body, _ = await call()
        except (aiohttp.ClientError, TimeoutError) as exc:
            applicant.errors.append(f"{what}: {type(exc).__name__}")
        else:
            if accept(status, body):
                return status, body
            applicant.errors.append(f"{what}: HTTP {status}")
        if attempt < retries:
            await asyncio.sleep(0.5)
    return None


async def apply(
    person: Person, sink: MailSink, applicant: Applicant, retries: int, submitted: list[int]
) -> None:
    """Load the form, send it, wait for the confirmation email, follow its link."""
    shown = await _attempt(
        applicant,
        "form",
        lambda: person.request("form", "GET", APPLY_PATH),
        lambda status, _: status == 200,
        retries,
    )
    if shown is None:
        return
    values = application(applicant.number)
    sent = await _attempt(
        applicant,
        "apply",
        lambda: person.submit("apply", shown[1], APPLY_PATH, values),
        # A repeated post whose first try got through answers the same (the form does not tell
        # who has applied), and the email it sends carries a confirmation link too.
        lambda status, _: status == 200,
        retries,
    )
    if sent is None:
        return
    applicant.submitted = True
    submitted.append(applicant.number)
    try:
        link = await sink.link_for(applicant.email, VERIFY_PART, MAIL_TIMEOUT)
    except TimeoutError:
        applicant.errors.append("no confirmation email")
        return
    confirmed = await _attempt(
        applicant,
        "verify",
        lambda: person.request("verify", "GET", link),
        lambda status, _: status == 302,
        retries,
    )
    applicant.verified = confirmed is not None


@dataclass
class Burst:
    applicants: list[Applicant]
    recorder: Recorder
    seconds: float


async def run_burst(
    base_url: str,
    sink: MailSink,
    count: int,
    concurrency: int,
    *,
    retries: int = 0,
    during: Callable[[list[int]], Awaitable[None]] | None = None,
) -> Burst:
    """`count` applicants, `concurrency` at a time; `during` runs beside them (the drill)."""
    recorder = Recorder()
    applicants = [Applicant(n) for n in range(1, count + 1)]
    submitted: list[int] = []
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)

    async def one(applicant: Applicant) -> None:
        async with gate:
            person = Person(base_url, connector, recorder)
            try:
                await apply(person, sink, applicant, retries, submitted)
            finally:
                await person.close()

    started = time.perf_counter()
    try:
        tasks: list[Awaitable[None]] = [one(a) for a in applicants]
        if during is not None:
            tasks.append(during(submitted))
        await asyncio.gather(*tasks)
    finally:
        await connector.close()
    return Burst(applicants, recorder, time.perf_counter() - started)


async def warm_up(base_url: str, requests: int) -> None:
    """Load the form a few times, so every gunicorn worker has connected and compiled."""
    async with aiohttp.ClientSession() as session:
        for _ in range(requests):
            async with session.get(base_url + APPLY_PATH) as response:
                await response.read()


# --- the stack's ceiling -----------------------------------------------------------------------


async def hammer(url: str, method: str, total: int, concurrency: int) -> float:
    """Requests per second for `total` requests, `concurrency` at a time (all must be 200)."""
    counter = itertools.count()
    failures = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal failures
            while next(counter) < total:
                async with session.request(method, url) as response:
                    await response.read()
                    failures += response.status != 200

        for _ in range(concurrency):  # warm-up: every worker connected and imported
            async with session.request(method, url) as response:
                await response.read()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{failures} baseline requests to {url} failed")
    return total / elapsed


def baselines(portal: Portal, sizes: Sizes) -> tuple[float, float]:
    """Requests per second of the bare stack: a constant, and one row inserted."""
    engine = create_engine(portal.database_url)
    BaselineRow.__table__.create(engine, checkfirst=True)
    engine.dispose()
    port = free_port()
    env = {**portal.env, "DATABASE_URL": portal.database_url}
    service = start_service(
        "baseline", gunicorn_command("bench.baseline:create_app()", port), env, portal.workdir
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base + "/healthz", service)
        hello = asyncio.run(
            hammer(base + "/hello", "GET", sizes.baseline_requests, sizes.concurrency)
        )
        insert = asyncio.run(
            hammer(base + "/insert", "POST", sizes.baseline_requests, sizes.concurrency)
        )
    finally:
        service.stop()
    return hello, insert


# --- what the database says --------------------------------------------------------------------


def wait_for_outbox(database_url: str, timeout: float) -> int:
    """Wait until the worker has nothing left to send; returns what is still waiting."""
    engine = create_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as connection:
                waiting = connection.scalar(
                    text(
                        "SELECT count(*) FROM outbox_message WHERE state IN ('pending', 'sending')"
                    )
                )
            if not waiting or time.monotonic() > deadline:
                return int(waiting or 0)
            time.sleep(0.5)
    finally:
        engine.dispose()


@dataclass
class Outcome:
    """What the database holds after a burst."""

    applications: int
    verified: int
    admitted: int
    waitlisted: int
    duplicated: int  # applications beyond the first from one email address
    verified_emails: set[str]
    message_ids: list[str]  # the Message-ID of every email the portal queued


def outcome(database_url: str) -> Outcome:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            applications, verified, admitted, waitlisted = connection.execute(
                text(
                    "SELECT count(*), count(verified_at),"
                    " count(*) FILTER (WHERE state = 'admitted'),"
                    " count(*) FILTER (WHERE state = 'waitlisted')"
                    " FROM signup_application"
                )
            ).one()
            duplicated = connection.scalar(
                text(
                    "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n"
                    " FROM signup_application GROUP BY email HAVING count(*) > 1) AS d"
                )
            )
            verified_emails = set(
                connection.scalars(
                    text("SELECT email FROM signup_application WHERE verified_at IS NOT NULL")
                )
            )
            message_ids = [
                payload["message_id"]
                for payload in connection.scalars(
                    text("SELECT payload FROM outbox_message WHERE channel = 'email'")
                )
            ]
    finally:
        engine.dispose()
    return Outcome(
        applications,
        verified,
        admitted,
        waitlisted,
        int(duplicated or 0),
        verified_emails,
        message_ids,
    )


def _lost(applicants: list[Applicant], verified_emails: set[str]) -> int:
    """Applicants the portal took (the form said so) whose application never counted."""
    return sum(a.submitted and a.email not in verified_emails for a in applicants)


def _latencies(burst: Burst) -> dict[str, float]:
    samples = burst.recorder.of("form", "apply", "verify")
    times = [s.client_ms for s in samples]
    return {
        "requests": len(samples),
        "rps": rounded(len(samples) / burst.seconds),
        "applicants_per_s": rounded(len(burst.applicants) / burst.seconds, 2),
        "p50_ms": rounded(percentile(times, 0.5)),
        "p99_ms": rounded(percentile(times, 0.99)),
        "server_p99_ms": rounded(
            percentile([s.server_ms for s in samples if s.server_ms is not None], 0.99)
        ),
    }


def mail_settings(sink: MailSink) -> dict[str, str]:
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(sink.port)}


# --- the scenarios -----------------------------------------------------------------------------


def signup_burst(sizes: Sizes, workdir: Path) -> dict[str, Any]:
    with database("signup_burst") as url, MailSink() as sink:
        portal = Portal(workdir, url, mail_settings(sink))
        prepare(portal, sizes.capacity)
        hello_rps, insert_rps = baselines(portal, sizes)
        with running_portal(portal):
            asyncio.run(warm_up(portal.base_url, 20))
            burst = asyncio.run(
                run_burst(portal.base_url, sink, sizes.applicants, sizes.concurrency)
            )
            wait_for_outbox(url, 60)
        found = outcome(url)
    latencies = _latencies(burst)
    return {
        "applications": found.applications,
        "verified": found.verified,
        "capacity": sizes.capacity,
        "admitted": found.admitted,
        "waitlisted": found.waitlisted,
        "over_admitted": max(0, found.admitted - sizes.capacity),
        "errors": sum(len(a.errors) for a in burst.applicants),
        "lost": _lost(burst.applicants, found.verified_emails),
        **latencies,
        "hello_rps": rounded(hello_rps),
        "insert_rps": rounded(insert_rps),
        "ratio_to_insert": rounded(latencies["rps"] / insert_rps, 3),
        "applicants": sizes.applicants,
        "concurrency": sizes.concurrency,
        "seconds": rounded(burst.seconds, 2),
    }


def crash_drill(sizes: Sizes, workdir: Path) -> dict[str, Any]:
    """The burst again; a third of the way in, kill -9 one gunicorn worker and the delivery
    worker, then start the delivery worker again (gunicorn replaces its own worker)."""
    killed: list[str] = []
    with database("crash_drill") as url, MailSink() as sink:
        portal = Portal(workdir, url, mail_settings(sink))
        prepare(portal, sizes.capacity)
        with running_portal(portal):
            asyncio.run(warm_up(portal.base_url, 20))

            async def drill(submitted: list[int]) -> None:
                # Bounded: a burst whose applications all fail must end the drill, not hang it.
                deadline = time.monotonic() + 300
                while len(submitted) < sizes.applicants // 3:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"only {len(submitted)} applications went through")
                    await asyncio.sleep(0.05)
                assert portal.web is not None
                assert portal.worker is not None
                victim = portal.web.children()[0]
                os.kill(victim, signal.SIGKILL)
                killed.append(f"gunicorn worker {victim}")
                portal.worker.kill()
                killed.append(f"delivery worker {portal.worker.process.pid}")
                await asyncio.sleep(1)
                portal.start_worker()

            burst = asyncio.run(
                run_burst(
                    portal.base_url,
                    sink,
                    sizes.applicants,
                    sizes.concurrency,
                    retries=3,
                    during=drill,
                )
            )
            waiting = wait_for_outbox(url, 90)
        found = outcome(url)
        arrivals = sink.counts()
    return {
        "killed": len(killed),
        "applications_lost": _lost(burst.applicants, found.verified_emails),
        "applications_duplicated": found.duplicated,
        "messages_lost": sum(arrivals[m] == 0 for m in found.message_ids),
        "messages_duplicated": sum(max(0, arrivals[m] - 1) for m in found.message_ids),
        "over_admitted": max(0, found.admitted - sizes.capacity),
        "applications": found.applications,
        "admitted": found.admitted,
        "messages": len(found.message_ids),
        "messages_unsent": waiting,
        "failed_requests": sum(len(a.errors) for a in burst.applicants),
        "killed_processes": killed,
        "seconds": rounded(burst.seconds, 2),
    }
