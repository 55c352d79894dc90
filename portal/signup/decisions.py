"""What staff decide: admit, waitlist or reject (one application or many), admit a chosen
cohort into a wave, undo a decision, move someone up the waitlist, keep private notes, and
close a waitlist."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from portal.audit import AuditAction, record_audit
from portal.auth.models import User
from portal.core.db import transaction
from portal.extensions import db
from portal.signup.errors import CapacityExceeded, DoesNotExist, NotAllowed
from portal.signup.models import (
    Application,
    ApplicationState,
    EventKind,
    Programme,
    StaffNote,
    Wave,
)
from portal.signup.queries import waitlist
from portal.signup.seats import lock_programme
from portal.signup.transitions import Actor, lock_programmes_of, move, record_event, reload

S = ApplicationState

# What staff may do from which state. Admitting someone who holds an offer is theirs to accept;
# withdrawn and declined applications were the applicant's decision (staff can undo it).
STAFF_ACTIONS: dict[str, tuple[ApplicationState, set[ApplicationState]]] = {
    "admit": (S.ADMITTED, {S.PENDING, S.WAITLISTED, S.REJECTED, S.OFFER_EXPIRED}),
    "waitlist": (S.WAITLISTED, {S.PENDING, S.REJECTED, S.OFFER_EXPIRED}),
    "reject": (S.REJECTED, {S.PENDING, S.WAITLISTED, S.OFFERED, S.ADMITTED, S.OFFER_EXPIRED}),
}


@dataclass
class BulkResult:
    """What a (bulk) staff decision did: who changed, who did not fit, who was skipped."""

    changed: list[Application] = field(default_factory=list)
    not_fitted: list[tuple[Application, str]] = field(default_factory=list)
    skipped: list[tuple[Application, str]] = field(default_factory=list)
    # The state each changed application had before, for the audit log.
    previous: dict[int, ApplicationState] = field(default_factory=dict)


Step = Callable[[Programme, Application], None]


def _each(
    application_ids: Sequence[int], programmes: dict[int, Programme], step: Step
) -> BulkResult:
    """Run `step` on each application of the locked programmes, in the order given; one that
    does not fit or may not change is reported and the others go on."""
    result = BulkResult()
    for application_id in dict.fromkeys(application_ids):
        application = db.session.get(Application, application_id, populate_existing=True)
        if application is None or application.programme_id not in programmes:
            continue
        previous = application.state
        try:
            step(programmes[application.programme_id], application)
        except CapacityExceeded as exc:
            result.not_fitted.append((application, exc.message))
        except NotAllowed as exc:
            result.skipped.append((application, exc.message))
        else:
            result.changed.append(application)
            result.previous[application.id] = previous
    return result


def _audit(action: str, result: BulkResult, **details: object) -> BulkResult:
    """Record a decision that changed applications: each one's state before and after, and
    who did not fit or was skipped (by id: the log keeps no names)."""
    if result.changed:
        programmes = sorted({a.programme_id for a in result.changed})
        record_audit(
            AuditAction.BULK_DECISION,
            target=f"programme:{','.join(map(str, programmes))}",
            before={"states": {str(a.id): result.previous[a.id] for a in result.changed}},
            after={
                "action": action,
                **details,
                "states": {str(a.id): a.state for a in result.changed},
                "not_fitted": [a.id for a, _ in result.not_fitted],
                "skipped": [a.id for a, _ in result.skipped],
            },
        )
    return result


def _refuse_unless_from(application: Application, action: str, allowed: set[S]) -> None:
    if application.state not in allowed:
        raise NotAllowed(f"cannot {action} from {application.state.label.lower()}")


def decide(application_ids: Sequence[int], action: str, staff: User, reason: str) -> BulkResult:
    """Admit, waitlist or reject applications, in the order given. Admission stops at the
    limits: whoever does not fit is reported, and everyone who fits is admitted."""
    if action not in STAFF_ACTIONS:
        raise NotAllowed(f"Unknown action {action!r}.")
    to, allowed_from = STAFF_ACTIONS[action]
    actor = Actor.staff(staff)

    def step(programme: Programme, application: Application) -> None:
        _refuse_unless_from(application, action, allowed_from)
        move(programme, application, to, actor, reason)

    with transaction():
        return _audit(action, _each(application_ids, lock_programmes_of(application_ids), step))


def admit_into_wave(
    wave_id: int, application_ids: Sequence[int], staff: User, reason: str
) -> BulkResult:
    """Admit applications (pending, from any wave of the programme) into one wave, in the
    order given, up to its limits; whoever does not fit is reported and stays where they were."""
    actor = Actor.staff(staff)
    with transaction() as session:
        wave = session.get(Wave, wave_id)
        if wave is None:
            raise DoesNotExist("This wave does not exist.")
        locked = lock_programme(wave.programme_id)

        def step(programme: Programme, application: Application) -> None:
            if application.is_plus_one:
                raise NotAllowed(f"cannot admit from {application.state.label.lower()}")
            _refuse_unless_from(application, "admit", STAFF_ACTIONS["admit"][1])
            previous = application.wave
            application.wave = wave
            try:
                move(programme, application, S.ADMITTED, actor, reason)
            except CapacityExceeded:
                application.wave = previous
                raise

        return _audit("admit", _each(application_ids, {locked.id: locked}, step), wave=wave.id)


def _undo(programme: Programme, application: Application, actor: Actor, reason: str) -> None:
    """Put an application back in the state it had before its last change (an offer comes
    back as a place on the waitlist), within the limits like any admission."""
    last = next(
        (event for event in reversed(application.events) if event.kind == EventKind.STATE), None
    )
    if last is None or last.from_state is None or last.from_state == S.UNVERIFIED:
        raise NotAllowed("there is no decision to undo")
    target = S.WAITLISTED if last.from_state == S.OFFERED else last.from_state
    if target == application.state:
        raise NotAllowed(f"it is already {target.label.lower()}")
    move(
        programme,
        application,
        target,
        actor,
        f"Undo ({last.from_state} → {last.to_state}): {reason}",
    )


def undo_last_changes(application_ids: Sequence[int], staff: User, reason: str) -> BulkResult:
    """Undo the last change of several applications; each that cannot be undone is reported."""
    actor = Actor.staff(staff)

    def step(programme: Programme, application: Application) -> None:
        _undo(programme, application, actor, reason)

    with transaction():
        return _audit("undo", _each(application_ids, lock_programmes_of(application_ids), step))


def set_priority(application_id: int, priority: int, staff: User, reason: str) -> Application:
    with transaction():
        lock_programmes_of([application_id])
        application = reload(application_id)
        before = application.priority
        application.priority = priority
        record_event(
            application,
            Actor.staff(staff),
            f"Priority {before} → {priority}: {reason}",
            from_state=application.state,
            kind=EventKind.PRIORITY,
        )
        return application


def add_note(application_id: int, staff: User, body: str) -> StaffNote:
    with transaction() as session:
        application = session.get(Application, application_id)
        if application is None:
            raise DoesNotExist("This application does not exist.")
        note = StaffNote(
            application_id=application.id,
            author_id=staff.id,
            author_label=Actor.staff(staff).label,
            body=body.strip(),
        )
        session.add(note)
        return note


def close_waitlist(programme_id: int, staff: User, reason: str) -> int:
    """End the waitlist: everyone still waiting is told they were not selected."""
    with transaction() as session:
        programme = lock_programme(programme_id)
        waiting = session.scalars(waitlist(programme_id)).all()
        for application in waiting:
            move(programme, application, S.REJECTED, Actor.staff(staff), reason)
        record_audit(
            AuditAction.WAITLIST_CLOSED,
            target=f"programme:{programme.id}",
            before={"waitlisted": [a.id for a in waiting]},
            after={"rejected": len(waiting)},
        )
        return len(waiting)
