"""The seat lock and the seat counts every admission, offer and capacity change goes through.

Every change to who holds a seat happens inside one transaction that first locks the
programme's row (`SELECT ... FOR UPDATE` on PostgreSQL; on SQLite the transaction itself starts
with BEGIN IMMEDIATE, which already lets one writer in at a time), then counts the seats taken,
then writes. Two requests can therefore never both see the last free seat: the second waits for
the first to commit and, at READ COMMITTED, counts again with the first one's seat included.
"""

from __future__ import annotations

import time

from flask import current_app
from sqlalchemy import func, select

from portal.extensions import db
from portal.signup.errors import (
    DoesNotExist,
    PlusOneQuotaExceeded,
    ProgrammeCapacityExceeded,
    WaveCapacityExceeded,
)
from portal.signup.models import SEAT_STATES, Application, Programme, Wave


def lock_programme(programme_id: int) -> Programme:
    """Take the programme's seat lock for the rest of the transaction and return it fresh.

    Every change to seats in a programme takes this one lock first, so there is a single lock
    order and no deadlock. The test-only switch leaves the lock out, so that a test can show
    the concurrency tests would catch a missing lock.
    """
    query = select(Programme).where(Programme.id == programme_id)
    if not _testing_switch("SIGNUP_TEST_SKIP_SEAT_LOCK"):
        query = query.with_for_update()
    programme = db.session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if programme is None:
        raise DoesNotExist("This programme does not exist.")
    return programme


def _testing_switch(name: str) -> float:
    """A test-only setting's value; always 0 outside PORTAL_ENV=testing."""
    config = current_app.config
    if config["PORTAL_ENV"] != "testing":
        return 0.0
    return float(config.get(name) or 0)


def _race_window() -> None:
    """Test-only: hold the transaction open between counting seats and taking one."""
    delay = _testing_switch("SIGNUP_RACE_WINDOW_SECONDS")
    if delay:
        time.sleep(delay)


def seats_held(programme_id: int, *, wave_id: int | None = None, plus_one: bool = False) -> int:
    """Seats taken (admitted, or held by an open offer) in a programme, or one of its waves."""
    query = (
        select(func.count())
        .select_from(Application)
        .where(
            Application.programme_id == programme_id,
            Application.state.in_(SEAT_STATES),
            Application.is_plus_one.is_(plus_one),
        )
    )
    if wave_id is not None:
        query = query.where(Application.wave_id == wave_id)
    return db.session.scalar(query) or 0


def check_room(programme: Programme, application: Application) -> None:
    """Refuse a seat when the wave, the programme or the Plus One quota is full. Called with
    the programme locked, so the count cannot change before the caller writes."""
    if application.is_plus_one:
        taken = seats_held(programme.id, plus_one=True)
        if taken >= programme.plus_one_capacity:
            raise PlusOneQuotaExceeded(
                f"The Plus One quota of {programme.name} is full "
                f"({taken} of {programme.plus_one_capacity})."
            )
    else:
        wave = application.wave
        in_wave = seats_held(programme.id, wave_id=wave.id)
        if in_wave >= wave.capacity:
            raise WaveCapacityExceeded(f"{wave.name} is full ({in_wave} of {wave.capacity}).")
        in_programme = seats_held(programme.id)
        if in_programme >= programme.total_capacity:
            raise ProgrammeCapacityExceeded(
                f"{programme.name} is full ({in_programme} of {programme.total_capacity})."
            )
    _race_window()


def free_seats(programme: Programme, wave: Wave) -> int:
    """Seats a wave can still give, within its own capacity and the programme's."""
    wave_free = wave.capacity - seats_held(programme.id, wave_id=wave.id)
    programme_free = programme.total_capacity - seats_held(programme.id)
    return max(0, min(wave_free, programme_free))
