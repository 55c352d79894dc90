"""Template helpers shared by every page and email: local times, Markdown, links, navigation."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app

from portal.core.markdown import render_markdown
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
            "nav_items": current_app.extensions.get("portal.nav", []),
            "has_endpoint": lambda name: name in current_app.view_functions,
        }


def add_nav_item(app: Flask, endpoint: str, label: str, role: str | None, order: int = 50) -> None:
    """Add a link to the main navigation, shown to accounts with at least `role`
    (None: everyone, "anonymous": only the signed out)."""
    items = app.extensions.setdefault("portal.nav", [])
    items.append({"endpoint": endpoint, "label": label, "role": role, "order": order})
    items.sort(key=lambda item: item["order"])
