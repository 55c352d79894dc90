"""The JSON API's shared parts: bearer-token authentication, errors with reasons, pagination."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Protocol, TypeVar

from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from portal.core.roles import Role
from portal.extensions import csrf

F = TypeVar("F", bound=Callable[..., Any])


class TokenOwner(Protocol):
    """What the API needs of the account a token belongs to."""

    id: int
    email: str
    role: Role
    support_tier: int | None

    def has_role(self, role: Role) -> bool: ...


TokenLoader = Callable[[str], TokenOwner | None]

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def api_error(status: int, reason: str) -> Response:
    """A JSON error that says what was wrong, for scripts to act on."""
    response = jsonify(error=reason, reason=reason, status=status)
    response.status_code = status
    return response


def token_required(role: Role = Role.STAFF) -> Callable[[F], F]:
    """Authenticate the request by its `Authorization: Bearer` token (never by cookie, so the
    API needs no CSRF token); `g.api_user` is the token's owner."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, raw = header.partition(" ")
            if scheme.lower() != "bearer" or not raw.strip():
                return api_error(401, "Send an API token as 'Authorization: Bearer <token>'.")
            user = current_app.extensions["portal.token_loader"](raw.strip())
            if user is None:
                return api_error(401, "The API token is not valid or has been revoked.")
            if not user.has_role(role):
                return api_error(403, f"This needs a {role.value} account.")
            g.api_user = user
            return view(*args, **kwargs)

        wrapped.required_role = "token"  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


def page_args(default_per_page: int = 50, max_per_page: int = 200) -> tuple[int, int]:
    """`page` and `per_page` from the query string, checked."""
    try:
        page = int(request.args.get("page", 1))
        per_page = int(request.args.get("per_page", default_per_page))
    except ValueError:
        abort(400, description="page and per_page must be whole numbers.")
    if page < 1 or not 1 <= per_page <= max_per_page:
        abort(400, description=f"page must be 1 or more and per_page between 1 and {max_per_page}.")
    return page, per_page


@bp.route("/me")
@token_required(Role.STAFF)
def me() -> ResponseReturnValue:
    """Who the token belongs to: a quick check that a script is set up right."""
    user: TokenOwner = g.api_user
    return jsonify(id=user.id, email=user.email, role=user.role, tier=user.support_tier)


def register_api_blueprint(app: Flask, blueprint: Blueprint) -> None:
    """API blueprints authenticate by token, not cookie, so CSRF does not apply to them."""
    csrf.exempt(blueprint)
    app.register_blueprint(blueprint)


def init_app(app: Flask, token_loader: TokenLoader) -> None:
    """Serve the API; `token_loader` finds the account a raw bearer token belongs to (the
    accounts feature provides it, so the core never imports a feature)."""
    app.extensions["portal.token_loader"] = token_loader
    register_api_blueprint(app, bp)
