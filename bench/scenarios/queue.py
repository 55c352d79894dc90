"""queue_at_scale: a help desk with a year of tickets; staff read their tier's unassigned queue
(due soonest first), search the tickets for a word and open tickets, and the worker sweeps the
SLA clocks once. Latencies are the server's own (its Server-Timing header)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from sqlalchemy.engine import make_url

from bench.client import Person, Recorder
from bench.seed import SEARCH_WORDS, People, seed_people, seed_tickets
from bench.sizes import Sizes
from bench.stack import PASSWORD, Portal, database, running_portal
from bench.stats import percentile, rounded


def libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def measure(
    portal: Portal, people: People, tickets: tuple[int, int], requests: int
) -> Recorder:
    """Each page `requests` times, one request at a time (so the server's time is not a
    queue's), as staff of every tier."""
    recorder = Recorder()
    rng = random.Random(7)
    connector = aiohttp.TCPConnector(limit=4)
    staff = [people.staff_of_tier(tier)[0] for tier in (1, 2, 3)]
    persons = [Person(portal.base_url, connector, recorder) for _ in staff]
    try:
        for person, (_, email, _) in zip(persons, staff, strict=True):
            await person.sign_in(email, PASSWORD)
        for index in range(requests):
            person = persons[index % len(persons)]
            await _expect(person, "queue", "/staff/tickets/?view=tier&sort=due")
            word = SEARCH_WORDS[index % len(SEARCH_WORDS)]
            await _expect(person, "search", f"/staff/tickets/?view=all&q={word}")
            number = rng.randint(*tickets)
            await _expect(person, "detail", f"/staff/tickets/{number}")
    finally:
        for person in persons:
            await person.close()
        await connector.close()
    return recorder


async def _expect(person: Person, kind: str, path: str) -> None:
    status, body, _ = await person.request(kind, "GET", path)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}: {body[:300]}")


def job_ms(log: Path, job: str, timeout: float) -> float:
    """How long the worker's first run of a periodic job took (from its log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            if entry.get("job") == job and entry.get("message") == "periodic job finished":
                return float(entry["ms"])
            if entry.get("job") == job and entry.get("level") == "error":
                raise RuntimeError(f"{job} failed: {entry.get('exception')}")
        time.sleep(0.2)
    raise RuntimeError(f"the worker did not run {job} within {timeout} s")


def queue_at_scale(sizes: Sizes, workdir: Path) -> dict[str, Any]:
    with database("queue_at_scale") as url:
        portal = Portal(workdir, url)
        portal.bootstrap()
        started = time.perf_counter()
        with psycopg.connect(libpq_url(url)) as connection:
            people = seed_people(connection, sizes.delegates, sizes.staff)
            due = seed_tickets(connection, sizes.tickets, people)
            span = connection.execute("SELECT min(id), max(id) FROM helpdesk_ticket").fetchone()
        seed_s = time.perf_counter() - started
        assert span is not None
        with running_portal(portal, worker=False):
            recorder = asyncio.run(measure(portal, people, span, sizes.latency_requests))
            portal.start_worker()
            assert portal.worker is not None
            sweep_ms = job_ms(portal.worker.log, "helpdesk.sla_sweep", 120)

    def server(kind: str, fraction: float) -> float:
        values = [s.server_ms for s in recorder.of(kind) if s.server_ms is not None]
        return rounded(percentile(values, fraction))

    def client(kind: str, fraction: float) -> float:
        return rounded(percentile([s.client_ms for s in recorder.of(kind)], fraction))

    return {
        "tickets": sizes.tickets,
        "queue_p50_ms": server("queue", 0.5),
        "queue_p95_ms": server("queue", 0.95),
        "search_p95_ms": server("search", 0.95),
        "detail_p95_ms": server("detail", 0.95),
        "sla_sweep_ms": sweep_ms,
        "search_p50_ms": server("search", 0.5),
        "detail_p50_ms": server("detail", 0.5),
        "client_queue_p95_ms": client("queue", 0.95),
        "client_search_p95_ms": client("search", 0.95),
        "requests_each": sizes.latency_requests,
        "tickets_due_for_sweep": due["overdue"] + due["warnable"],
        "delegates": sizes.delegates,
        "staff": sizes.staff,
        "seed_s": rounded(seed_s),
    }
