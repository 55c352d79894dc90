"""The one place an application's state changes, and the steps every sign-up capability shares:
who acted, the audit entry, reloading under the seat lock, and admit-or-waitlist.

Everything here runs inside the caller's unit of work (`portal.core.db.transaction()`), with
the programme already locked (`portal.signup.seats.lock_programme`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from portal.auth import services as auth_services
from portal.auth.models import User
from portal.core.db import utcnow
from portal.core.roles import Role
from portal.extensions import db
from portal.signup import emails, provisioning
from portal.signup.errors import CapacityExceeded, DoesNotExist, NotAllowed
from portal.signup.models import (
    Application,
    ApplicationEvent,
    ApplicationState,
    EventKind,
    Offer,
    OfferOutcome,
    Programme,
)
from portal.signup.queries import waiting_beside
from portal.signup.seats import check_room, lock_programme

S = ApplicationState

# How an open offer ends when its application moves to a state (any other state revokes it).
OFFER_OUTCOMES = {
    S.ADMITTED: OfferOutcome.ACCEPTED,
    S.DECLINED: OfferOutcome.DECLINED,
    S.OFFER_EXPIRED: OfferOutcome.EXPIRED,
    S.WITHDRAWN: OfferOutcome.WITHDRAWN,
}


@dataclass(frozen=True)
class Actor:
    """Who made a change, for the audit trail."""

    label: str
    user_id: int | None = None

    @classmethod
    def staff(cls, user: User) -> Actor:
        return cls(f"{user.full_name} <{user.email}>", user.id)


APPLICANT = Actor("applicant")
SPONSOR = Actor("sponsor")
SYSTEM = Actor("portal")


def reload(application_id: int) -> Application:
    """The application as it is now in the database (call it after taking the lock)."""
    application = db.session.get(Application, application_id, populate_existing=True)
    if application is None:
        raise DoesNotExist("This application does not exist.")
    return application


def lock_programmes_of(application_ids: Iterable[int]) -> dict[int, Programme]:
    """Lock every programme the applications belong to, in id order (one lock order)."""
    programme_ids = set(
        db.session.scalars(
            select(Application.programme_id).where(Application.id.in_(list(application_ids)))
        )
    )
    return {pid: lock_programme(pid) for pid in sorted(programme_ids)}


def record_event(
    application: Application,
    actor: Actor,
    reason: str,
    *,
    from_state: ApplicationState | None,
    kind: EventKind = EventKind.STATE,
    at: datetime | None = None,
) -> None:
    """Add an entry to the audit trail: the application is now in its current state."""
    db.session.add(
        ApplicationEvent(
            application=application,
            created_at=at or utcnow(),
            actor_id=actor.user_id,
            actor_label=actor.label,
            kind=kind,
            from_state=from_state,
            to_state=application.state,
            reason=reason,
        )
    )


def move(
    programme: Programme,
    application: Application,
    to: ApplicationState,
    actor: Actor,
    reason: str,
    *,
    notify: bool = True,
) -> Offer | None:
    """Change an application's state with everything that goes with it: the seat check, the
    offer record, access granted or taken away, the audit entry and the email."""
    frm = application.state
    now = utcnow()
    if to.holds_seat and not frm.holds_seat:
        check_room(programme, application)
    if application.is_plus_one and not frm.is_live and to.is_live:
        _retake_sponsor_slot(application)

    offer = application.open_offer
    if frm == S.OFFERED and offer is not None:
        offer.resolved_at = now
        offer.outcome = OFFER_OUTCOMES.get(to, OfferOutcome.REVOKED)
    if application.is_plus_one and not to.is_live:
        application.active_sponsor_id = None

    application.state = to
    record_event(application, actor, reason, from_state=frm, at=now)
    if actor.user_id is not None and to in (S.ADMITTED, S.WAITLISTED, S.REJECTED):
        application.decided_at = now
    new_offer = None
    if to == S.OFFERED:
        new_offer = Offer(
            application=application,
            wave_id=application.wave_id,
            created_at=now,
            expires_at=now + timedelta(hours=programme.offer_lifetime_hours),
        )
        db.session.add(new_offer)
    if frm == S.ADMITTED and to != S.ADMITTED:
        _take_access_away(application)
        _end_unconfirmed_plus_ones(programme, application)
    if to == S.ADMITTED:
        application.admitted_at = now
        _grant_access(application)
    db.session.flush()
    if notify:
        emails.notify(programme, application, to, new_offer)
    return new_offer


def admit_or_waitlist(
    programme: Programme, application: Application, reason: str
) -> ApplicationState:
    """Admit while there is room and nobody is waiting ahead; otherwise join the waitlist."""
    if not waiting_beside(application):
        try:
            move(programme, application, S.ADMITTED, SYSTEM, reason)
            return S.ADMITTED
        except CapacityExceeded as exc:
            reason = f"{reason}: {exc.message}"
    else:
        reason = f"{reason}: others are waiting ahead"
    move(programme, application, S.WAITLISTED, SYSTEM, reason)
    return S.WAITLISTED


def _end_unconfirmed_plus_ones(programme: Programme, sponsor: Application) -> None:
    """A sponsor who leaves can no longer confirm a Plus One: a request still waiting for them
    ends (a Plus One already admitted keeps their place)."""
    waiting = db.session.scalars(
        select(Application).where(
            Application.sponsor_id == sponsor.id,
            Application.state.in_([S.UNVERIFIED, S.PENDING]),
            Application.sponsor_confirmed_at.is_(None),
        )
    ).all()
    for plus_one in waiting:
        move(programme, plus_one, S.REJECTED, SYSTEM, "The sponsor left the programme")


def _retake_sponsor_slot(application: Application) -> None:
    """A Plus One coming back to life needs its sponsor's one slot to be free."""
    if application.sponsor_id is None:
        return
    other = db.session.scalar(
        select(Application.id).where(
            Application.active_sponsor_id == application.sponsor_id,
            Application.id != application.id,
        )
    )
    if other is not None:
        raise NotAllowed("The sponsor already has another Plus One.")
    application.active_sponsor_id = application.sponsor_id


def give_delegate_account(application: Application) -> User:
    """The admitted applicant's portal account, created if need be, with the delegate role."""
    user = application.user or auth_services.find_user_by_email(application.email)
    if user is None:
        # No password: the person sets one with "Forgot your password?".
        user = auth_services.create_user(
            email=application.email,
            full_name=application.full_name,
            password=None,
            role=Role.APPLICANT,
        )
    auth_services.promote_to_delegate(user)
    application.user = user
    return user


def _grant_access(application: Application) -> None:
    """An admitted delegate gets a portal account with the delegate role and team access."""
    give_delegate_account(application)
    provisioning.queue_invitation(application)


def _take_access_away(application: Application) -> None:
    """Leaving the programme removes team access and, unless another programme still admits
    them, the delegate role (staff and admins keep theirs)."""
    provisioning.queue_removal(application)
    user = application.user
    if user is None or user.role != Role.DELEGATE:
        return
    still_admitted = db.session.scalar(
        select(func.count())
        .select_from(Application)
        .where(
            Application.user_id == user.id,
            Application.state == S.ADMITTED,
            Application.id != application.id,
        )
    )
    if not still_admitted:
        auth_services.set_role(user, Role.APPLICANT, None)
