"""What the outbox keeps of a message once its body is removed: the delivery record (channel,
recipient, subject, times, remote id) without the text, and no copy in the development
mailbox."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import ColumnElement

from portal.outbox.models import OutboxMessage

REMOVED_TEXT = "[The text of this message was removed under the portal's privacy rules.]"
# The channels whose messages carry people's text; GitHub calls carry none.
CHANNELS_WITH_BODIES = ("email", "slack")


def body_kept() -> ColumnElement[bool]:
    """Messages whose body has not been removed."""
    return OutboxMessage.payload["body_removed_at"].as_string().is_(None)


def remove_body(message: OutboxMessage, now: datetime) -> Path | None:
    """Replace the message's text by a short notice (so a message still waiting can be sent,
    saying nothing), keeping the rest of its record. Returns the development-mailbox copy of
    the message, if there is one, for the caller to delete once the change is committed."""
    payload = dict(message.payload)
    mail_file = None
    if message.channel == "email":
        payload.update(text=REMOVED_TEXT, html=None)
        mail_file = _mail_file(message)
    elif message.channel == "slack":
        args = {key: value for key, value in payload.get("args", {}).items() if key != "blocks"}
        args["text"] = REMOVED_TEXT
        payload["args"] = args
    payload["body_removed_at"] = now.isoformat()
    message.payload = payload
    return mail_file


def _mail_file(message: OutboxMessage) -> Path | None:
    """The .eml file the development transport wrote for a message (its remote id is the
    file's name), when there is one."""
    name = message.remote_id or ""
    if not name.endswith(".eml") or Path(name).name != name:
        return None
    path = Path(current_app.config["MAIL_DIR"]) / name
    return path if path.is_file() else None
