"""What applicants and sponsors do: apply, confirm the email address, ask for their status
links, withdraw, answer an offer, and (sponsors) answer a Plus One request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from portal.auth import services as auth_services
from portal.auth.models import User
from portal.core.db import transaction, utcnow
from portal.core.templating import format_datetime
from portal.extensions import db
from portal.signup import emails
from portal.signup.attributes import COHORT_ONLY
from portal.signup.errors import (
    ApplicationsClosed,
    DuplicateApplication,
    InvalidSponsor,
    NotAllowed,
    NoticeChanged,
    OfferClosed,
)
from portal.signup.links import (
    application_for_verify_token,
    offer_for_token,
    sponsorship_for_token,
)
from portal.signup.models import (
    AdmissionMode,
    Application,
    ApplicationState,
    CollaborationMembership,
    DataRights,
    Offer,
    PrivacyNotice,
    Programme,
    WaveStatus,
)
from portal.signup.programmes import notice_in_force
from portal.signup.queries import wave_for_new_applications
from portal.signup.seats import lock_programme
from portal.signup.transitions import (
    APPLICANT,
    SPONSOR,
    admit_or_waitlist,
    move,
    record_event,
    reload,
)

S = ApplicationState


@dataclass(frozen=True)
class ApplicationInput:
    """What an applicant sends with the form."""

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
    # The privacy notice version the form showed, which the applicant accepted (None: the one
    # in force, for callers that show no form).
    privacy_notice_version: int | None = None


@dataclass
class SubmitResult:
    """What became of a submitted form. `application` is None when the form named an
    application that exists already: the person at the address typed is told by email, and the
    form's answer is the same as for a new application, so it tells no one who has applied."""

    email: str
    application: Application | None
    needs_verification: bool


def submit_application(
    programme_id: int, data: ApplicationInput, signed_in: User | None
) -> SubmitResult:
    """Record an application. It counts once its email address is confirmed: at once when the
    applicant is signed in with that (verified) address, otherwise by the emailed link."""
    with transaction() as session:
        programme = lock_programme(programme_id)
        now = utcnow()
        wave = wave_for_new_applications(programme, now)
        if wave is None:
            raise ApplicationsClosed(f"{programme.name} is not taking applications at the moment.")
        if not data.accepted_guidelines:
            raise NotAllowed("Applications need the delegate guidelines to be accepted.")
        notice = notice_in_force(programme.id)
        _check_consent(programme, data, notice)
        email = auth_services.normalise_email(data.email)
        github_key = data.github_username.strip().lower()
        account_verified = (
            signed_in is not None and signed_in.email == email and signed_in.email_verified
        )
        # Every refusal that does not depend on who has applied comes first: otherwise its
        # absence would tell that the address has an application.
        sponsor = _sponsor_for(programme, data.sponsor_email, email)
        if _answered_as_duplicate(programme, data, email, github_key, account_verified):
            return SubmitResult(email, None, needs_verification=True)
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
            data_rights=DataRights(data.data_rights),
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
            privacy_notice_version=notice.version,
            privacy_accepted_at=now,
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
                field="email",
            ) from exc
        record_event(application, APPLICANT, "Application submitted", from_state=None, at=now)
        if account_verified:
            _confirmed(programme, application, "Submitted while signed in")
            return SubmitResult(email, application, needs_verification=False)
        emails.send_verification(programme, application)
        return SubmitResult(email, application, needs_verification=True)


def _answered_as_duplicate(
    programme: Programme,
    data: ApplicationInput,
    email: str,
    github_key: str,
    account_verified: bool,
) -> bool:
    """One application per person: whether this one names an application that exists (by its
    email address or GitHub username), in which case it is not kept and the person at the
    address typed is told why by email. Only someone signed in with that very address, who
    owns it already, is told on the form instead.

    An application whose email was never confirmed and whose link has expired does not count:
    it is removed, so that a mistyped address cannot block a GitHub username for good."""
    found = db.session.scalars(
        select(Application).where(
            Application.programme_id == programme.id,
            or_(Application.email == email, Application.github_key == github_key),
        )
    ).all()
    link_expired = utcnow() - timedelta(seconds=current_app.config["TOKEN_MAX_AGE_SECONDS"])
    existing = []
    for other in found:
        if other.state == S.UNVERIFIED and other.created_at <= link_expired:
            db.session.delete(other)
            db.session.flush()
        else:
            existing.append(other)
    same_email = next((other for other in existing if other.email == email), None)
    if same_email is not None:
        if account_verified:
            raise DuplicateApplication(
                f"You have already applied to {programme.name} (one application per person): "
                "it is under My applications.",
                field="email",
            )
        emails.already_applied(programme, same_email)
        return True
    if existing:
        if account_verified:
            raise DuplicateApplication(
                f"There is already an application to {programme.name} with this GitHub "
                "username (one per person).",
                field="github_username",
            )
        emails.github_username_taken(
            programme, email, data.full_name.strip(), data.github_username.strip()
        )
        return True
    return False


def _sponsor_for(
    programme: Programme, sponsor_email: str, applicant_email: str
) -> Application | None:
    """The admitted delegate named as Plus One sponsor, if they can sponsor (one each)."""
    if not sponsor_email.strip():
        return None
    email = auth_services.normalise_email(sponsor_email)
    refused = "plus_one_sponsor"
    if email == applicant_email:
        raise InvalidSponsor("You cannot be your own Plus One sponsor.", field=refused)
    sponsor = db.session.scalar(
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
            "One sponsor must be an admitted delegate; check the address with them.",
            field=refused,
        )
    if db.session.scalar(select(Application.id).where(Application.active_sponsor_id == sponsor.id)):
        raise InvalidSponsor("This delegate already sponsors a Plus One (one each).", field=refused)
    if programme.plus_one_capacity <= 0:
        raise InvalidSponsor(f"{programme.name} has no Plus One places.", field=refused)
    return sponsor


def _check_consent(programme: Programme, data: ApplicationInput, notice: PrivacyNotice) -> None:
    """The applicant accepted the notice in force, and answered the cohort questions where the
    programme requires them."""
    if data.privacy_notice_version not in (None, notice.version):
        raise NoticeChanged(
            f"The privacy notice changed while you filled in the form (it is now version "
            f"{notice.version}). Please read it again and tick the box to accept it.",
            field="accept_privacy",
        )
    if programme.cohort_attributes_required:
        for name in COHORT_ONLY:
            if not getattr(data, name):
                raise NotAllowed(f"{programme.name} asks every applicant for this.", field=name)


def verify_application(token: str) -> Application:
    """Confirm the email address of an application from the emailed link (a second click
    changes nothing)."""
    found = application_for_verify_token(token)
    with transaction():
        programme = lock_programme(found.programme_id)
        application = reload(found.id)
        if application.state == S.UNVERIFIED:
            _confirmed(programme, application, "Email address confirmed")
        return application


def _confirmed(programme: Programme, application: Application, reason: str) -> None:
    """The application counts from now: admit, waitlist or wait for a decision."""
    now = utcnow()
    application.verified_at = now
    if application.user is None:
        account = auth_services.find_user_by_email(application.email)
        if account is not None and account.email_verified:
            application.user = account
    move(programme, application, S.PENDING, APPLICANT, reason, notify=False)
    if application.is_plus_one:
        emails.ask_sponsor(programme, application)
        emails.send(programme, application, "signup_received")
        return
    wave = application.wave
    if (
        wave.mode == AdmissionMode.FCFS
        and wave.status(now) == WaveStatus.OPEN
        and application.has_data_rights
    ):
        admit_or_waitlist(programme, application, "First come, first served")
        return
    emails.send(programme, application, "signup_received")


def send_status_links(email: str) -> None:
    """Email the status link of every application from this address (the page says the same
    whether or not there is one, so the form does not reveal who applied)."""
    with transaction() as session:
        applications = session.scalars(
            select(Application).where(Application.email == auth_services.normalise_email(email))
        ).all()
        for application in applications:
            if application.state == S.UNVERIFIED:
                emails.send_verification(application.programme, application)
            else:
                emails.send(application.programme, application, "signup_status_link")


def withdraw(application_id: int, reason: str = "") -> Application:
    """The applicant leaves: the seat (if any) is free at once and passes on."""
    with transaction():
        programme = lock_programme(reload(application_id).programme_id)
        application = reload(application_id)
        if not application.is_live:
            raise NotAllowed(
                f"This application is already closed ({application.state.label.lower()})."
            )
        move(
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
        programme = lock_programme(found.application.programme_id)
        application = reload(found.application_id)
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
            move(programme, application, S.ADMITTED, APPLICANT, "Accepted the offer")
        else:
            move(programme, application, S.DECLINED, APPLICANT, "Declined the offer")
        return application


def answer_sponsorship(token: str, confirm: bool) -> Application:
    """The sponsor confirms (the Plus One is admitted within its quota, or waits for a place)
    or declines (the Plus One is not selected)."""
    found_sponsor, found = sponsorship_for_token(token)
    with transaction():
        programme = lock_programme(found.programme_id)
        plus_one = reload(found.id)
        sponsor = reload(found_sponsor.id)
        if plus_one.state != S.PENDING or plus_one.sponsor_confirmed_at is not None:
            raise NotAllowed("This request has already been answered.")
        if sponsor.state != S.ADMITTED:
            raise NotAllowed("Only an admitted delegate can sponsor a Plus One.")
        if not confirm:
            move(
                programme,
                plus_one,
                S.REJECTED,
                SPONSOR,
                f"The sponsor ({sponsor.email}) did not confirm",
            )
            return plus_one
        plus_one.sponsor_confirmed_at = utcnow()
        if plus_one.has_data_rights:
            admit_or_waitlist(programme, plus_one, f"Plus One confirmed by {sponsor.email}")
        return plus_one
