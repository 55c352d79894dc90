"""The delivery outbox: every outgoing email, Slack and GitHub call is written here in the same
transaction as the change that caused it, and delivered by the worker after commit."""

from portal.outbox.hooks import on_delivered
from portal.outbox.service import enqueue, send_email

__all__ = ["enqueue", "on_delivered", "send_email"]
