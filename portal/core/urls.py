"""Absolute links to the portal that work outside a request (emails, Slack, the worker)."""

from __future__ import annotations

from typing import Any, TypeGuard
from urllib.parse import urlsplit

from flask import current_app


def external_url(endpoint: str, **values: Any) -> str:
    """The full URL of an endpoint, based on PORTAL_BASE_URL rather than the current request."""
    parts = urlsplit(current_app.config["PORTAL_BASE_URL"])
    adapter = current_app.url_map.bind(
        parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme or "https"
    )
    return adapter.build(endpoint, values, force_external=True)


def is_safe_next(target: str | None) -> TypeGuard[str]:
    """Only same-site paths may be used as a post-sign-in redirect."""
    if not target:
        return False
    parts = urlsplit(target)
    return (
        not parts.scheme
        and not parts.netloc
        and target.startswith("/")
        and not target.startswith("//")
    )
