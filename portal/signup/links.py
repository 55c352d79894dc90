"""The signed links of sign-up emails: confirming an address, the status page, answering an
offer and a sponsor's answer to a Plus One request; and reading them back."""

from __future__ import annotations

import hashlib
from typing import Any

from portal.core.tokens import InvalidToken, make_token, read_token
from portal.core.urls import external_url
from portal.extensions import db
from portal.signup.models import Application, Offer

VERIFY_PURPOSE = "signup-verify"
STATUS_PURPOSE = "signup-status"
OFFER_PURPOSE = "signup-offer"
SPONSOR_PURPOSE = "signup-sponsor"
STATUS_LINK_SECONDS = 365 * 24 * 3600
SPONSOR_LINK_SECONDS = 30 * 24 * 3600


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


def verify_link(application: Application) -> str:
    return external_url("signup.verify", token=verify_token(application))


def status_token(application: Application) -> str:
    return make_token(STATUS_PURPOSE, _link_data(application))


def status_link(application: Application) -> str:
    return external_url("signup.status", token=status_token(application))


def offer_token(offer: Offer) -> str:
    return make_token(OFFER_PURPOSE, {"offer": offer.id, "app": offer.application_id})


def offer_link(offer: Offer, answer: str) -> str:
    """The link that accepts (`answer="accept"`) or declines the offer."""
    return external_url("signup.answer_offer", token=offer_token(offer), answer=answer)


def sponsor_token(plus_one: Application) -> str:
    """The sponsor's link for answering one Plus One request."""
    return make_token(SPONSOR_PURPOSE, {"sponsor": plus_one.sponsor_id, "plus_one": plus_one.id})


def sponsor_link(plus_one: Application) -> str:
    return external_url("signup.sponsor", token=sponsor_token(plus_one))


def application_for_verify_token(token: str) -> Application:
    """The application a confirmation link is for (InvalidToken when the link is bad or old)."""
    return _linked_application(read_token(VERIFY_PURPOSE, token))


def application_for_status_token(token: str) -> Application:
    """The application a status link is for (InvalidToken when the link is bad or old)."""
    return _linked_application(read_token(STATUS_PURPOSE, token, max_age=STATUS_LINK_SECONDS))


def offer_for_token(token: str) -> Offer:
    data = read_token(OFFER_PURPOSE, token, max_age=STATUS_LINK_SECONDS)
    offer = db.session.get(Offer, data.get("offer"))
    if offer is None or offer.application_id != data.get("app"):
        raise InvalidToken("This offer link is not valid.")
    return offer


def sponsorship_for_token(token: str) -> tuple[Application, Application]:
    """The (sponsor, Plus One) pair a sponsor's link is about."""
    data = read_token(SPONSOR_PURPOSE, token, max_age=SPONSOR_LINK_SECONDS)
    sponsor = db.session.get(Application, data.get("sponsor"))
    plus_one = db.session.get(Application, data.get("plus_one"))
    if sponsor is None or plus_one is None or plus_one.sponsor_id != sponsor.id:
        raise InvalidToken("This link is not valid.")
    return sponsor, plus_one
