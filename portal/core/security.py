"""Security headers on every response, and the role checks every view declares."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Response, abort, current_app, g, request, url_for
from flask_login import current_user

from portal.core.roles import Permission, Role

F = TypeVar("F", bound=Callable[..., Any])

BASE_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def content_security_policy(
    extra_script_hashes: list[str] | None = None, *, inline_styles: bool = False
) -> str:
    """The strict policy: no inline script, except exact inline blocks listed by hash.

    Inline styles are allowed only where a page asks for them (the built documentation, whose
    theme and icon scripts set styles; their scripts stay limited to the listed hashes).
    """
    policy = dict(BASE_CSP)
    if extra_script_hashes:
        policy["script-src"] += " " + " ".join(f"'{h}'" for h in extra_script_hashes)
    if inline_styles:
        policy["style-src"] += " 'unsafe-inline'"
    return "; ".join(f"{key} {value}" for key, value in policy.items())


def init_security_headers(app: Flask) -> None:
    production = app.config["PORTAL_ENV"] == "production"

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = content_security_policy(
            g.get("csp_script_hashes"), inline_styles=g.get("csp_inline_styles", False)
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if production:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if request.endpoint and not request.endpoint.endswith("static"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def _allow(may: Callable[[Any], bool], role: Role, **marks: Any) -> Callable[[F], F]:
    """Allow the view to signed-in accounts that `may` use it; others get 401 (signed out) or
    403. The view is marked with `role`, the least it needs, and `marks`, for the
    route-by-role test."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                abort(401)
            if not may(current_user):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_role = role  # type: ignore[attr-defined]
        for name, value in marks.items():
            setattr(wrapped, name, value)
        return wrapped  # type: ignore[return-value]

    return decorator


def role_required(role: Role) -> Callable[[F], F]:
    """Allow the view to accounts with at least `role`; others get 401 (signed out) or 403."""
    return _allow(lambda user: user.has_role(role), role)


def permission_required(permission: Permission) -> Callable[[F], F]:
    """Allow the view to staff accounts holding `permission` (admins hold them all); others get
    401 (signed out) or 403."""
    return _allow(
        lambda user: user.has_permission(permission),
        Role.STAFF,
        required_permission=permission,
    )


def set_landing_page(app: Flask, role: Role, endpoint: str) -> None:
    """Where accounts with at least `role` land after signing in when no page asked for it
    (staff on their queue, rather than on the page made for applicants)."""
    app.extensions.setdefault("portal.landing", {})[role] = endpoint


def landing_page(user: Any) -> str | None:
    """The landing page of the highest role `user` holds that a feature registered, if any."""
    pages: dict[Role, str] = current_app.extensions.get("portal.landing", {})
    for role in sorted(pages, key=lambda role: role.rank, reverse=True):
        if user.has_role(role):
            return url_for(pages[role])
    return None


def public[V: Callable[..., Any]](view: V) -> V:
    """Mark a view as open to everyone (the route-by-role test reads the mark)."""
    view.required_role = None  # type: ignore[attr-defined]
    return view


signed_in_required = role_required(Role.APPLICANT)
delegate_required = role_required(Role.DELEGATE)
staff_required = role_required(Role.STAFF)
admin_required = role_required(Role.ADMIN)
programme_staff_required = permission_required(Permission.PROGRAMME_STAFF)
