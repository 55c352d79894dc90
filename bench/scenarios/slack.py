"""slack_outage: staff escalate tickets while Slack is down, then Slack comes back answering
some calls with 429 and Retry-After: 1. Every message the portal queued must arrive once, no
tier channel may get more than about one post a second, and the backlog must drain.

The escalations reach all three tier channels: tickets escalated from tier 1 and from tier 2
get a new living message in the tier-2 and tier-3 channels, and urgent tickets (announced in the
tier-1 channel when they were filed) get their tier-1 message edited and a thread reply there.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from sqlalchemy import create_engine, text

from bench.client import Person, Recorder, form_fields
from bench.scenarios.queue import libpq_url
from bench.seed import People, seed_people
from bench.sizes import Sizes
from bench.stack import ADMIN_EMAIL, PASSWORD, Portal, SlackProcess, database, running_portal
from bench.stack import slack_standin as start_slack_standin
from bench.stats import max_in_window, percentile, rounded

CHANNELS = {1: "C0TIER1", 2: "C0TIER2", 3: "C0TIER3"}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
RATE_LIMIT_EVERY = 10  # after the outage, every 10th chat call is answered 429
RATE_WINDOW_S = 5.0  # posts per channel are counted over sliding windows this long


@dataclass(frozen=True)
class Plan:
    """How many tickets of each kind: balanced so each channel gets about the same load."""

    urgent_tier1: int  # announced in tier 1 when filed, escalated to tier 2
    normal_tier1: int  # escalated to tier 2
    normal_tier2: int  # escalated to tier 3

    @classmethod
    def for_escalations(cls, escalations: int) -> Plan:
        urgent = escalations // 6
        normal_tier1 = escalations // 3
        return cls(urgent, normal_tier1, escalations - urgent - normal_tier1)


async def configure_tiers(portal: Portal, recorder: Recorder, connector: Any) -> None:
    """As the admin, in the tier settings pages: a Slack channel per tier, open round the clock
    (so nothing waits for business hours), no public holidays, breach warnings 10 minutes
    ahead."""
    admin = Person(portal.base_url, connector, recorder)
    try:
        await admin.sign_in(ADMIN_EMAIL, PASSWORD)
        for tier, channel in CHANNELS.items():
            path = f"/staff/tickets/tiers/{tier}"
            status, page, _ = await admin.request("tier-form", "GET", path)
            values = dict(form_fields(page, "slack_channel_id"))
            values.update(
                slack_channel_id=channel,
                holiday_country="",
                holiday_subdivision="",
                closed_dates="",
                # Not the default 30-60 minutes: urgent tickets would be warned about at once
                # (their first answer is due in 30), doubling the messages being measured.
                warning_minutes="10",
                **dict.fromkeys(WEEKDAYS, "00:00-24:00"),
            )
            status, body, _ = await admin.submit("tier-save", page, path, values)
            if status != 302:
                raise RuntimeError(f"saving tier {tier} settings answered {status}: {body[:500]}")
    finally:
        await admin.close()


async def file_tickets(portal: Portal, token: str, plan: Plan, requesters: list[str]) -> list[int]:
    """File the tickets through the JSON API, in the order of the plan's kinds."""
    kinds = (
        [("portal", "urgent")] * plan.urgent_tier1
        + [("portal", "normal")] * plan.normal_tier1
        + [("account_access", "normal")] * plan.normal_tier2
    )
    numbers: list[int] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for index, (category, priority) in enumerate(kinds):
            body = {
                "subject": f"Launch-day problem {index}",
                "description": "Cannot reach the Notebook Aspect since the announcement.",
                "category": category,
                "priority": priority,
                "requester_email": requesters[index % len(requesters)],
            }
            async with session.post(portal.base_url + "/api/v1/tickets", json=body) as response:
                data = await response.json()
                if response.status != 201:
                    raise RuntimeError(f"filing a ticket answered {response.status}: {data}")
                numbers.append(int(data["ticket"]["number"]))
    return numbers


async def escalate_all(
    portal: Portal, numbers: list[int], plan: Plan, staff: dict[int, list[str]], per_tier: int
) -> tuple[int, Recorder]:
    """Staff of each tier escalate their tier's tickets from the ticket page's escalate form,
    `per_tier` people of each tier at once."""
    recorder = Recorder()
    connector = aiohttp.TCPConnector(limit=2 * per_tier)
    first_tier2 = plan.urgent_tier1 + plan.normal_tier1
    queues: dict[int, asyncio.Queue[int]] = {1: asyncio.Queue(), 2: asyncio.Queue()}
    for index, number in enumerate(numbers):
        queues[2 if index >= first_tier2 else 1].put_nowait(number)
    done = 0

    async def work(email: str, tickets: asyncio.Queue[int]) -> None:
        nonlocal done
        person = Person(portal.base_url, connector, recorder)
        try:
            await person.sign_in(email, PASSWORD)
            while not tickets.empty():
                number = tickets.get_nowait()
                path = f"/staff/tickets/{number}"
                _, page, _ = await person.request("ticket", "GET", path)
                status, body, _ = await person.submit(
                    "escalate", page, path + "/escalate", {"reason": f"Launch day: #{number}"}
                )
                if status != 302:
                    raise RuntimeError(f"escalating #{number} answered {status}: {body[:300]}")
                done += 1
        finally:
            await person.close()

    try:
        await asyncio.gather(
            *(work(email, queues[tier]) for tier in (1, 2) for email in staff[tier][:per_tier])
        )
    finally:
        await connector.close()
    return done, recorder


def slack_messages(database_url: str) -> list[tuple[int, str, str, datetime | None]]:
    """Every Slack message the portal queued: id, action, state, when it was delivered."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return [
                (row[0], row[1], row[2], row[3])
                for row in connection.execute(
                    text(
                        "SELECT id, action, state, sent_at FROM outbox_message"
                        " WHERE channel = 'slack' ORDER BY id"
                    )
                )
            ]
    finally:
        engine.dispose()


def wait_for_slack(database_url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [state for _, _, state, _ in slack_messages(database_url)]
        if states and all(state in ("sent", "dead") for state in states):
            return
        time.sleep(1)


def posts_by_outbox_id(state: dict[str, Any]) -> dict[int, int]:
    """How many times each outbox message was posted (its id travels in the metadata)."""
    counts: dict[int, int] = {}
    for messages in state["channels"].values():
        for message in messages:
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if "outbox_id" in payload:
                key = int(payload["outbox_id"])
                counts[key] = counts.get(key, 0) + 1
    return counts


def max_rate(state: dict[str, Any]) -> tuple[float, float]:
    """The busiest channel's posts per second over a sliding window, and the smallest gap
    between two posts to one channel (ms)."""
    by_channel: dict[str, list[float]] = {}
    for moment, channel in state["post_times"]:
        by_channel.setdefault(channel, []).append(moment)
    rate = max(
        (max_in_window(times, RATE_WINDOW_S) / RATE_WINDOW_S for times in by_channel.values()),
        default=0.0,
    )
    gaps = [
        later - earlier
        for times in by_channel.values()
        for earlier, later in zip(sorted(times), sorted(times)[1:], strict=False)
    ]
    return rate, min(gaps, default=0.0) * 1000


def slack_outage(sizes: Sizes, workdir: Path) -> dict[str, Any]:
    plan = Plan.for_escalations(sizes.escalations)
    with database("slack_outage") as url, start_slack_standin(workdir) as slack:
        portal = Portal(
            workdir,
            url,
            {"SLACK_API_URL": slack.url + "/api/", "SLACK_BOT_TOKEN": slack.token},
        )
        portal.bootstrap()
        with psycopg.connect(libpq_url(url)) as connection:
            people = seed_people(connection, 50, 12)
        staff = {t: [e for _, e, tier in people.staff if tier == t] for t in (1, 2, 3)}
        token = portal.flask("portal", "create-token", staff[2][0]).strip().splitlines()[-1]
        with running_portal(portal):
            result = asyncio.run(_outage(portal, slack, plan, token, people, staff, sizes))
            wait_for_slack(url, 900)
            delivered_state = slack.state()
        messages = slack_messages(url)
    return _figures(result, messages, delivered_state)


@dataclass
class OutageRun:
    escalations: int
    outage_s: float
    recovered_at: float
    recorder: Recorder


async def _outage(
    portal: Portal,
    slack: SlackProcess,
    plan: Plan,
    token: str,
    people: People,
    staff: dict[int, list[str]],
    sizes: Sizes,
) -> OutageRun:
    connector = aiohttp.TCPConnector(limit=4)
    try:
        await configure_tiers(portal, Recorder(), connector)
    finally:
        await connector.close()
    slack.configure(down=True)
    down_at = time.monotonic()
    numbers = await file_tickets(portal, token, plan, [e for _, e in people.delegates])
    escalated, recorder = await escalate_all(portal, numbers, plan, staff, per_tier=4)
    await asyncio.sleep(max(0.0, sizes.outage_seconds - (time.monotonic() - down_at)))
    slack.configure(down=False, rate_limit_every=RATE_LIMIT_EVERY, retry_after=1)
    return OutageRun(escalated, time.monotonic() - down_at, time.time(), recorder)


def _figures(
    run: OutageRun, messages: list[tuple[int, str, str, datetime | None]], state: dict[str, Any]
) -> dict[str, Any]:
    posts = {m[0] for m in messages if m[1] == "chat.postMessage"}
    posted = posts_by_outbox_id(state)
    delivered = sum(1 for m in posts if posted.get(m, 0) > 0)
    duplicates = sum(count - 1 for m, count in posted.items() if count > 1)
    rate, min_gap_ms = max_rate(state)
    last = max((m[3].timestamp() for m in messages if m[3] is not None), default=run.recovered_at)
    return {
        "escalations": run.escalations,
        "delivered": delivered,
        "duplicates": duplicates,
        "lost": len(posts) - delivered,
        "max_per_channel_per_s": rounded(rate, 2),
        "drain_s": rounded(last - run.recovered_at),
        "posts_queued": len(posts),
        "edits_queued": sum(1 for m in messages if m[1] == "chat.update"),
        "edits_delivered": sum(1 for m in messages if m[1] == "chat.update" and m[2] == "sent"),
        "dead_messages": sum(1 for m in messages if m[2] == "dead"),
        "posts_per_channel": {
            channel: len(items) for channel, items in sorted(state["channels"].items())
        },
        "min_gap_ms": rounded(min_gap_ms),
        "outage_s": rounded(run.outage_s),
        "rate_limited_every": RATE_LIMIT_EVERY,
        "escalate_p95_ms": rounded(
            percentile([s.client_ms for s in run.recorder.of("escalate")], 0.95)
        ),
    }
