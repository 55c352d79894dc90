"""Template helpers shared by every page and email: local times, Markdown, links, navigation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request, url_for
from flask_login import current_user

from portal.core.markdown import render_markdown
from portal.core.roles import Role
from portal.core.urls import external_url


def portal_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["PORTAL_TIMEZONE"])


def to_local(value: datetime | None) -> datetime | None:
    """A UTC timestamp in the portal's timezone."""
    return value.astimezone(portal_zone()) if value is not None else None


def format_datetime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    local = to_local(value)
    return local.strftime(fmt) if local is not None else ""


def format_duration(seconds: float | None) -> str:
    """Seconds as a short human duration ("3 h 5 min", "-20 min" when overdue)."""
    if seconds is None:
        return ""
    sign = "-" if seconds < 0 else ""
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{sign}{days} d {hours} h"
    if hours:
        return f"{sign}{hours} h {minutes} min"
    return f"{sign}{minutes} min"


def format_wait(seconds: int) -> str:
    """How long someone must wait, in words, rounded up ("40 seconds", "5 minutes")."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@dataclass(frozen=True)
class NavLink:
    label: str
    href: str
    current: bool


def _may_see(role: str | None) -> bool:
    if role is None:
        return True
    if role == "anonymous":
        return not current_user.is_authenticated
    return bool(current_user.is_authenticated and current_user.has_role(Role(role)))


def main_navigation() -> list[NavLink]:
    """The navigation links the current account may see. The current section is the longest
    link the address starts with, so /signup/status/... marks "Apply" and /signup/mine marks
    "My applications"."""
    shown = [
        (item["label"], url_for(item["endpoint"]))
        for item in current_app.extensions.get("portal.nav", [])
        if _may_see(item["role"])
    ]
    path = request.path
    matching = [
        href for _, href in shown if path == href or (href != "/" and path.startswith(href))
    ]
    current = max(matching, key=len, default=None)
    return [NavLink(label, href, href == current) for label, href in shown]


def init_templating(app: Flask) -> None:
    app.jinja_env.filters["localtime"] = format_datetime
    app.jinja_env.filters["duration"] = format_duration
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.globals["external_url"] = external_url
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.context_processor
    def _globals() -> dict[str, Any]:
        config = current_app.config
        return {
            "github_enabled": bool(config["GITHUB_CLIENT_ID"] and config["GITHUB_CLIENT_SECRET"]),
            "portal_timezone": config["PORTAL_TIMEZONE"],
            "main_navigation": main_navigation,
            "has_endpoint": lambda name: name in current_app.view_functions,
            "Role": Role,
        }


def add_nav_item(app: Flask, endpoint: str, label: str, role: str | None, order: int = 50) -> None:
    """Add a link to the main navigation, shown to accounts with at least `role`
    (None: everyone, "anonymous": only the signed out)."""
    items = app.extensions.setdefault("portal.nav", [])
    items.append({"endpoint": endpoint, "label": label, "role": role, "order": order})
    items.sort(key=lambda item: item["order"])
