"""Rate limits shared by every feature: forms that send an email are limited per client address
and per recipient, counting only the requests that sent one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from flask import Response, current_app, request

from portal.extensions import limiter


def mail_limit() -> str:
    """The per-client-address limit of requests that send an email (`MAIL_RATE_LIMIT`)."""
    return str(current_app.config["MAIL_RATE_LIMIT"])


def _mail_recipient_limit() -> str:
    return str(current_app.config["MAIL_RECIPIENT_RATE_LIMIT"])


def _mail_recipient_key() -> str:
    return "mail-to:" + request.form.get("email", "").strip().lower()


def _mail_was_sent(response: Response) -> bool:
    # These forms answer 200 ("check your email") exactly when they send; a rejected form
    # sends nothing and so does not count.
    return response.status_code == 200


def mail_recipient_limit[V: Callable[..., Any]](view: V) -> V:
    """Limit a form that sends an email to the address in its `email` field per recipient, so
    that no one can flood an inbox from many client addresses."""
    per_recipient = limiter.limit(
        _mail_recipient_limit,
        methods=["POST"],
        key_func=_mail_recipient_key,
        deduct_when=_mail_was_sent,
    )
    return cast(V, per_recipient(view))


def mail_sending_limits[V: Callable[..., Any]](view: V) -> V:
    """Limit a form that sends an email per client address and per recipient (its `email`)."""
    per_address = limiter.limit(mail_limit, methods=["POST"], deduct_when=_mail_was_sent)
    return cast(V, per_address(mail_recipient_limit(view)))
