"""The JSON API's shared parts: the OpenAPI contract, bearer tokens, errors with reasons, pages."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from functools import wraps
from http import HTTPStatus
from typing import Any, Protocol, TypeVar

from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from spectree import Response as Responses
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from spectree.models import SecureType

from portal.core.request_input import MAX_PAGE
from portal.core.roles import Role
from portal.core.security import public
from portal.extensions import csrf

F = TypeVar("F", bound=Callable[..., Any])

API_VERSION = "1"
MAX_PER_PAGE = 200


class TokenOwner(Protocol):
    """What the API needs of the account a token belongs to."""

    id: int
    email: str
    role: Role
    support_tier: int | None

    def has_role(self, role: Role) -> bool: ...


TokenLoader = Callable[[str], TokenOwner | None]

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class RequestModel(BaseModel):
    """A JSON body the API accepts: a key it does not know is refused, not silently ignored
    (a misspelt key would otherwise look like an accepted request)."""

    model_config = ConfigDict(extra="forbid")


class QueryModel(BaseModel):
    """Query parameters the API reads. Others are ignored: an OpenAPI parameter list cannot
    say "no other parameters", so refusing them would break the contract."""


class PageQuery(QueryModel):
    """`page` and `per_page`, for every paginated list."""

    page: int = Field(1, ge=1, le=MAX_PAGE, description="Which page, counting from 1.")
    per_page: int = Field(50, ge=1, le=MAX_PER_PAGE, description="How many items a page holds.")


class ResponseModel(BaseModel):
    """A JSON answer: exactly these keys (the contract lists every one), checked as the view
    returns it."""

    model_config = ConfigDict(extra="forbid")


class ApiError(ResponseModel):
    """Every refusal: a short machine-readable name, the reason in words, the HTTP status."""

    error: str = Field(description="A stable name for the kind of error, e.g. ticket_not_found.")
    reason: str = Field(description="What was wrong, in words a person can act on.")
    status: int = Field(description="The HTTP status, repeated for scripts that log bodies.")


class Me(ResponseModel):
    id: int
    email: str
    role: Role
    tier: int | None = Field(description="The help-desk tier (1-3), if the account has one.")


# What each refusal means, as the contract describes it.
ERROR_DESCRIPTIONS = {
    400: "The request could not be read: the body is not a JSON object, or a NUL character.",
    401: "No API token was sent, or it is not valid or has been revoked.",
    403: "The token's account may not do this.",
    404: "There is no such record (or page).",
    409: "The record's current state does not allow this.",
    415: "The body is not JSON (send Content-Type: application/json).",
    422: "A parameter or field is missing or not one the API accepts; `reason` says which.",
}


def _error_name(status: int) -> str:
    return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")


def api_error(status: int, reason: str, name: str | None = None) -> Response:
    """A JSON error that says what was wrong, for scripts to act on."""
    body = ApiError(error=name or _error_name(status), reason=reason, status=status)
    response = jsonify(body.model_dump())
    response.status_code = status
    return response


def answer(body: ResponseModel, status: int = 200) -> Response:
    """The JSON answer of an endpoint (views return a `Response`, not Flask's return-value
    union: the contract reads the views' annotations at run time)."""
    response = jsonify(body.model_dump(mode="json"))
    response.status_code = status
    return response


def describe_invalid(error: ValidationError) -> str:
    """A validation error as one line: each field with what is wrong with it."""
    problems: dict[str, list[str]] = {}
    for item in error.errors(include_url=False):
        field = str(item["loc"][0]) if item["loc"] else "body"
        messages = problems.setdefault(field, [])
        if item["msg"] not in messages:
            messages.append(item["msg"])
    return "; ".join(f"{field}: {', or '.join(messages)}" for field, messages in problems.items())


def _refuse_invalid_request(
    _request: Any, _response: Any, error: Exception | None, _instance: Any, _adapter: Any
) -> None:
    if isinstance(error, ValidationError):
        abort(api_error(422, describe_invalid(error), "invalid_request"))


def _report_invalid_response(
    _request: Any, _response: Any, error: Exception | None, _instance: Any, _adapter: Any
) -> None:
    # The view built an answer the contract does not allow: a bug on our side. Which fields
    # are wrong goes to the log, without their values (they may be personal data), and
    # nothing of it to the client.
    if isinstance(error, ValidationError):
        problems = error.errors(include_url=False, include_context=False, include_input=False)
        current_app.logger.error("API response breaks the contract: %s", problems)
        abort(api_error(500, "The answer did not match the API's contract; it has been logged."))


spec = SpecTree(
    "flask",
    # Only the endpoints declared with `operation`; the portal's pages are not the API.
    mode="strict",
    title="DP0 community portal API",
    version=API_VERSION,
    description="Staff scripts and integrations: the help desk's tickets and the sign-up "
    "programmes' numbers, applications and delegates. Every endpoint needs a staff account's "
    "API token (from the account page, or `portal create-token`) sent as "
    "`Authorization: Bearer <token>`. Errors are JSON: `error`, `reason` and `status`.",
    security_schemes=[
        SecurityScheme(
            name="token",
            data=SecuritySchemeData(
                type=SecureType.HTTP, scheme="bearer", description="A staff API token."
            ),
        )
    ],
    security={"token": []},
    before=_refuse_invalid_request,
    after=_report_invalid_response,
    validation_error_model=ApiError,
    # Schemas named as the models are (the models' names are unique across the API), so the
    # document reads "TicketSummary", not a name with a hash of its module.
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
)


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


def _json_body_required[V: Callable[..., Any]](view: V) -> V:
    """Refuse a body that is not a JSON object before it is validated, so the reason says so
    instead of listing every field as missing."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not request.is_json:
            return api_error(415, "Send a JSON object (Content-Type: application/json).")
        if not isinstance(request.get_json(silent=True), dict):
            return api_error(400, "The body is not a JSON object.")
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def operation(
    ok: type[ResponseModel],
    *,
    status: int = 200,
    errors: Iterable[int] = (),
    tag: str,
    role: Role = Role.STAFF,
    path: dict[str, str] | None = None,
) -> Callable[[F], F]:
    """Declare an API endpoint in the contract and hold it to it: the token (with `role`) is
    checked first, then the `query` and `json` arguments the view annotates with models
    (422 with a reason when they do not fit), and the answer is checked against `ok` for
    `status`. `errors` are the refusals it can answer besides 400, 401, 403 and 422; `path`
    describes the path's parameters."""

    def decorator(view: F) -> F:
        codes = sorted({400, 401, 403, 422, *errors})
        responses = Responses(
            **{f"HTTP_{status}": ok},
            **{f"HTTP_{code}": (ApiError, ERROR_DESCRIPTIONS[code]) for code in codes},
        )
        validated: F = spec.validate(
            resp=responses,
            tags=[tag],
            operation_id=view.__name__,
            path_parameter_descriptions=path,
        )(view)
        if "json" in inspect.signature(view).parameters:
            validated = _json_body_required(validated)
        return token_required(role)(validated)

    return decorator


@bp.route("/me")
@operation(Me, tag="account")
def me() -> Response:
    """Who the token belongs to: a quick check that a script is set up right."""
    user: TokenOwner = g.api_user
    return answer(Me(id=user.id, email=user.email, role=user.role, tier=user.support_tier))


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI 3.1 document, generated from the endpoints declared with `operation`
    (in an app context: it reads the app's routes, once per process, as every app built from
    this code serves the same API)."""
    document: dict[str, Any] = spec.spec
    return document


@bp.route("/openapi.json")
@public
def openapi() -> ResponseReturnValue:
    """The contract, for anyone (no token needed: the contract is public, the data behind it
    is not)."""
    return jsonify(openapi_document())


def register_api_blueprint(app: Flask, blueprint: Blueprint) -> None:
    """API blueprints authenticate by token, not cookie, so CSRF does not apply to them."""
    csrf.exempt(blueprint)
    app.register_blueprint(blueprint)


def init_app(app: Flask, token_loader: TokenLoader) -> None:
    """Serve the API; `token_loader` finds the account a raw bearer token belongs to (the
    accounts feature provides it, so the core never imports a feature)."""
    app.extensions["portal.token_loader"] = token_loader
    register_api_blueprint(app, bp)
