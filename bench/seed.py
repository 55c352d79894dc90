"""Seeding a benchmark database fast: accounts and a help desk's worth of tickets written with
PostgreSQL's COPY (bulk inserts), shaped like a desk that has been running for a year."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from psycopg import Connection
from werkzeug.security import generate_password_hash

from bench.stack import PASSWORD

SUBJECTS = [
    "Butler cannot find the {c} collection",
    "TAP query on {t} times out",
    "Notebook kernel dies when plotting {t}",
    "Cannot log in to the Science Platform",
    "Password reset email never arrived",
    "Schema browser shows no columns for {t}",
    "Photometry of {t} looks wrong in patch {p}",
    "How do I cross-match {t} with truth?",
    "Image cutout service returns an error",
    "Question about the DP0.2 {t} table",
    "Timeout when downloading calexp images",
    "Portal shows the wrong account details",
]
TABLES = ["Object", "Source", "ForcedSource", "DiaObject", "CcdVisit", "TruthSummary"]
COLLECTIONS = ["2.2i/runs/DP0.2", "u/delegate/test", "refcats"]
SENTENCES = [
    "I followed the tutorial notebook step by step.",
    "The error appears after a few minutes of waiting.",
    "This worked last week with the same query.",
    "I attached the traceback from the notebook.",
    "Other delegates in my group see the same problem.",
    "The documentation does not say which limit applies.",
    "Restarting the server did not help.",
    "I am using the recommended image on the Notebook Aspect.",
]
REPLIES = [
    "Thanks for the report: could you try again with a smaller area?",
    "This is a known issue with the Butler registry; a fix is being deployed.",
    "Please run the query asynchronously; synchronous TAP queries stop after ten minutes.",
    "We reset your account; please sign in again and tell us if it works.",
]
CATEGORIES = [
    ("account_access", 2),
    ("portal", 1),
    ("notebook", 1),
    ("api_tap", 1),
    ("butler_images", 1),
    ("data_products", 1),
    ("documentation", 1),
    ("other", 1),
]
PRIORITIES = [("low", 15), ("normal", 60), ("high", 20), ("urgent", 5)]
OPEN_STATES = [("new", 30), ("open", 40), ("waiting_on_requester", 15), ("waiting_internal", 15)]
# Words staff search for; each matches a different share of the tickets.
SEARCH_WORDS = ["butler", "timeout", "password", "photometry", "cutout"]


@dataclass(frozen=True)
class People:
    delegates: list[tuple[int, str]]
    staff: list[tuple[int, str, int]]  # id, email, tier

    def staff_of_tier(self, tier: int) -> list[tuple[int, str, int]]:
        return [s for s in self.staff if s[2] == tier]


def seed_people(connection: Connection, delegates: int, staff: int) -> People:
    """Verified delegate and staff accounts (staff spread over the three tiers), all with the
    benchmark password."""
    password_hash = generate_password_hash(PASSWORD)
    now = datetime.now(UTC)
    rows = [
        (f"delegate{n}@example.org", f"Delegate {n}", "delegate", None) for n in range(delegates)
    ] + [(f"staff{n}@example.org", f"Staff {n}", "staff", 1 + n % 3) for n in range(staff)]
    with connection.cursor() as cursor:
        with cursor.copy(
            "COPY user_account (email, full_name, password_hash, role, support_tier,"
            " programme_staff, email_verified_at, active, auth_version, created_at) FROM STDIN"
        ) as copy:
            for email, name, role, tier in rows:
                copy.write_row((email, name, password_hash, role, tier, False, now, True, 1, now))
        cursor.execute(
            "SELECT id, email, role, support_tier FROM user_account"
            " WHERE email LIKE 'delegate%%' OR email LIKE 'staff%%' ORDER BY id"
        )
        found = cursor.fetchall()
    connection.commit()
    return People(
        delegates=[(i, e) for i, e, role, _ in found if role == "delegate"],
        staff=[(i, e, t) for i, e, role, t in found if role == "staff"],
    )


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _subject(rng: random.Random) -> str:
    return rng.choice(SUBJECTS).format(
        c=rng.choice(COLLECTIONS),
        t=rng.choice(TABLES),
        p=f"{rng.randint(0, 7)},{rng.randint(0, 7)}",
    )


def seed_tickets(
    connection: Connection, count: int, people: People, seed: int = 42
) -> dict[str, int]:
    """`count` tickets: most closed over the past year, about a third open with SLA clocks
    running, a few coming due now (for the SLA sweep); each with its history and a reply."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    staff_by_tier = {tier: [s[0] for s in people.staff if s[2] >= tier] for tier in (1, 2, 3)}
    overdue = max(1, count // 1000)
    warnable = max(1, count // 500)
    tickets = []
    for index in range(count):
        category, first_tier = rng.choice(CATEGORIES)
        priority = _pick(rng, PRIORITIES)
        is_open = rng.random() < 0.3
        if is_open:
            created = now - timedelta(hours=rng.uniform(0.5, 24 * 10))
            state = _pick(rng, OPEN_STATES)
            tier = min(3, first_tier + (rng.random() < 0.35) + (rng.random() < 0.15))
        else:
            created = now - timedelta(days=rng.uniform(10, 365))
            state = "closed" if rng.random() < 0.8 else "resolved"
            tier = first_tier
        assignee = rng.choice(staff_by_tier[tier]) if rng.random() < 0.55 else None
        answered = state != "new"
        first_response_due = next_due = update_due = resolution_due = None
        breached = paused = None
        if is_open and state != "waiting_on_requester":
            if index < overdue:
                next_due = now - timedelta(seconds=rng.uniform(1, 60))
            elif index < overdue + warnable:
                next_due = now + timedelta(minutes=rng.uniform(1, 25))
            else:
                next_due = now + timedelta(hours=rng.uniform(1, 24 * 5))
            if answered:
                update_due = next_due
            else:
                first_response_due = next_due
            resolution_due = next_due + timedelta(days=2)
            if tier == 3 and rng.random() < 0.1:
                breached = created + timedelta(hours=8)
        elif is_open:
            paused = now - timedelta(hours=rng.uniform(1, 48))
        resolved = created + timedelta(days=rng.uniform(0.1, 5)) if not is_open else None
        tickets.append(
            (
                _subject(rng),
                " ".join(rng.sample(SENTENCES, 3)),
                category,
                priority,
                state,
                tier,
                rng.choice(people.delegates)[0],
                assignee,
                created,
                resolved or now - timedelta(minutes=rng.uniform(1, 600)),
                created + timedelta(hours=1) if answered else None,
                tier if answered else None,
                resolved,
                resolved if state == "closed" else None,
                created,
                paused,
                json.dumps(["first_response"] if breached else []),
                first_response_due,
                update_due,
                resolution_due,
                next_due,
                breached,
                rng.choice(REPLIES) if answered else None,
            )
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE seed_ticket (subject text, description text, category text,"
            " priority text, state text, tier int, requester_id int,"
            " assignee_id int, created_at timestamptz, updated_at timestamptz,"
            " first_response_at timestamptz, first_response_tier int, resolved_at timestamptz,"
            " closed_at timestamptz, sla_started_at timestamptz, sla_paused_at timestamptz,"
            " sla_breached_targets json, first_response_due_at timestamptz,"
            " update_due_at timestamptz, resolution_due_at timestamptz, next_due_at timestamptz,"
            " breached_at timestamptz, reply text, n serial)"
        )
        columns = (
            "subject, description, category, priority, state, tier, requester_id,"
            " assignee_id, created_at, updated_at, first_response_at, first_response_tier,"
            " resolved_at, closed_at, sla_started_at, sla_paused_at, sla_breached_targets,"
            " first_response_due_at, update_due_at, resolution_due_at, next_due_at, breached_at"
        )
        with cursor.copy(f"COPY seed_ticket ({columns}, reply) FROM STDIN") as copy:
            for row in tickets:
                copy.write_row(row)
        # The staging row number is the ticket's id, so messages and history can refer to it.
        cursor.execute(
            f"INSERT INTO helpdesk_ticket (id, {columns}, sla_paused_minutes, search_vector)"  # noqa: S608 - fixed column names
            f" SELECT n, {columns}, 0,"
            " setweight(to_tsvector('english', subject), 'A')"
            " || setweight(to_tsvector('english', description), 'B')"
            " || setweight(to_tsvector('english', coalesce(reply, '')), 'C')"
            " FROM seed_ticket"
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('helpdesk_ticket', 'id'), max(id))"
            " FROM helpdesk_ticket"
        )
        cursor.execute(
            "INSERT INTO helpdesk_message (ticket_id, author_id, body, internal, from_staff, via,"
            " created_at) SELECT n, assignee_id, reply, false, true, 'web', first_response_at"
            " FROM seed_ticket WHERE reply IS NOT NULL ORDER BY n"
        )
        cursor.execute(
            "INSERT INTO helpdesk_event (ticket_id, actor_id, kind, data, via, public, created_at)"
            " SELECT n, requester_id, 'created',"
            " json_build_object('category', category, 'priority', priority, 'tier', tier),"
            " 'web', true, created_at FROM seed_ticket"
            " UNION ALL SELECT ticket_id, author_id, 'replied',"
            " json_build_object('message_id', id), 'web', true, created_at FROM helpdesk_message"
        )
        cursor.execute("DROP TABLE seed_ticket")
    connection.commit()
    with connection.cursor() as cursor:
        connection.autocommit = True
        cursor.execute("VACUUM ANALYZE")
        connection.autocommit = False
    return {"overdue": overdue, "warnable": warnable}
