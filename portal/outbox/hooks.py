"""Callbacks a feature registers to learn what became of its messages, in the transaction that
records it, so whatever the feature shows about a message is current the moment it changes."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app

from portal.core.db import transaction
from portal.outbox.models import OutboxMessage

DeliveryHook = Callable[[OutboxMessage], None]


def on_delivered(app: Flask, channel: str, hook: DeliveryHook) -> None:
    """Call `hook(message)` whenever a message of `channel` is sent, fails for a while (and
    waits for a retry) or is given up, inside the transaction that records it."""
    app.extensions.setdefault("portal.delivery_hooks", {}).setdefault(channel, []).append(hook)


def run_delivery_hooks(message: OutboxMessage) -> None:
    """Tell the message's channel's hooks what happened to it (the caller's transaction)."""
    hooks: dict[str, list[DeliveryHook]] = current_app.extensions.get("portal.delivery_hooks", {})
    for hook in hooks.get(message.channel, []):
        hook(message)


def run_delivery_hooks_after_commit(message_ids: list[int]) -> None:
    """Tell the hooks about messages a claim gave up, each in its own transaction after the
    claim's. The claim holds its messages FOR UPDATE: a hook waiting there for a feature's row
    could deadlock with that feature referencing one of those messages from that row's change."""
    for message_id in message_ids:
        with transaction() as session:
            message = session.get(OutboxMessage, message_id)
            if message is not None:
                run_delivery_hooks(message)
