"""Demo help-desk data for `portal seed-demo`: live tickets in every state across the tiers
for the demo accounts, with conversations, notes, history and ratings, and eight weeks of
finished tickets for the numbers page. Every ticket is filed and worked through the services,
at the past moments its story gives; the worker's steps (the SLA sweep, closing after the
reopen window) happen when the ticket's own clock says. A second run adds nothing."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from portal.auth.models import User
from portal.auth.services import find_user_by_email
from portal.core.db import transaction, utcnow
from portal.core.roles import SupportTier
from portal.extensions import db
from portal.helpdesk import requesters, staff
from portal.helpdesk.models import CannedReply, EventKind, Ticket, TicketState
from portal.helpdesk.sla import all_tier_settings
from portal.helpdesk.sweep import close_resolved, sweep_ticket
from portal.helpdesk.tickets import lock_ticket, reopen_window

DELEGATES = ("delegate@example.org", "delegate2@example.org")
STAFF = {
    SupportTier.COMMUNITY_ENGAGEMENT: "tier1@example.org",
    SupportTier.SERVICE_DESK: "tier2@example.org",
    SupportTier.EXPERT: "tier3@example.org",
}
TIER1, TIER2, TIER3 = STAFF.values()
REQUESTER = "requester"
# The worker's periodic jobs: they act when a ticket's clock says, not after a set time.
WORKER = "worker"


@dataclass
class Step:
    """Something that happens `hours` after the step before it (the first: after filing), done
    by the requester, a staff member (by email) or the worker (whose steps have no hours)."""

    hours: float | None
    actor: str
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
    steps: list[Step] = field(default_factory=list)


def _state(to: TicketState, hours: float, actor: str) -> Step:
    return Step(hours, actor, EventKind.STATE_CHANGED, data={"to": to})


def _rated(hours: float, rating: int, comment: str) -> Step:
    return Step(hours, REQUESTER, EventKind.RATED, data={"rating": rating, "comment": comment})


# The SLA sweep when the ticket's next target falls due.
SWEEP = Step(None, WORKER, EventKind.SLA_BREACHED)
# The closing job once the reopen window of a resolved ticket has passed.
AUTO_CLOSE = Step(None, WORKER, EventKind.STATE_CHANGED, data={"to": TicketState.CLOSED})

STORIES = [
    Story(
        "Cannot sign in with GitHub after renaming my account",
        DELEGATES[0],
        "account_access",
        "normal",
        1.0,
        "I renamed my GitHub account from `lortega` to `luis-ortega` yesterday. Since then "
        "the Science Platform says my account is not authorised.",
    ),
    Story(
        "Typo in the forced_photometry table page",
        DELEGATES[1],
        "documentation",
        "low",
        0.5,
        "The description of `psFluxErr_r` says *nmgy* twice in a row.",
    ),
    Story(
        "TAP query on the object table times out after 60 s",
        DELEGATES[0],
        "api_tap",
        "high",
        5.0,
        "This ADQL query times out every time:\n\n```sql\nSELECT objectId, ra, dec, mag_r "
        "FROM dp01_dc2_catalogs.object WHERE mag_r < 24\n```\n\nWhat am I doing wrong?",
        steps=[
            Step(0.4, TIER1, EventKind.CLAIMED),
            Step(
                0.1,
                TIER1,
                EventKind.REPLIED,
                "The query asks for every object brighter than 24th magnitude: tens of millions "
                "of rows. Add a spatial constraint, or `SELECT COUNT(*)` first. Does a cone "
                "search of 0.1 degrees finish?",
            ),
            _state(TicketState.WAITING_ON_REQUESTER, 0, TIER1),
            Step(
                4.0,
                REQUESTER,
                EventKind.REQUESTER_REPLIED,
                "A 0.1 degree cone search works. A 2 degree one still times out.",
            ),
        ],
    ),
    Story(
        "Notebook server will not start: spawn failed",
        DELEGATES[1],
        "notebook",
        "high",
        7.0,
        "Since this morning the Notebook aspect shows *Spawn failed: timeout* for the medium "
        "image. I have a tutorial session with students in two hours.",
        steps=[
            Step(0.2, TIER1, EventKind.PRIORITY_CHANGED, data={"to": "urgent"}),
            Step(
                0.1,
                TIER1,
                EventKind.ESCALATED,
                data={"reason": "Platform problem, not a usage question."},
            ),
            Step(0.2, TIER2, EventKind.CLAIMED),
            Step(
                0.1,
                TIER2,
                EventKind.REPLIED,
                "We can reproduce this and are working on it. We will update you within the hour.",
            ),
            Step(
                0.4,
                TIER2,
                EventKind.NOTE_ADDED,
                "Node pool for medium images is at capacity; asked IDF operations to add nodes.",
            ),
            _state(TicketState.WAITING_INTERNAL, 0, TIER2),
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
        steps=[
            Step(2.0, TIER1, EventKind.CLAIMED),
            Step(
                0.2,
                TIER1,
                EventKind.REPLIED,
                "Use `is_good_match` and `is_nearest_neighbor`; tutorial 04 shows both. Could you "
                "share the query you are running, so we can check the join?",
            ),
            _state(TicketState.WAITING_ON_REQUESTER, 0, TIER1),
        ],
    ),
    Story(
        # Old enough that the unanswered first response fell due whatever the calendar.
        "Butler cannot find calexp for visit 159494",
        DELEGATES[0],
        "butler_images",
        "normal",
        24 * 6.0,
        "`butler.get('calexp', visit=159494, detector=10)` raises *DatasetNotFoundError* in "
        "collection `2.2i/runs/DP0.1`.",
        steps=[
            SWEEP,
            Step(0.5, TIER2, EventKind.CLAIMED),
            Step(
                0.2,
                TIER2,
                EventKind.REPLIED,
                "Thank you: that dataset should exist. We are asking the Butler experts.",
            ),
            Step(
                0.1,
                TIER2,
                EventKind.ESCALATED,
                data={"reason": "Registry looks inconsistent for this visit."},
            ),
            Step(1.7, TIER3, EventKind.CLAIMED),
            Step(
                0.5,
                TIER3,
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
        steps=[_state(TicketState.OPEN, 0.5, TIER1)],
    ),
    Story(
        "How do I acknowledge DP0 data in a paper?",
        DELEGATES[1],
        "other",
        "normal",
        60.0,
        "Is there a standard acknowledgement text for work that uses DP0?",
        steps=[
            Step(1.0, TIER1, EventKind.CLAIMED),
            Step(
                0.2,
                TIER1,
                EventKind.REPLIED,
                "Yes: the delegate guidelines page has the acknowledgement text and the data "
                "rights statement. Do say if anything there is unclear.",
            ),
            _state(TicketState.RESOLVED, 0, TIER1),
        ],
    ),
    Story(
        "Password reset email never arrived",
        DELEGATES[0],
        "account_access",
        "high",
        80.0,
        "I asked for a password reset twice; no email came (spam folder checked).",
        steps=[
            Step(0.5, TIER2, EventKind.CLAIMED),
            Step(
                0.1,
                TIER2,
                EventKind.REPLIED,
                "Your institution's mail server rejected our messages; we have asked them to "
                "allow our sender. Please try again now.",
            ),
            _state(TicketState.WAITING_ON_REQUESTER, 0, TIER2),
            Step(2.4, REQUESTER, EventKind.REQUESTER_REPLIED, "It worked, thank you!"),
            _state(TicketState.RESOLVED, 0.2, TIER2),
            _rated(1.8, 5, "Quick and clear."),
        ],
    ),
    Story(
        "Adding a student as a Plus One delegate",
        DELEGATES[1],
        "account_access",
        "normal",
        24 * 20.0,
        "My PhD student would like to join as my Plus One. How do we apply?",
        steps=[
            Step(3.0, TIER2, EventKind.CLAIMED),
            Step(
                0.5,
                TIER2,
                EventKind.REPLIED,
                "Your student applies through the portal and names you as advisor; we link "
                "the two applications.",
            ),
            _state(TicketState.RESOLVED, 0, TIER2),
            _rated(16.5, 4, "Helpful; the form could say this itself."),
            AUTO_CLOSE,
        ],
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

# Finished tickets for the numbers page: category, subject and the answer that resolved it.
HISTORY_SUBJECTS = [
    ("api_tap", "ADQL JOIN between object and truth_match is slow",
     "Join on the indexed match id and add a spatial constraint; it then runs in seconds."),
    ("notebook", "Kernel dies when plotting a large catalog",
     "The kernel ran out of memory: plot a sample, or bin the points with datashader."),
    ("portal", "Portal table view cuts columns off",
     "Use the column selector (the gear above the table) to choose what is shown."),
    ("data_products", "Extendedness flag for bright stars",
     "Saturated stars can be measured as extended; check the saturation flags as well."),
    ("butler_images", "Which collection holds the coadds?",
     "The coadds are in the collection the data access page lists for DP0.2."),
    ("documentation", "Broken link on the data access page", "Fixed: thank you for telling us."),
    ("account_access", "Access to the GitHub team not granted yet",
     "Your invitation to the GitHub team is sent; accept it from your GitHub notifications."),
    ("other", "Office hours schedule", "Office hours are listed on the community forum."),
]  # fmt: skip
HISTORY_DAYS = 56


def seed_demo_tickets() -> list[str]:
    """Create the demo tickets and canned replies, unless they already exist."""
    users = {email: find_user_by_email(email) for email in (*DELEGATES, *STAFF.values())}
    if any(user is None for user in users.values()):
        return ["help desk: demo accounts are missing; skipped"]
    people = {email: user for email, user in users.items() if user is not None}
    with transaction():
        requester_ids = [people[email].id for email in DELEGATES]
        existing = db.session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.requester_id.in_(requester_ids))
        )
        if existing:
            return []
        now = utcnow()
        for tier, title, body in CANNED:
            db.session.add(
                CannedReply(tier=tier, title=title, body=body, created_by_id=people[TIER3].id)
            )
        for story in STORIES:
            _play(story, people, now)
        finished = _play_history(people, now)
    return [
        f"help desk: {len(STORIES)} live tickets in every state, {finished} finished tickets "
        f"over eight weeks, {len(CANNED)} canned replies"
    ]


def _play(story: Story, people: dict[str, User], now: datetime) -> None:
    """File the story's ticket and play its steps, up to the present."""
    requester = people[story.requester]
    at = now - timedelta(hours=story.age_hours)
    ticket = requesters.create_ticket(
        requester,
        subject=story.subject,
        description=story.description,
        category=story.category,
        priority=story.priority,
        now=at,
    )
    for step in story.steps:
        moment = _moment(step, ticket, at)
        if moment is None or moment > now:
            return  # the rest of the story has not happened yet
        at = moment
        actor = requester if step.actor == REQUESTER else people.get(step.actor)
        _perform(step, ticket, actor, at)


def _moment(step: Step, ticket: Ticket, previous: datetime) -> datetime | None:
    """When a step happens: its hours after the previous one, or, for the worker, when the
    ticket's clock says (None: it never will)."""
    if step.hours is not None:
        return previous + timedelta(hours=step.hours)
    if step.kind is EventKind.SLA_BREACHED:
        return ticket.next_due_at
    return ticket.resolved_at + reopen_window() if ticket.resolved_at else None


def _perform(step: Step, ticket: Ticket, actor: User | None, at: datetime) -> None:
    number = ticket.id
    if step.actor == WORKER:
        _run_worker(step, number, at)
    elif actor is None:
        raise ValueError(f"no demo account {step.actor}")
    elif step.kind is EventKind.CLAIMED:
        staff.claim_ticket(actor, number, now=at)
    elif step.kind in (EventKind.REPLIED, EventKind.NOTE_ADDED):
        internal = step.kind is EventKind.NOTE_ADDED
        staff.add_staff_message(actor, number, body=step.body, internal=internal, now=at)
    elif step.kind is EventKind.STATE_CHANGED:
        staff.change_state(actor, number, step.data["to"], now=at)
    elif step.kind is EventKind.PRIORITY_CHANGED:
        priority, category = step.data["to"], ticket.category
        staff.update_properties(actor, number, priority=priority, category=category, now=at)
    elif step.kind is EventKind.ESCALATED:
        staff.escalate_ticket(actor, number, step.data["reason"], now=at)
    elif step.kind is EventKind.REQUESTER_REPLIED:
        requesters.add_requester_reply(actor, number, step.body, now=at)
    elif step.kind is EventKind.RATED:
        rating, comment = step.data["rating"], step.data["comment"]
        requesters.rate_ticket(actor, number, rating, comment, now=at)
    else:
        raise ValueError(f"the demo cannot play {step.kind}")


def _run_worker(step: Step, number: int, at: datetime) -> None:
    """What the worker's job does to this one ticket at `at`."""
    with transaction():
        ticket = lock_ticket(number)
        if step.kind is EventKind.SLA_BREACHED:
            sweep_ticket(ticket, all_tier_settings(), at)
        else:
            close_resolved(ticket, at)


def _play_history(people: dict[str, User], now: datetime) -> int:
    """Finished tickets over the last eight weeks, from a fixed random seed: answered (some
    late, which escalates them), some escalated by hand, resolved, most rated, the older ones
    closed."""
    rng = random.Random(20261123)  # noqa: S311 - demo data, not a secret
    count = 0
    for day in range(HISTORY_DAYS, 0, -1):
        for _ in range(rng.choice((0, 1, 1, 2))):
            category, subject, answer = rng.choice(HISTORY_SUBJECTS)
            created = now - timedelta(days=day, hours=rng.uniform(0, 8))
            requester = people[rng.choice(DELEGATES)]
            priority = rng.choice(("low", "normal", "normal", "high"))
            escalated, automatically = rng.random() < 0.2, rng.random() < 0.5
            # Everything finished at least an hour ago.
            available = (now - created).total_seconds() / 3600 - 1
            response_hours = min(rng.uniform(0.2, 5.0), available / 2)
            resolution_hours = min(response_hours + rng.uniform(1, 60), available)
            rating = rng.choice((3, 4, 4, 5, 5, 5, 2)) if rng.random() < 0.6 else None
            ticket = requesters.create_ticket(
                requester,
                subject=subject,
                description="(demo history)",
                category=category,
                priority=priority,
                now=created,
            )
            answered = created + timedelta(hours=response_hours)
            resolved = created + timedelta(hours=resolution_hours)
            late = ticket.next_due_at
            if escalated and automatically and late and late + timedelta(hours=1) < resolved:
                _run_worker(SWEEP, ticket.id, late)
                answered = max(answered, late + timedelta(hours=0.5))
            worker = people[STAFF[ticket.tier_enum]]
            staff.claim_ticket(worker, ticket.id, now=answered)
            staff.add_staff_message(worker, ticket.id, body=answer, internal=False, now=answered)
            if escalated and not automatically:
                handed_on = answered + timedelta(hours=0.5)
                staff.escalate_ticket(worker, ticket.id, "Needs the next tier.", now=handed_on)
                worker = people[STAFF[ticket.tier_enum]]
            staff.change_state(worker, ticket.id, TicketState.RESOLVED, now=resolved)
            if rating is not None:
                rated = min(resolved + timedelta(hours=2), now)
                requesters.rate_ticket(requester, ticket.id, rating, "", now=rated)
            if resolved + reopen_window() < now:
                _run_worker(AUTO_CLOSE, ticket.id, resolved + reopen_window())
            count += 1
    return count
