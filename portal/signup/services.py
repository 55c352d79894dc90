"""Rules of delegate sign-up: applying and confirming, seats and quotas, the waitlist and its
offers, staff decisions, and the periodic work the worker does. Every function that changes
seats locks the programme first (see portal.signup.seats)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.auth import services as auth_services
from portal.auth.models import User
from portal.core.db import transaction, utcnow
from portal.core.roles import Role
from portal.core.templating import format_datetime
from portal.core.tokens import InvalidToken, make_token, read_token
from portal.core.urls import external_url
from portal.extensions import db
from portal.outbox import send_email
from portal.signup import provisioning
from portal.signup.errors import (
    ApplicationsClosed,
    CapacityExceeded,
    DuplicateApplication,
    InvalidSponsor,
    NotAllowed,
    OfferClosed,
)
from portal.signup.models import (
    LIVE_STATES,
    SEAT_STATES,
    AdmissionMode,
    Application,
    ApplicationEvent,
    ApplicationState,
    CollaborationMembership,
    Offer,
    Programme,
    StaffNote,
    Wave,
)
from portal.signup.seats import check_room, free_seats, lock_programme, seats_held

log = logging.getLogger("portal.signup")

S = ApplicationState

VERIFY_PURPOSE = "signup-verify"
STATUS_PURPOSE = "signup-status"
OFFER_PURPOSE = "signup-offer"
SPONSOR_PURPOSE = "signup-sponsor"
STATUS_LINK_SECONDS = 365 * 24 * 3600
SPONSOR_LINK_SECONDS = 30 * 24 * 3600
REMINDER_BEFORE_EXPIRY = timedelta(hours=24)

# What staff may do from which state. Admitting someone who holds an offer is theirs to accept;
# withdrawn and declined applications were the applicant's decision (staff can undo it).
STAFF_ACTIONS: dict[str, tuple[ApplicationState, set[ApplicationState]]] = {
    "admit": (S.ADMITTED, {S.PENDING, S.WAITLISTED, S.REJECTED, S.OFFER_EXPIRED}),
    "waitlist": (S.WAITLISTED, {S.PENDING, S.REJECTED, S.OFFER_EXPIRED}),
    "reject": (S.REJECTED, {S.PENDING, S.WAITLISTED, S.OFFERED, S.ADMITTED, S.OFFER_EXPIRED}),
}
OFFER_OUTCOMES = {
    S.ADMITTED: "accepted",
    S.DECLINED: "declined",
    S.OFFER_EXPIRED: "expired",
    S.WITHDRAWN: "withdrawn",
}


# --- who acts -----------------------------------------------------------------------------------


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


# --- what an applicant sends ---------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicationInput:
    full_name: str
    email: str
    institution: str
    institution_type: str
    country: str
    career_stage: str
    data_rights: str
    data_rights_basis: str
    science_collaborations: list[str]
    github_username: str
    experience_python: str
    experience_jupyter: str
    experience_sql: str
    contribution: str
    preferred_language: str
    sponsor_email: str
    accepted_guidelines: bool


@dataclass
class SubmitResult:
    application: Application
    needs_verification: bool


@dataclass
class BulkResult:
    """What a (bulk) staff decision did: who changed, who did not fit, who was skipped."""

    changed: list[Application] = field(default_factory=list)
    not_fitted: list[tuple[Application, str]] = field(default_factory=list)
    skipped: list[tuple[Application, str]] = field(default_factory=list)


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

    def lines(self) -> list[str]:
        return [f"{name.replace('_', ' ')}: {value}" for name, value in vars(self).items()]


# --- programmes and waves ------------------------------------------------------------------------


def current_wave(programme: Programme, now: datetime) -> Wave | None:
    """The wave taking admissions now: the most recently opened one still open."""
    open_waves = [wave for wave in programme.waves if wave.status(now) == "open"]
    return max(open_waves, key=lambda w: (w.opens_at, w.id)) if open_waves else None


def next_wave(programme: Programme, now: datetime) -> Wave | None:
    upcoming = [wave for wave in programme.waves if wave.status(now) == "upcoming"]
    return min(upcoming, key=lambda w: (w.opens_at, w.id)) if upcoming else None


def wave_for_new_applications(programme: Programme, now: datetime) -> Wave | None:
    """Where a new application goes: the open wave, or the next one to open."""
    if not programme.accepting_applications:
        return None
    return current_wave(programme, now) or next_wave(programme, now)


def programmes_accepting() -> list[Programme]:
    """Programmes whose form is open now, newest first."""
    now = utcnow()
    programmes = db.session.scalars(
        select(Programme)
        .where(Programme.accepting_applications.is_(True))
        .order_by(Programme.created_at.desc(), Programme.id.desc())
    ).all()
    return [p for p in programmes if wave_for_new_applications(p, now) is not None]


# --- links ---------------------------------------------------------------------------------------


def _link_data(application: Application) -> dict[str, Any]:
    """What a link to an application signs: its id, and a digest of its email address that
    ties the link to this application (ids can be reused after a row is deleted) without
    putting the address in URLs and server logs."""
    digest = hashlib.sha256(application.email.encode()).hexdigest()[:16]
    return {"id": application.id, "e": digest}


def _linked_application(data: Any) -> Application:
    application = db.session.get(Application, data.get("id"))
    if application is None or _link_data(application) != data:
        raise InvalidToken("This link belongs to an application that no longer exists.")
    return application


def verify_token(application: Application) -> str:
    return make_token(VERIFY_PURPOSE, _link_data(application))


def status_token(application: Application) -> str:
    return make_token(STATUS_PURPOSE, _link_data(application))


def status_link(application: Application) -> str:
    return external_url("signup.status", token=status_token(application))


def offer_token(offer: Offer) -> str:
    return make_token(OFFER_PURPOSE, {"offer": offer.id, "app": offer.application_id})


def application_for_status_token(token: str) -> Application:
    """The application a status link is for (InvalidToken when the link is bad or old)."""
    return _linked_application(read_token(STATUS_PURPOSE, token, max_age=STATUS_LINK_SECONDS))


def offer_for_token(token: str) -> Offer:
    data = read_token(OFFER_PURPOSE, token, max_age=STATUS_LINK_SECONDS)
    offer = db.session.get(Offer, data.get("offer"))
    if offer is None or offer.application_id != data.get("app"):
        raise InvalidToken("This offer link is not valid.")
    return offer


def _reload(session: Session, application_id: int) -> Application:
    application = session.get(Application, application_id, populate_existing=True)
    if application is None:
        raise NotAllowed("This application does not exist.")
    return application


# --- waitlist order ------------------------------------------------------------------------------


def waitlist_order() -> tuple[Any, ...]:
    """Staff priority first, then who confirmed their email first (the unconfirmed last, on
    every database)."""
    return (
        Application.priority.desc(),
        Application.verified_at.asc().nulls_last(),
        Application.id,
    )


def waitlist_position(application: Application) -> int | None:
    """1 for the next in line; None when not on the waitlist."""
    if application.state != S.WAITLISTED or application.verified_at is None:
        return None
    ahead = db.session.scalar(
        select(func.count())
        .select_from(Application)
        .where(
            Application.programme_id == application.programme_id,
            Application.is_plus_one.is_(application.is_plus_one),
            Application.state == S.WAITLISTED,
            or_(
                Application.priority > application.priority,
                and_(
                    Application.priority == application.priority,
                    or_(
                        Application.verified_at < application.verified_at,
                        and_(
                            Application.verified_at == application.verified_at,
                            Application.id < application.id,
                        ),
                    ),
                ),
            ),
        )
    )
    return (ahead or 0) + 1


def _waitlist_is_empty(session: Session, application: Application) -> bool:
    return not session.scalar(
        select(func.count())
        .select_from(Application)
        .where(
            Application.programme_id == application.programme_id,
            Application.is_plus_one.is_(application.is_plus_one),
            Application.state == S.WAITLISTED,
            Application.id != application.id,
        )
    )


# --- the one place states change ---------------------------------------------------------------


def _move(
    session: Session,
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
    frm = application.state_enum
    now = utcnow()
    if to in SEAT_STATES and frm not in SEAT_STATES:
        check_room(session, programme, application)
    if application.is_plus_one and frm not in LIVE_STATES and to in LIVE_STATES:
        _retake_sponsor_slot(session, application)

    offer = application.open_offer
    if frm == S.OFFERED and offer is not None:
        offer.resolved_at = now
        offer.outcome = OFFER_OUTCOMES.get(to, "revoked")
    if application.is_plus_one and to not in LIVE_STATES:
        application.active_sponsor_id = None

    application.state = to
    session.add(
        ApplicationEvent(
            application=application,
            created_at=now,
            actor_id=actor.user_id,
            actor_label=actor.label,
            kind="state",
            from_state=frm,
            to_state=to,
            reason=reason,
        )
    )
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
        session.add(new_offer)
    if frm == S.ADMITTED and to != S.ADMITTED:
        _take_access_away(application)
        _end_unconfirmed_plus_ones(session, programme, application)
    if to == S.ADMITTED:
        application.admitted_at = now
        _grant_access(application)
    session.flush()
    if notify:
        _notify(programme, application, to, new_offer)
    return new_offer


def _end_unconfirmed_plus_ones(
    session: Session, programme: Programme, sponsor: Application
) -> None:
    """A sponsor who leaves can no longer confirm a Plus One: a request still waiting for them
    ends (a Plus One already admitted keeps their place)."""
    waiting = session.scalars(
        select(Application).where(
            Application.sponsor_id == sponsor.id,
            Application.state.in_([S.UNVERIFIED, S.PENDING]),
            Application.sponsor_confirmed_at.is_(None),
        )
    ).all()
    for plus_one in waiting:
        _move(session, programme, plus_one, S.REJECTED, SYSTEM, "The sponsor left the programme")


def _retake_sponsor_slot(session: Session, application: Application) -> None:
    """A Plus One coming back to life needs its sponsor's one slot to be free."""
    if application.sponsor_id is None:
        return
    other = session.scalar(
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


# --- emails --------------------------------------------------------------------------------------

SUBJECTS = {
    "signup_verify": "Confirm your email to complete your {programme} application",
    "signup_received": "We received your application to {programme}",
    "signup_admitted": "You are admitted to {programme}",
    "signup_waitlisted": "You are on the {programme} waitlist",
    "signup_offer": "A place in {programme} is yours if you accept it",
    "signup_offer_reminder": "Reminder: your {programme} offer expires soon",
    "signup_offer_expired": "Your {programme} offer has expired",
    "signup_not_selected": "Your application to {programme}",
    "signup_withdrawn": "Your {programme} application is withdrawn",
    "signup_sponsor_request": "Please confirm a Plus One for {programme}",
    "signup_status_link": "Your {programme} application",
}

NOTIFY_TEMPLATES = {
    S.ADMITTED: "signup_admitted",
    S.WAITLISTED: "signup_waitlisted",
    S.OFFERED: "signup_offer",
    S.OFFER_EXPIRED: "signup_offer_expired",
    S.REJECTED: "signup_not_selected",
    S.WITHDRAWN: "signup_withdrawn",
}


def _email(
    programme: Programme,
    application: Application,
    template: str,
    *,
    dedupe_key: str | None = None,
    **context: Any,
) -> None:
    send_email(
        application.email,
        SUBJECTS[template].format(programme=programme.name),
        template,
        dedupe_key=dedupe_key,
        programme=programme,
        application=application,
        status_link=status_link(application),
        **context,
    )


def _offer_context(offer: Offer) -> dict[str, Any]:
    token = offer_token(offer)
    return {
        "offer": offer,
        "deadline": format_datetime(offer.expires_at),
        "accept_link": external_url("signup.answer_offer", token=token, answer="accept"),
        "decline_link": external_url("signup.answer_offer", token=token, answer="decline"),
    }


def _notify(
    programme: Programme, application: Application, to: ApplicationState, offer: Offer | None
) -> None:
    template = NOTIFY_TEMPLATES.get(to)
    if template is None:
        return
    context: dict[str, Any] = {}
    dedupe_key = None
    if to == S.WAITLISTED:
        context["position"] = waitlist_position(application)
    if to == S.OFFERED and offer is not None:
        context.update(_offer_context(offer))
        dedupe_key = f"signup-offer-{offer.id}"
    if to == S.OFFER_EXPIRED:
        expired = application.offers[-1] if application.offers else None
        if expired is not None:
            dedupe_key = f"signup-offer-expired-{expired.id}"
    _email(programme, application, template, dedupe_key=dedupe_key, **context)


# --- applying ------------------------------------------------------------------------------------


def submit_application(
    programme_id: int, data: ApplicationInput, signed_in: User | None
) -> SubmitResult:
    """Record an application. It counts once its email address is confirmed: at once when the
    applicant is signed in with that (verified) address, otherwise by the emailed link."""
    with transaction() as session:
        programme = lock_programme(session, programme_id)
        now = utcnow()
        wave = wave_for_new_applications(programme, now)
        if wave is None:
            raise ApplicationsClosed(f"{programme.name} is not taking applications at the moment.")
        if not data.accepted_guidelines:
            raise NotAllowed("Applications need the delegate guidelines to be accepted.")
        email = auth_services.normalise_email(data.email)
        github_key = data.github_username.strip().lower()
        _refuse_duplicates(session, programme, email, github_key)
        sponsor = _sponsor_for(session, programme, data.sponsor_email, email)

        account_verified = (
            signed_in is not None and signed_in.email == email and signed_in.email_verified
        )
        application = Application(
            programme=programme,
            wave=wave,
            state=S.UNVERIFIED,
            email=email,
            full_name=data.full_name.strip(),
            institution=data.institution.strip(),
            institution_type=data.institution_type,
            country=data.country,
            career_stage=data.career_stage,
            data_rights=data.data_rights,
            data_rights_basis=data.data_rights_basis.strip(),
            github_username=data.github_username.strip(),
            github_key=github_key,
            github_verified=bool(
                signed_in is not None
                and signed_in.github_username
                and signed_in.github_username.lower() == github_key
            ),
            experience_python=data.experience_python,
            experience_jupyter=data.experience_jupyter,
            experience_sql=data.experience_sql,
            contribution=data.contribution.strip(),
            preferred_language=data.preferred_language,
            guidelines_accepted_at=now,
            is_plus_one=sponsor is not None,
            sponsor_id=sponsor.id if sponsor else None,
            active_sponsor_id=sponsor.id if sponsor else None,
            user=signed_in if account_verified else None,
            created_at=now,
            collaborations=[
                CollaborationMembership(code=code)
                for code in sorted(set(data.science_collaborations))
            ],
        )
        try:
            with session.begin_nested():
                session.add(application)
                session.flush()
        except IntegrityError as exc:
            # The unique constraints are the real guard; the checks above give the message.
            raise DuplicateApplication(
                "An application with this email address or GitHub username already exists.",
                "email",
            ) from exc
        session.add(
            ApplicationEvent(
                application=application,
                created_at=now,
                actor_label=APPLICANT.label,
                from_state=None,
                to_state=S.UNVERIFIED,
                reason="Application submitted",
            )
        )
        if account_verified:
            _confirmed(session, programme, application, "Submitted while signed in")
            return SubmitResult(application, needs_verification=False)
        _send_verification(programme, application)
        return SubmitResult(application, needs_verification=True)


def _refuse_duplicates(session: Session, programme: Programme, email: str, github_key: str) -> None:
    """One application per person. An application whose email was never confirmed and whose
    link has expired does not count: it is removed, so that a mistyped address cannot block a
    GitHub username for good."""
    existing = session.scalars(
        select(Application).where(
            Application.programme_id == programme.id,
            or_(Application.email == email, Application.github_key == github_key),
        )
    ).all()
    link_expired = utcnow() - timedelta(seconds=current_app.config["TOKEN_MAX_AGE_SECONDS"])
    for other in existing:
        if other.state == S.UNVERIFIED and other.created_at <= link_expired:
            session.delete(other)
            session.flush()
            continue
        if other.email == email:
            raise DuplicateApplication(
                f"There is already an application to {programme.name} from this email address "
                "(one per person). Use the link in our email to see its status, or ask for a "
                "new link on the status page.",
                "email",
            )
        raise DuplicateApplication(
            f"There is already an application to {programme.name} with this GitHub username "
            "(one per person).",
            "github_username",
        )


def _sponsor_for(
    session: Session, programme: Programme, sponsor_email: str, applicant_email: str
) -> Application | None:
    """The admitted delegate named as Plus One sponsor, if they can sponsor (one each)."""
    if not sponsor_email.strip():
        return None
    email = auth_services.normalise_email(sponsor_email)
    if email == applicant_email:
        raise InvalidSponsor("You cannot be your own Plus One sponsor.")
    sponsor = session.scalar(
        select(Application).where(
            Application.programme_id == programme.id,
            Application.email == email,
            Application.state == S.ADMITTED,
            Application.is_plus_one.is_(False),
        )
    )
    if sponsor is None:
        raise InvalidSponsor(
            f"We found no admitted {programme.name} delegate with this email address. A Plus "
            "One sponsor must be an admitted delegate; check the address with them."
        )
    if session.scalar(select(Application.id).where(Application.active_sponsor_id == sponsor.id)):
        raise InvalidSponsor("This delegate already sponsors a Plus One (one each).")
    if programme.plus_one_capacity <= 0:
        raise InvalidSponsor(f"{programme.name} has no Plus One places.")
    return sponsor


def _send_verification(programme: Programme, application: Application) -> None:
    _email(
        programme,
        application,
        "signup_verify",
        link=external_url("signup.verify", token=verify_token(application)),
    )


def verify_application(token: str) -> Application:
    """Confirm the email address of an application from the emailed link (a second click
    changes nothing)."""
    data = read_token(VERIFY_PURPOSE, token)
    with transaction() as session:
        found = _linked_application(data)
        programme = lock_programme(session, found.programme_id)
        application = _reload(session, found.id)
        if application.state == S.UNVERIFIED:
            _confirmed(session, programme, application, "Email address confirmed")
        return application


def _confirmed(
    session: Session, programme: Programme, application: Application, reason: str
) -> None:
    """The application counts from now: admit, waitlist or wait for a decision."""
    now = utcnow()
    application.verified_at = now
    if application.user is None:
        account = auth_services.find_user_by_email(application.email)
        if account is not None and account.email_verified:
            application.user = account
    _move(session, programme, application, S.PENDING, APPLICANT, reason, notify=False)
    if application.is_plus_one:
        _ask_sponsor(programme, application)
        _email(programme, application, "signup_received")
        return
    wave = application.wave
    if (
        wave.mode_enum == AdmissionMode.FCFS
        and wave.status(now) == "open"
        and application.data_rights == "yes"
    ):
        _admit_or_waitlist(session, programme, application, "First come, first served")
        return
    _email(programme, application, "signup_received")


def _admit_or_waitlist(
    session: Session, programme: Programme, application: Application, reason: str
) -> ApplicationState:
    """Admit while there is room and nobody is waiting ahead; otherwise join the waitlist."""
    if _waitlist_is_empty(session, application):
        try:
            _move(session, programme, application, S.ADMITTED, SYSTEM, reason)
            return S.ADMITTED
        except CapacityExceeded as exc:
            reason = f"{reason}: {exc.message}"
    else:
        reason = f"{reason}: others are waiting ahead"
    _move(session, programme, application, S.WAITLISTED, SYSTEM, reason)
    return S.WAITLISTED


def send_status_links(email: str) -> None:
    """Email the status link of every application from this address (the page says the same
    whether or not there is one, so the form does not reveal who applied)."""
    with transaction() as session:
        applications = session.scalars(
            select(Application).where(Application.email == auth_services.normalise_email(email))
        ).all()
        for application in applications:
            if application.state == S.UNVERIFIED:
                _send_verification(application.programme, application)
            else:
                _email(application.programme, application, "signup_status_link")


def applications_of(user: User) -> list[Application]:
    """A signed-in person's own applications: linked to the account, or sent from its
    verified address."""
    condition = Application.user_id == user.id
    if user.email_verified:
        condition = or_(condition, Application.email == user.email)
    return list(
        db.session.scalars(select(Application).where(condition).order_by(Application.id.desc()))
    )


# --- what applicants do --------------------------------------------------------------------------


def withdraw(application_id: int, reason: str = "") -> Application:
    """The applicant leaves: the seat (if any) is free at once and passes on."""
    with transaction() as session:
        found = session.get(Application, application_id)
        if found is None:
            raise NotAllowed("This application does not exist.")
        programme = lock_programme(session, found.programme_id)
        application = _reload(session, application_id)
        if application.state not in LIVE_STATES:
            raise NotAllowed(
                f"This application is already closed ({application.state_enum.label.lower()})."
            )
        _move(
            session,
            programme,
            application,
            S.WITHDRAWN,
            APPLICANT,
            reason.strip() or "Withdrawn by the applicant",
        )
        return application


def answer_offer(token: str, accept: bool) -> Application:
    """Accept (the seat becomes an admission) or decline (it passes on) an offer."""
    found = offer_for_token(token)
    with transaction() as session:
        programme = lock_programme(session, found.application.programme_id)
        application = _reload(session, found.application_id)
        offer = session.get(Offer, found.id, populate_existing=True)
        assert offer is not None
        if offer.resolved_at is not None or application.state != S.OFFERED:
            raise OfferClosed(f"This offer is closed (it was {offer.outcome or 'withdrawn'}).")
        if utcnow() >= offer.expires_at:
            raise OfferClosed(
                f"This offer expired on {format_datetime(offer.expires_at)}; the place has "
                "passed to the next person on the waitlist."
            )
        if accept:
            _move(session, programme, application, S.ADMITTED, APPLICANT, "Accepted the offer")
        else:
            _move(session, programme, application, S.DECLINED, APPLICANT, "Declined the offer")
        return application


def _ask_sponsor(programme: Programme, application: Application) -> None:
    sponsor = application.sponsor
    if sponsor is None:
        return
    _email(
        programme,
        sponsor,
        "signup_sponsor_request",
        plus_one=application,
        link=external_url("signup.sponsor", token=sponsor_token(application)),
    )


def sponsor_token(plus_one: Application) -> str:
    """The sponsor's link for answering one Plus One request."""
    return make_token(SPONSOR_PURPOSE, {"sponsor": plus_one.sponsor_id, "plus_one": plus_one.id})


def sponsorship_for_token(token: str) -> tuple[Application, Application]:
    """The (sponsor, Plus One) pair a sponsor's link is about."""
    data = read_token(SPONSOR_PURPOSE, token, max_age=SPONSOR_LINK_SECONDS)
    sponsor = db.session.get(Application, data.get("sponsor"))
    plus_one = db.session.get(Application, data.get("plus_one"))
    if sponsor is None or plus_one is None or plus_one.sponsor_id != sponsor.id:
        raise InvalidToken("This link is not valid.")
    return sponsor, plus_one


def answer_sponsorship(token: str, confirm: bool) -> Application:
    """The sponsor confirms (the Plus One is admitted within its quota, or waits for a place)
    or declines (the Plus One is not selected)."""
    found_sponsor, found = sponsorship_for_token(token)
    with transaction() as session:
        programme = lock_programme(session, found.programme_id)
        plus_one = _reload(session, found.id)
        sponsor = _reload(session, found_sponsor.id)
        if plus_one.state != S.PENDING or plus_one.sponsor_confirmed_at is not None:
            raise NotAllowed("This request has already been answered.")
        if sponsor.state != S.ADMITTED:
            raise NotAllowed("Only an admitted delegate can sponsor a Plus One.")
        if not confirm:
            _move(
                session,
                programme,
                plus_one,
                S.REJECTED,
                SPONSOR,
                f"The sponsor ({sponsor.email}) did not confirm",
            )
            return plus_one
        plus_one.sponsor_confirmed_at = utcnow()
        if plus_one.data_rights == "yes":
            _admit_or_waitlist(
                session, programme, plus_one, f"Plus One confirmed by {sponsor.email}"
            )
        return plus_one


# --- what staff do -------------------------------------------------------------------------------


def _lock_for(session: Session, application_ids: Iterable[int]) -> dict[int, Programme]:
    """Lock every programme the applications belong to, in id order (one lock order)."""
    programme_ids = set(
        session.scalars(
            select(Application.programme_id).where(Application.id.in_(list(application_ids)))
        )
    )
    return {pid: lock_programme(session, pid) for pid in sorted(programme_ids)}


def decide(application_ids: Sequence[int], action: str, staff: User, reason: str) -> BulkResult:
    """Admit, waitlist or reject applications, in the order given. Admission stops at the
    limits: whoever does not fit is reported, and everyone who fits is admitted."""
    if action not in STAFF_ACTIONS:
        raise NotAllowed(f"Unknown action {action!r}.")
    to, allowed_from = STAFF_ACTIONS[action]
    actor = Actor.staff(staff)
    result = BulkResult()
    with transaction() as session:
        programmes = _lock_for(session, application_ids)
        for application_id in dict.fromkeys(application_ids):
            application = session.get(Application, application_id, populate_existing=True)
            if application is None:
                continue
            if application.state not in allowed_from:
                result.skipped.append(
                    (application, f"cannot {action} from {application.state_enum.label.lower()}")
                )
                continue
            try:
                _move(session, programmes[application.programme_id], application, to, actor, reason)
            except CapacityExceeded as exc:
                result.not_fitted.append((application, exc.message))
            except NotAllowed as exc:
                result.skipped.append((application, exc.message))
            else:
                result.changed.append(application)
    return result


def admit_into_wave(
    wave_id: int, application_ids: Sequence[int], staff: User, reason: str
) -> BulkResult:
    """Admit applications (pending, from any wave of the programme) into one wave, in the
    order given, up to its limits; whoever does not fit is reported and stays where they were."""
    result = BulkResult()
    actor = Actor.staff(staff)
    with transaction() as session:
        wave = session.get(Wave, wave_id)
        if wave is None:
            raise NotAllowed("This wave does not exist.")
        programme = lock_programme(session, wave.programme_id)
        for application_id in dict.fromkeys(application_ids):
            application = session.get(Application, application_id, populate_existing=True)
            if application is None or application.programme_id != programme.id:
                continue
            if application.state not in STAFF_ACTIONS["admit"][1] or application.is_plus_one:
                result.skipped.append(
                    (application, f"cannot admit from {application.state_enum.label.lower()}")
                )
                continue
            previous = application.wave
            application.wave = wave
            try:
                _move(session, programme, application, S.ADMITTED, actor, reason)
            except CapacityExceeded as exc:
                application.wave = previous
                result.not_fitted.append((application, exc.message))
            else:
                result.changed.append(application)
    return result


def _undo(
    session: Session, programme: Programme, application: Application, actor: Actor, reason: str
) -> None:
    """Put an application back in the state it had before its last change (an offer comes
    back as a place on the waitlist), within the limits like any admission."""
    last = next((event for event in reversed(application.events) if event.kind == "state"), None)
    if last is None or last.from_state in (None, S.UNVERIFIED):
        raise NotAllowed("there is no decision to undo")
    target = S(last.from_state)
    if target == S.OFFERED:
        target = S.WAITLISTED
    if target == application.state:
        raise NotAllowed(f"it is already {target.label.lower()}")
    _move(
        session,
        programme,
        application,
        target,
        actor,
        f"Undo ({last.from_state} → {last.to_state}): {reason}",
    )


def undo_last_changes(application_ids: Sequence[int], staff: User, reason: str) -> BulkResult:
    """Undo the last change of several applications; each that cannot be undone is reported."""
    result = BulkResult()
    actor = Actor.staff(staff)
    with transaction() as session:
        programmes = _lock_for(session, application_ids)
        for application_id in dict.fromkeys(application_ids):
            application = session.get(Application, application_id, populate_existing=True)
            if application is None:
                continue
            try:
                _undo(session, programmes[application.programme_id], application, actor, reason)
            except CapacityExceeded as exc:
                result.not_fitted.append((application, exc.message))
            except NotAllowed as exc:
                result.skipped.append((application, exc.message))
            else:
                result.changed.append(application)
    return result


def set_priority(application_id: int, priority: int, staff: User, reason: str) -> Application:
    with transaction() as session:
        _lock_for(session, [application_id])
        application = _reload(session, application_id)
        before = application.priority
        application.priority = priority
        session.add(
            ApplicationEvent(
                application=application,
                actor_id=staff.id,
                actor_label=Actor.staff(staff).label,
                kind="priority",
                from_state=application.state,
                to_state=application.state,
                reason=f"Priority {before} → {priority}: {reason}",
            )
        )
        return application


def add_note(application_id: int, staff: User, body: str) -> StaffNote:
    with transaction() as session:
        application = session.get(Application, application_id)
        if application is None:
            raise NotAllowed("This application does not exist.")
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
        programme = lock_programme(session, programme_id)
        waiting = session.scalars(
            select(Application)
            .where(Application.programme_id == programme_id, Application.state == S.WAITLISTED)
            .order_by(*waitlist_order())
        ).all()
        for application in waiting:
            _move(session, programme, application, S.REJECTED, Actor.staff(staff), reason)
        return len(waiting)


# --- the worker's job ----------------------------------------------------------------------------


def run_signup_cycle() -> CycleReport:
    """Expire and remind offers, carry waitlists over, admit first-come-first-served
    applications waiting for their wave to open, and offer free seats to the waitlist.

    Each programme is handled in its own locked transaction, and every step looks at the
    current state only, so running it twice (or from two workers) does nothing twice.
    """
    report = CycleReport()
    for programme_id in db.session.scalars(select(Programme.id).order_by(Programme.id)).all():
        with transaction() as session:
            programme = lock_programme(session, programme_id)
            now = utcnow()
            _expire_offers(session, programme, now, report)
            _remind_offers(session, programme, now, report)
            _carry_over_waitlists(session, programme, now, report)
            _admit_waiting_first_come(session, programme, now, report)
            _offer_free_seats(session, programme, now, report)
    return report


def _open_offers(session: Session, programme: Programme) -> Sequence[Offer]:
    return session.scalars(
        select(Offer)
        .join(Application)
        .where(Application.programme_id == programme.id, Offer.resolved_at.is_(None))
        .order_by(Offer.expires_at, Offer.id)
    ).all()


def _expire_offers(
    session: Session, programme: Programme, now: datetime, report: CycleReport
) -> None:
    for offer in _open_offers(session, programme):
        if offer.expires_at <= now and offer.application.state == S.OFFERED:
            _move(
                session,
                programme,
                offer.application,
                S.OFFER_EXPIRED,
                SYSTEM,
                "No answer before the deadline",
            )
            report.expired += 1


def reminder_due(offer: Offer) -> datetime:
    """A day before expiry (halfway, for offers shorter than two days)."""
    halfway = offer.created_at + (offer.expires_at - offer.created_at) / 2
    return max(offer.expires_at - REMINDER_BEFORE_EXPIRY, halfway)


def _remind_offers(
    session: Session, programme: Programme, now: datetime, report: CycleReport
) -> None:
    for offer in _open_offers(session, programme):
        if offer.reminded_at is None and reminder_due(offer) <= now < offer.expires_at:
            offer.reminded_at = now
            _email(
                programme,
                offer.application,
                "signup_offer_reminder",
                dedupe_key=f"signup-offer-reminder-{offer.id}",
                **_offer_context(offer),
            )
            report.reminded += 1


def _carry_over_waitlists(
    session: Session, programme: Programme, now: datetime, report: CycleReport
) -> None:
    """Waitlisted people of a wave that has given way to the next move with it, unless that
    wave's waitlist was set not to carry over: then they are told they were not selected."""
    wave = current_wave(programme, now)
    waiting = session.scalars(
        select(Application)
        .where(
            Application.programme_id == programme.id,
            Application.state == S.WAITLISTED,
            Application.is_plus_one.is_(False),
        )
        .order_by(*waitlist_order())
    ).all()
    for application in waiting:
        old = application.wave
        if old is wave or old.status(now) == "upcoming":
            continue
        if not old.carry_over_waitlist:
            old.waitlist_closed_at = old.waitlist_closed_at or now
            _move(
                session,
                programme,
                application,
                S.REJECTED,
                SYSTEM,
                f"The waitlist of {old.name} closed",
            )
            report.closed += 1
        elif wave is not None:
            application.wave = wave
            session.add(
                ApplicationEvent(
                    application=application,
                    created_at=now,
                    actor_label=SYSTEM.label,
                    kind="wave",
                    from_state=application.state,
                    to_state=application.state,
                    reason=f"Waitlist carried over from {old.name} to {wave.name}",
                )
            )
            report.carried_over += 1


def _admit_waiting_first_come(
    session: Session, programme: Programme, now: datetime, report: CycleReport
) -> None:
    """Applications confirmed before their first-come-first-served wave opened are taken in
    the order they were confirmed, once it opens."""
    wave = current_wave(programme, now)
    if wave is None or wave.mode_enum != AdmissionMode.FCFS:
        return
    waiting = session.scalars(
        select(Application)
        .where(
            Application.wave_id == wave.id,
            Application.state == S.PENDING,
            Application.is_plus_one.is_(False),
            Application.data_rights == "yes",
        )
        .order_by(Application.verified_at, Application.id)
    ).all()
    for application in waiting:
        outcome = _admit_or_waitlist(
            session, programme, application, f"First come, first served as {wave.name} opened"
        )
        if outcome == S.ADMITTED:
            report.admitted += 1
        else:
            report.waitlisted += 1


def _offer_free_seats(
    session: Session, programme: Programme, now: datetime, report: CycleReport
) -> None:
    wave = current_wave(programme, now)
    if wave is not None:
        report.offered += _offer_seats(
            session, programme, free_seats(session, programme, wave), False, wave
        )
    plus_one_free = programme.plus_one_capacity - seats_held(session, programme.id, plus_one=True)
    report.offered += _offer_seats(session, programme, plus_one_free, True, None)


def _offer_seats(
    session: Session, programme: Programme, free: int, plus_one: bool, wave: Wave | None
) -> int:
    if free <= 0:
        return 0
    query = (
        select(Application)
        .where(
            Application.programme_id == programme.id,
            Application.state == S.WAITLISTED,
            Application.is_plus_one.is_(plus_one),
        )
        .order_by(*waitlist_order())
        .limit(free)
    )
    if wave is not None:
        query = query.where(Application.wave_id == wave.id)
    made = 0
    for application in session.scalars(query).all():
        place = wave.name if wave is not None else "the Plus One quota"
        try:
            _move(session, programme, application, S.OFFERED, SYSTEM, f"A seat is free in {place}")
        except CapacityExceeded:
            break
        made += 1
    return made
