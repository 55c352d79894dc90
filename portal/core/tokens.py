"""Signed, expiring tokens for links sent by email (verification, password reset, status pages)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class InvalidToken(Exception):
    """The link is damaged, meant for something else, or too old."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"dp0-portal.{purpose}")


def make_token(purpose: str, data: Any) -> str:
    """Sign `data` for one purpose; a token for one purpose is useless for another."""
    return _serializer(purpose).dumps(data)


def read_token(purpose: str, token: str, max_age: int | None = None) -> Any:
    """Check a token's signature and age and return its data, or raise InvalidToken."""
    max_age = max_age if max_age is not None else current_app.config["TOKEN_MAX_AGE_SECONDS"]
    try:
        return _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise InvalidToken("This link has expired. Ask for a new one.") from exc
    except BadSignature as exc:
        raise InvalidToken("This link is not valid. Check that you copied all of it.") from exc
