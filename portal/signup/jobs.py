"""The worker's sign-up cycle: offers expire and are reminded, waitlists carry over or close,
first-come-first-served applications are admitted as their wave opens, free seats are offered
to the waitlist, and GitHub calls that gave up are tried again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from portal.core.db import transaction, utcnow
from portal.extensions import db
from portal.signup import emails, provisioning
from portal.signup.errors import CapacityExceeded
from portal.signup.models import (
    AdmissionMode,
    Application,
    ApplicationState,
    EventKind,
    Offer,
    Programme,
    Wave,
    WaveStatus,
)
from portal.signup.queries import current_wave, waitlist
from portal.signup.seats import free_seats, lock_programme, seats_held
from portal.signup.transitions import SYSTEM, admit_or_waitlist, move, record_event

S = ApplicationState
REMINDER_BEFORE_EXPIRY = timedelta(hours=24)


@dataclass
class CycleReport:
    """What one pass of the sign-up job did."""

    expired: int = 0
    reminded: int = 0
    offered: int = 0
    admitted: int = 0
    waitlisted: int = 0
    carried_over: int = 0
    closed: int = 0
    github_calls_retried: int = 0

    def lines(self) -> list[str]:
        return [f"{name.replace('_', ' ')}: {value}" for name, value in vars(self).items()]


def run_signup_cycle() -> CycleReport:
    """Expire and remind offers, carry waitlists over, admit first-come-first-served
    applications waiting for their wave to open, offer free seats to the waitlist, and retry
    GitHub calls that gave up.

    Each programme is handled in its own locked transaction, and every step looks at the
    current state only, so running it twice (or from two workers) does nothing twice.
    """
    report = CycleReport()
    for programme_id in db.session.scalars(select(Programme.id).order_by(Programme.id)).all():
        with transaction():
            programme = lock_programme(programme_id)
            now = utcnow()
            _expire_offers(programme, now, report)
            _remind_offers(programme, now, report)
            _carry_over_waitlists(programme, now, report)
            _admit_waiting_first_come(programme, now, report)
            _offer_free_seats(programme, now, report)
            report.github_calls_retried += provisioning.retry_calls_that_gave_up(programme, now)
    return report


def _open_offers(programme: Programme) -> Sequence[Offer]:
    return db.session.scalars(
        select(Offer)
        .join(Application)
        .where(Application.programme_id == programme.id, Offer.resolved_at.is_(None))
        .order_by(Offer.expires_at, Offer.id)
    ).all()


def _expire_offers(programme: Programme, now: datetime, report: CycleReport) -> None:
    for offer in _open_offers(programme):
        if offer.expires_at <= now and offer.application.state == S.OFFERED:
            move(
                programme,
                offer.application,
                S.OFFER_EXPIRED,
                SYSTEM,
                "No answer before the deadline",
            )
            report.expired += 1


def _reminder_due(offer: Offer) -> datetime:
    """A day before expiry (halfway, for offers shorter than two days)."""
    halfway = offer.created_at + (offer.expires_at - offer.created_at) / 2
    return max(offer.expires_at - REMINDER_BEFORE_EXPIRY, halfway)


def _remind_offers(programme: Programme, now: datetime, report: CycleReport) -> None:
    for offer in _open_offers(programme):
        if offer.reminded_at is None and _reminder_due(offer) <= now < offer.expires_at:
            offer.reminded_at = now
            emails.send(
                programme,
                offer.application,
                "signup_offer_reminder",
                dedupe_key=f"signup-offer-reminder-{offer.id}",
                **emails.offer_context(offer),
            )
            report.reminded += 1


def _carry_over_waitlists(programme: Programme, now: datetime, report: CycleReport) -> None:
    """Waitlisted people of a wave that has given way to the next move with it, unless that
    wave's waitlist was set not to carry over: then they are told they were not selected."""
    wave = current_wave(programme, now)
    for application in db.session.scalars(waitlist(programme.id, plus_one=False)).all():
        old = application.wave
        if old is wave or old.status(now) == WaveStatus.UPCOMING:
            continue
        if not old.carry_over_waitlist:
            old.waitlist_closed_at = old.waitlist_closed_at or now
            move(
                programme,
                application,
                S.REJECTED,
                SYSTEM,
                f"The waitlist of {old.name} closed",
            )
            report.closed += 1
        elif wave is not None:
            application.wave = wave
            record_event(
                application,
                SYSTEM,
                f"Waitlist carried over from {old.name} to {wave.name}",
                from_state=application.state,
                kind=EventKind.WAVE,
                at=now,
            )
            report.carried_over += 1


def _admit_waiting_first_come(programme: Programme, now: datetime, report: CycleReport) -> None:
    """Applications confirmed before their first-come-first-served wave opened are taken in
    the order they were confirmed, once it opens."""
    wave = current_wave(programme, now)
    if wave is None or wave.mode != AdmissionMode.FCFS:
        return
    waiting = db.session.scalars(
        select(Application)
        .where(
            Application.wave_id == wave.id,
            Application.state == S.PENDING,
            Application.is_plus_one.is_(False),
            Application.has_data_rights,
        )
        .order_by(Application.verified_at, Application.id)
    ).all()
    for application in waiting:
        outcome = admit_or_waitlist(
            programme, application, f"First come, first served as {wave.name} opened"
        )
        if outcome == S.ADMITTED:
            report.admitted += 1
        else:
            report.waitlisted += 1


def _offer_free_seats(programme: Programme, now: datetime, report: CycleReport) -> None:
    wave = current_wave(programme, now)
    if wave is not None:
        report.offered += _offer_seats(programme, free_seats(programme, wave), False, wave)
    plus_one_free = programme.plus_one_capacity - seats_held(programme.id, plus_one=True)
    report.offered += _offer_seats(programme, plus_one_free, True, None)


def _offer_seats(programme: Programme, free: int, plus_one: bool, wave: Wave | None) -> int:
    if free <= 0:
        return 0
    query = waitlist(programme.id, plus_one=plus_one).limit(free)
    if wave is not None:
        query = query.where(Application.wave_id == wave.id)
    made = 0
    for application in db.session.scalars(query).all():
        place = wave.name if wave is not None else "the Plus One quota"
        try:
            move(programme, application, S.OFFERED, SYSTEM, f"A seat is free in {place}")
        except CapacityExceeded:
            break
        made += 1
    return made
