"""Demo help-desk data for `portal seed-demo`: live tickets in every state across the tiers
for the demo accounts, with conversations, notes, history and ratings, and eight weeks of
finished tickets for the numbers page. The same every time; a second run adds nothing."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from portal.auth.models import User
from portal.auth.services import find_user_by_email
from portal.core.db import transaction, utcnow
from portal.extensions import db
from portal.helpdesk import search, sla
from portal.helpdesk.models import (
    CannedReply,
    EventKind,
    SlaOutcome,
    SlaTarget,
    Ticket,
    TicketEvent,
    TicketMessage,
    TicketState,
    Via,
)

DELEGATES = ("delegate@example.org", "delegate2@example.org")
STAFF = {1: "tier1@example.org", 2: "tier2@example.org", 3: "tier3@example.org"}


@dataclass
class Step:
    """Something that happened `hours` after the ticket was filed."""

    hours: float
    actor: str  # "requester", "system" or a staff email
    kind: EventKind
    body: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Story:
    subject: str
    requester: str
    category: str
    priority: str
    age_hours: float
    description: str
    state: TicketState
    tier: int
    assignee: str | None = None
    steps: list[Step] = field(default_factory=list)
    rating: tuple[int, str] | None = None


def _state(to: TicketState, hours: float, actor: str, **data: Any) -> Step:
    return Step(hours, actor, EventKind.STATE_CHANGED, data={"to": to.value, **data})


STORIES = [
    Story(
        "Cannot sign in with GitHub after renaming my account",
        DELEGATES[0],
        "account_access",
        "normal",
        1.0,
        "I renamed my GitHub account from `lortega` to `luis-ortega` yesterday. Since then "
        "the Science Platform says my account is not authorised.",
        TicketState.NEW,
        2,
    ),
    Story(
        "Typo in the forced_photometry table page",
        DELEGATES[1],
        "documentation",
        "low",
        0.5,
        "The description of `psFluxErr_r` says *nmgy* twice in a row.",
        TicketState.NEW,
        1,
    ),
    Story(
        "TAP query on the object table times out after 60 s",
        DELEGATES[0],
        "api_tap",
        "high",
        5.0,
        "This ADQL query times out every time:\n\n```sql\nSELECT objectId, ra, dec, mag_r "
        "FROM dp01_dc2_catalogs.object WHERE mag_r < 24\n```\n\nWhat am I doing wrong?",
        TicketState.OPEN,
        1,
        assignee=STAFF[1],
        steps=[
            Step(0.4, STAFF[1], EventKind.CLAIMED),
            Step(
                0.5,
                STAFF[1],
                EventKind.REPLIED,
                "The query asks for every object brighter than 24th magnitude: tens of millions "
                "of rows. Add a spatial constraint, or `SELECT COUNT(*)` first. Does a cone "
                "search of 0.1 degrees finish?",
            ),
            _state(TicketState.WAITING_ON_REQUESTER, 0.5, STAFF[1]),
            Step(
                4.5,
                "requester",
                EventKind.REQUESTER_REPLIED,
                "A 0.1 degree cone search works. A 2 degree one still times out.",
            ),
            _state(TicketState.OPEN, 4.5, "requester"),
        ],
    ),
    Story(
        "Notebook server will not start: spawn failed",
        DELEGATES[1],
        "notebook",
        "urgent",
        7.0,
        "Since this morning the Notebook aspect shows *Spawn failed: timeout* for the medium "
        "image. I have a tutorial session with students in two hours.",
        TicketState.WAITING_INTERNAL,
        2,
        assignee=STAFF[2],
        steps=[
            Step(0.2, STAFF[1], EventKind.PRIORITY_CHANGED, data={"from": "high", "to": "urgent"}),
            Step(
                0.3,
                STAFF[1],
                EventKind.ESCALATED,
                data={
                    "from": 1,
                    "to": 2,
                    "reason": "Platform problem, not a usage question.",
                    "auto": False,
                },
            ),
            Step(0.5, STAFF[2], EventKind.CLAIMED),
            Step(
                0.6,
                STAFF[2],
                EventKind.REPLIED,
                "We can reproduce this and are working on it. We will update you within the hour.",
            ),
            Step(
                1.0,
                STAFF[2],
                EventKind.NOTE_ADDED,
                "Node pool for medium images is at capacity; asked IDF operations to add nodes.",
            ),
            _state(TicketState.WAITING_INTERNAL, 1.0, STAFF[2]),
        ],
    ),
    Story(
        "Which truth_match columns tell me a match is good?",
        DELEGATES[1],
        "data_products",
        "low",
        30.0,
        "I am comparing measured magnitudes with the truth table. Which columns should I use "
        "to keep only reliable matches?",
        TicketState.WAITING_ON_REQUESTER,
        1,
        assignee=STAFF[1],
        steps=[
            Step(2.0, STAFF[1], EventKind.CLAIMED),
            Step(
                2.2,
                STAFF[1],
                EventKind.REPLIED,
                "Use `is_good_match` and `is_nearest_neighbor`; tutorial 04 shows both. Could you "
                "share the query you are running, so we can check the join?",
            ),
            _state(TicketState.WAITING_ON_REQUESTER, 2.2, STAFF[1]),
        ],
    ),
    Story(
        "Butler cannot find calexp for visit 159494",
        DELEGATES[0],
        "butler_images",
        "normal",
        40.0,
        "`butler.get('calexp', visit=159494, detector=10)` raises *DatasetNotFoundError* in "
        "collection `2.2i/runs/DP0.1`.",
        TicketState.OPEN,
        3,
        assignee=STAFF[3],
        steps=[
            Step(
                9.5,
                "system",
                EventKind.SLA_BREACHED,
                data={"tier": 1, "targets": ["first_response"]},
            ),
            Step(
                9.5,
                "system",
                EventKind.ESCALATED,
                data={"from": 1, "to": 2, "reason": "SLA breached: first response", "auto": True},
            ),
            Step(10.0, STAFF[2], EventKind.CLAIMED),
            Step(
                10.2,
                STAFF[2],
                EventKind.REPLIED,
                "Thank you: that dataset should exist. We are asking the Butler experts.",
            ),
            Step(
                10.3,
                STAFF[2],
                EventKind.ESCALATED,
                data={
                    "from": 2,
                    "to": 3,
                    "reason": "Registry looks inconsistent for this visit.",
                    "auto": False,
                },
            ),
            Step(12.0, STAFF[3], EventKind.CLAIMED),
            Step(
                12.5,
                STAFF[3],
                EventKind.NOTE_ADDED,
                "Visit 159494 was dropped by the rerun; the registry still lists its raw. "
                "Checking whether other visits are affected.",
            ),
        ],
    ),
    Story(
        "Portal cone search near the south pole returns nothing",
        DELEGATES[0],
        "portal",
        "normal",
        30.0,
        "A cone search at RA 55, Dec -89.9 returns no rows in the Portal, but TAP finds objects.",
        TicketState.OPEN,
        1,
    ),
    Story(
        "How do I acknowledge DP0 data in a paper?",
        DELEGATES[1],
        "other",
        "normal",
        60.0,
        "Is there a standard acknowledgement text for work that uses DP0?",
        TicketState.RESOLVED,
        1,
        assignee=STAFF[1],
        steps=[
            Step(1.0, STAFF[1], EventKind.CLAIMED),
            Step(
                1.2,
                STAFF[1],
                EventKind.REPLIED,
                "Yes: the delegate guidelines page has the acknowledgement text and the data "
                "rights statement. Do say if anything there is unclear.",
            ),
            _state(TicketState.RESOLVED, 1.2, STAFF[1]),
        ],
    ),
    Story(
        "Password reset email never arrived",
        DELEGATES[0],
        "account_access",
        "high",
        80.0,
        "I asked for a password reset twice; no email came (spam folder checked).",
        TicketState.RESOLVED,
        2,
        assignee=STAFF[2],
        steps=[
            Step(0.5, STAFF[2], EventKind.CLAIMED),
            Step(
                0.6,
                STAFF[2],
                EventKind.REPLIED,
                "Your institution's mail server rejected our messages; we have asked them to "
                "allow our sender. Please try again now.",
            ),
            _state(TicketState.WAITING_ON_REQUESTER, 0.6, STAFF[2]),
            Step(3.0, "requester", EventKind.REQUESTER_REPLIED, "It worked, thank you!"),
            _state(TicketState.OPEN, 3.0, "requester"),
            _state(TicketState.RESOLVED, 3.2, STAFF[2]),
            Step(5.0, "requester", EventKind.RATED, data={"rating": 5}),
        ],
        rating=(5, "Quick and clear."),
    ),
    Story(
        "Adding a student as a Plus One delegate",
        DELEGATES[1],
        "account_access",
        "normal",
        24 * 20.0,
        "My PhD student would like to join as my Plus One. How do we apply?",
        TicketState.CLOSED,
        2,
        assignee=STAFF[2],
        steps=[
            Step(3.0, STAFF[2], EventKind.CLAIMED),
            Step(
                3.5,
                STAFF[2],
                EventKind.REPLIED,
                "Your student applies through the portal and names you as advisor; we link "
                "the two applications.",
            ),
            _state(TicketState.RESOLVED, 3.5, STAFF[2]),
            Step(20.0, "requester", EventKind.RATED, data={"rating": 4}),
            _state(TicketState.CLOSED, 24 * 14 + 3.5, "system", auto=True),
        ],
        rating=(4, "Helpful; the form could say this itself."),
    ),
]

CANNED = [
    (
        None,
        "Thanks, we are on it",
        "Thank you for the report. We are looking into it and will update you here.",
    ),
    (
        1,
        "Point to the getting-started checklist",
        "The getting-started checklist in the "
        "documentation walks through this step by step. Does it answer your question?",
    ),
    (
        1,
        "Ask for the query",
        "Could you paste the exact query (or notebook cell) and the time you "
        "ran it? That lets us reproduce the problem.",
    ),
    (
        2,
        "Known platform incident",
        "This is a known platform incident; the service desk is "
        "working on it. We will update this ticket when it is fixed.",
    ),
    (
        3,
        "Passed to the experts",
        "A specialist is looking at this; data questions can take a "
        "little longer. We will come back to you.",
    ),
]

HISTORY_SUBJECTS = [
    ("api_tap", "ADQL JOIN between object and truth_match is slow"),
    ("notebook", "Kernel dies when plotting a large catalog"),
    ("portal", "Portal table view cuts columns off"),
    ("data_products", "Extendedness flag for bright stars"),
    ("butler_images", "Which collection holds the coadds?"),
    ("documentation", "Broken link on the data access page"),
    ("account_access", "Access to the GitHub team not granted yet"),
    ("other", "Office hours schedule"),
]


def seed_demo_tickets() -> list[str]:
    """Create the demo tickets and canned replies, unless they already exist."""
    users = {email: find_user_by_email(email) for email in (*DELEGATES, *STAFF.values())}
    if any(user is None for user in users.values()):
        return ["help desk: demo accounts are missing; skipped"]
    with transaction() as session:
        requester_ids = [u.id for e, u in users.items() if e in DELEGATES and u is not None]
        existing = session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.requester_id.in_(requester_ids))
        )
        if existing:
            return []
        now = utcnow()
        admin_ish = users[STAFF[3]]
        for tier, title, body in CANNED:
            session.add(
                CannedReply(
                    tier=tier,
                    title=title,
                    body=body,
                    created_by_id=admin_ish.id if admin_ish else None,
                )
            )
        for story in STORIES:
            _build(story, users, now)
        finished = _build_history(users, now)
    return [
        f"help desk: {len(STORIES)} live tickets in every state, {finished} finished tickets "
        f"over eight weeks, {len(CANNED)} canned replies"
    ]


def _user(users: dict[str, User | None], email: str) -> User:
    user = users[email]
    assert user is not None
    return user


def _build(story: Story, users: dict[str, User | None], now: datetime) -> Ticket:
    requester = _user(users, story.requester)
    created = now - timedelta(hours=story.age_hours)
    first_tier = next(
        (s.data["from"] for s in story.steps if s.kind == EventKind.ESCALATED), story.tier
    )
    ticket = Ticket(
        subject=story.subject,
        description=story.description,
        category=story.category,
        priority=story.priority,
        state=TicketState.NEW.value,
        is_open=True,
        tier=first_tier,
        requester_id=requester.id,
        created_at=created,
        updated_at=created,
        sla_started_at=created,
        sla_breached_targets=[],
    )
    search.index_new_ticket(ticket)
    db.session.add(ticket)
    db.session.flush()
    _event(
        ticket,
        requester,
        EventKind.CREATED,
        created,
        public=True,
        category=story.category,
        priority=story.priority,
        tier=first_tier,
    )
    state = TicketState.NEW
    for step in story.steps:
        at = created + timedelta(hours=step.hours)
        actor = (
            None
            if step.actor == "system"
            else requester
            if step.actor == "requester"
            else _user(users, step.actor)
        )
        if step.kind in (EventKind.REPLIED, EventKind.NOTE_ADDED, EventKind.REQUESTER_REPLIED):
            internal = step.kind == EventKind.NOTE_ADDED
            message = TicketMessage(
                ticket_id=ticket.id,
                author_id=actor.id if actor else None,
                body=step.body,
                internal=internal,
                from_staff=step.kind != EventKind.REQUESTER_REPLIED,
                via=Via.WEB.value,
                created_at=at,
            )
            db.session.add(message)
            db.session.flush()
            search.index_message(ticket, step.body, internal=internal)
            _event(ticket, actor, step.kind, at, public=not internal, message_id=message.id)
            if step.kind == EventKind.REPLIED and ticket.first_response_at is None:
                ticket.first_response_at, ticket.first_response_tier = at, ticket.tier
            continue
        data = dict(step.data)
        if step.kind == EventKind.STATE_CHANGED:
            data["from"] = state.value
            state = TicketState(data["to"])
        if step.kind == EventKind.CLAIMED and actor is not None:
            data.update(assignee=actor.full_name, assignee_id=actor.id)
            if state == TicketState.NEW:  # as the services do: claiming opens a new ticket
                opened: dict[str, Any] = {"from": state.value, "to": TicketState.OPEN.value}
                _event(ticket, actor, EventKind.STATE_CHANGED, at, public=True, **opened)
                state = TicketState.OPEN
        if step.kind == EventKind.ESCALATED:
            ticket.tier = data["to"]
            ticket.sla_started_at = at
        if step.kind == EventKind.SLA_BREACHED:
            ticket.breached_at = ticket.breached_at or at
        public = step.kind in (EventKind.STATE_CHANGED, EventKind.ESCALATED, EventKind.RATED)
        _event(
            ticket,
            actor,
            step.kind,
            at,
            public=public,
            via=Via.SYSTEM if actor is None else Via.WEB,
            **data,
        )
        ticket.updated_at = at
    ticket.state = story.state.value
    ticket.is_open = story.state.is_open
    ticket.tier = story.tier
    ticket.assignee_id = _user(users, story.assignee).id if story.assignee else None
    last = ticket.updated_at
    if story.state in (TicketState.RESOLVED, TicketState.CLOSED):
        resolved = max(
            created + timedelta(hours=s.hours)
            for s in story.steps
            if s.data.get("to") == "resolved"
        )
        ticket.resolved_at, ticket.resolution_tier = resolved, story.tier
        if story.state == TicketState.CLOSED:
            ticket.closed_at = last
    if story.rating:
        ticket.rating, ticket.rating_comment = story.rating
        ticket.rated_at = created + timedelta(
            hours=next(s.hours for s in story.steps if s.kind == EventKind.RATED)
        )
    settings = sla.tier_settings(ticket.tier)
    if story.state.stops_clock:
        ticket.sla_paused_at = last
        sla.recompute_due_times(ticket, None)
    else:
        requester_waiting = story.steps and story.steps[-1].actor == "requester"
        if requester_waiting and ticket.first_response_at is not None:
            ticket.update_started_at = last
        sla.recompute_due_times(ticket, settings)
    return ticket


def _event(
    ticket: Ticket,
    actor: User | None,
    kind: EventKind,
    at: datetime,
    *,
    public: bool = False,
    via: Via = Via.WEB,
    **data: Any,
) -> None:
    db.session.add(
        TicketEvent(
            ticket_id=ticket.id,
            actor_id=actor.id if actor else None,
            kind=kind.value,
            data=data,
            via=via.value,
            public=public,
            created_at=at,
        )
    )


def _build_history(users: dict[str, User | None], now: datetime) -> int:
    """Finished tickets over the last eight weeks, with SLA outcomes, escalations and
    ratings, from a fixed random seed."""
    rng = random.Random(20261123)  # noqa: S311 - demo data, not a secret
    count = 0
    for day in range(56, 0, -1):
        for _ in range(rng.choice((0, 1, 1, 2))):
            category, subject = rng.choice(HISTORY_SUBJECTS)
            tier = 2 if category == "account_access" else 1
            created = now - timedelta(days=day, hours=rng.uniform(0, 8))
            requester = _user(users, rng.choice(DELEGATES))
            staff = _user(users, STAFF[tier])
            escalated = rng.random() < 0.2 and tier < 3
            # Everything finished at least an hour ago.
            available = (now - created).total_seconds() / 3600 - 1
            response_hours = min(rng.uniform(0.2, 5.0), available / 2)
            resolution_hours = min(response_hours + rng.uniform(1, 60), available)
            resolved = created + timedelta(hours=resolution_hours)
            final_tier = tier + 1 if escalated else tier
            ticket = Ticket(
                subject=subject,
                description="(demo history)",
                category=category,
                priority=rng.choice(("low", "normal", "normal", "high")),
                state=TicketState.CLOSED.value
                if resolved < now - timedelta(days=14)
                else TicketState.RESOLVED.value,
                is_open=False,
                tier=final_tier,
                requester_id=requester.id,
                assignee_id=staff.id,
                created_at=created,
                updated_at=resolved,
                sla_started_at=created,
                sla_breached_targets=[],
                first_response_at=created + timedelta(hours=response_hours),
                first_response_tier=tier,
                resolved_at=resolved,
                resolution_tier=final_tier,
            )
            if ticket.state == TicketState.CLOSED.value:
                ticket.closed_at = resolved + timedelta(days=14)
            search.index_new_ticket(ticket)
            db.session.add(ticket)
            db.session.flush()
            _event(
                ticket,
                requester,
                EventKind.CREATED,
                created,
                public=True,
                category=category,
                tier=tier,
            )
            for target, hours, limit in (
                (SlaTarget.FIRST_RESPONSE, response_hours, 4.0),
                (SlaTarget.RESOLUTION, resolution_hours, 40.0),
            ):
                db.session.add(
                    SlaOutcome(
                        ticket_id=ticket.id,
                        tier=final_tier if target == SlaTarget.RESOLUTION else tier,
                        priority=ticket.priority,
                        target=target.value,
                        due_at=created + timedelta(hours=limit),
                        completed_at=created + timedelta(hours=hours),
                        met=hours <= limit,
                    )
                )
            if escalated:
                at = created + timedelta(hours=response_hours + 0.5)
                auto = rng.random() < 0.5
                _event(
                    ticket,
                    None if auto else staff,
                    EventKind.ESCALATED,
                    at,
                    public=True,
                    via=Via.SYSTEM if auto else Via.WEB,
                    auto=auto,
                    reason="demo",
                    **{"from": tier, "to": tier + 1},
                )
            if rng.random() < 0.6:
                ticket.rating = rng.choice((3, 4, 4, 5, 5, 5, 2))
                ticket.rated_at = resolved + timedelta(hours=2)
            count += 1
    return count
