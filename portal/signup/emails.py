"""The emails of sign-up: their subjects, which state change sends which, and what each says.
They go through the outbox, in the transaction of the change that sends them."""

from __future__ import annotations

from typing import Any

from portal.core.templating import format_datetime
from portal.outbox import send_email
from portal.signup.links import offer_link, sponsor_link, status_link, verify_link
from portal.signup.models import Application, ApplicationState, Offer, Programme
from portal.signup.queries import waitlist_position

S = ApplicationState

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
    "signup_already_applied": "You have already applied to {programme}",
    "signup_github_taken": "We could not take your application to {programme}",
}

NOTIFY_TEMPLATES = {
    S.ADMITTED: "signup_admitted",
    S.WAITLISTED: "signup_waitlisted",
    S.OFFERED: "signup_offer",
    S.OFFER_EXPIRED: "signup_offer_expired",
    S.REJECTED: "signup_not_selected",
    S.WITHDRAWN: "signup_withdrawn",
}


def send(
    programme: Programme,
    application: Application,
    template: str,
    *,
    dedupe_key: str | None = None,
    **context: Any,
) -> None:
    """Email the person of `application` (with their status link) in the caller's transaction."""
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


def offer_context(offer: Offer) -> dict[str, Any]:
    return {
        "offer": offer,
        "deadline": format_datetime(offer.expires_at),
        "accept_link": offer_link(offer, "accept"),
        "decline_link": offer_link(offer, "decline"),
    }


def notify(
    programme: Programme, application: Application, to: ApplicationState, offer: Offer | None
) -> None:
    """The email that tells the applicant their application is now `to`, if that state has one."""
    template = NOTIFY_TEMPLATES.get(to)
    if template is None:
        return
    context: dict[str, Any] = {}
    dedupe_key = None
    if to == S.WAITLISTED:
        context["position"] = waitlist_position(application)
    if to == S.OFFERED and offer is not None:
        context.update(offer_context(offer))
        dedupe_key = f"signup-offer-{offer.id}"
    if to == S.OFFER_EXPIRED:
        expired = application.offers[-1] if application.offers else None
        if expired is not None:
            dedupe_key = f"signup-offer-expired-{expired.id}"
    send(programme, application, template, dedupe_key=dedupe_key, **context)


def send_verification(programme: Programme, application: Application) -> None:
    send(programme, application, "signup_verify", link=verify_link(application))


def ask_sponsor(programme: Programme, plus_one: Application) -> None:
    """Ask the named sponsor to confirm a Plus One request."""
    sponsor = plus_one.sponsor
    if sponsor is None:
        return
    send(
        programme,
        sponsor,
        "signup_sponsor_request",
        plus_one=plus_one,
        link=sponsor_link(plus_one),
    )


def already_applied(programme: Programme, application: Application) -> None:
    """Tell the person of `application` that the form was sent again with their address (the
    form itself says nothing of it), with the link they need: to confirm the address if that
    is still to do, to their status page otherwise."""
    unconfirmed = application.state == S.UNVERIFIED
    send(
        programme,
        application,
        "signup_already_applied",
        unconfirmed=unconfirmed,
        link=verify_link(application) if unconfirmed else status_link(application),
    )


def github_username_taken(
    programme: Programme, email: str, full_name: str, github_username: str
) -> None:
    """Tell the person at `email` why their application was not kept: its GitHub username is on
    another application to the programme (of which nothing else is said)."""
    send_email(
        email,
        SUBJECTS["signup_github_taken"].format(programme=programme.name),
        "signup_github_taken",
        programme=programme,
        full_name=full_name,
        github_username=github_username,
    )
