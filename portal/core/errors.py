"""The one error hierarchy for what a person asked that cannot be done, friendly error pages,
and JSON errors with a reason for API paths."""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, TooManyRequests

from portal.core.templating import format_wait
from portal.extensions import limiter

log = logging.getLogger("portal.errors")


class UserError(Exception):
    """Something a person asked for that cannot be done, with the message they are shown and
    the HTTP status it answers with. Every feature's errors derive from this class, so pages and
    the API handle them in one place each (`init_error_handlers`); a view that re-shows a form
    catches it to put the message beside the fields instead.

    `field` names the form field the message belongs to, where there is one.
    """

    status: int = 422
    default_message: str = "That cannot be done."

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or self.default_message
        self.field = field
        super().__init__(self.message)

    @property
    def code(self) -> str:
        """A stable machine-readable name for API clients, from the class name."""
        name = type(self).__name__
        return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


class NotFound(UserError):
    """The thing does not exist, or does not exist for this person."""

    status = 404
    default_message = "We could not find that."


class Forbidden(UserError):
    """The person may not do this."""

    status = 403
    default_message = "Your account may not do that."


class Conflict(UserError):
    """The thing's current state does not allow this (someone else may have changed it)."""

    status = 409
    default_message = "That is no longer possible: the page may be out of date."


MESSAGES = {
    400: "The request could not be understood.",
    401: "Please sign in to see this page.",
    403: "Your account does not have access to this page.",
    404: "We could not find that page.",
    405: "That action is not allowed here.",
    413: "The upload is too large.",
    429: "Too many attempts. Please wait a little and try again.",
    500: "Something went wrong on our side. It has been logged; please try again.",
}


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/slack/")) or (
        request.accept_mimetypes.best == "application/json"
    )


def error_response(status: int, reason: str, name: str | None = None) -> ResponseReturnValue:
    if wants_json():
        response = jsonify(
            error=name or MESSAGES.get(status, "error"), reason=reason, status=status
        )
        response.status_code = status
        return response
    return render_template("error.html", status=status, reason=reason), status


def _seconds_until_allowed() -> int:
    """When the rate limit that refused this request lets the next one through."""
    refusing = limiter.current_limit
    if refusing is None:
        return 60
    return max(1, math.ceil(refusing.reset_at - time.time()))


def init_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError) -> ResponseReturnValue:
        return error_response(
            400,
            "This form has expired or did not come from this site. Reload the page and try again.",
            "csrf_failed",
        )

    @app.errorhandler(UserError)
    def _user_error(error: UserError) -> ResponseReturnValue:
        return error_response(error.status, error.message, error.code)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> ResponseReturnValue:
        status = error.code or 500
        if status == 401 and not wants_json():
            flash(MESSAGES[401], "info")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        custom = error.description and error.description != type(error).description
        reason = error.description if custom else MESSAGES.get(status, error.description or "")
        wait = _seconds_until_allowed() if isinstance(error, TooManyRequests) else None
        if wait is not None:
            # The limit itself ("10 per 1 minute") tells a person less than when to come back.
            reason = f"Too many attempts from your address. Try again in {format_wait(wait)}."
        response = make_response(
            error_response(status, str(reason), error.name.lower().replace(" ", "_"))
        )
        # The headers the status calls for (Allow on a 405, Retry-After on a 429) come with
        # the error; its own Content-Type is for the page this response replaces.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers.setdefault(name, value)
        if wait is not None:
            response.headers.setdefault("Retry-After", str(wait))
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> ResponseReturnValue:
        if isinstance(error, HTTPException):
            return _http(error)
        log.exception("unhandled error", exc_info=error)
        return error_response(500, MESSAGES[500], "internal_server_error")
