"""Transports: small classes behind one interface that deliver outbox messages to the world."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, Protocol

import requests
from flask import current_app
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from portal.outbox.service import Delivery


class RetryLater(Exception):
    """The remote could not take the message now; try again (after `retry_after` seconds)."""

    def __init__(
        self, reason: str, retry_after: float | None = None, *, outcome_unknown: bool = False
    ) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown


class PermanentFailure(Exception):
    """The remote refused the message for good; retrying cannot help."""


class Transport(Protocol):
    channel: str

    def deliver(self, delivery: Delivery) -> str | None:
        """Send the message and return the remote's id for it, or raise RetryLater or
        PermanentFailure."""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def build_email(delivery: Delivery, sender: str) -> EmailMessage:
    """The MIME message for an email delivery: plain text, with an HTML alternative."""
    payload = delivery.payload
    message = EmailMessage()
    message["From"] = sender
    message["To"] = payload["to"]
    message["Subject"] = payload["subject"]
    message["Date"] = formatdate(delivery.created_at.timestamp(), localtime=False)
    message["Message-ID"] = payload["message_id"]
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(payload["text"])
    if payload.get("html"):
        message.add_alternative(payload["html"], subtype="html")
    return message


class EmailTransport:
    """SMTP when MAIL_SERVER is set; otherwise one .eml file per message under MAIL_DIR."""

    channel = "email"

    def deliver(self, delivery: Delivery) -> str | None:
        config = current_app.config
        message = build_email(delivery, config["MAIL_SENDER"])
        if not config["MAIL_SERVER"]:
            return self._write_file(delivery, message, Path(config["MAIL_DIR"]))
        return self._send_smtp(message, config)

    @staticmethod
    def _write_file(delivery: Delivery, message: EmailMessage, directory: Path) -> str:
        directory.mkdir(parents=True, exist_ok=True)
        # The name is fixed per message, so a repeated delivery rewrites the same file.
        path = directory / f"{delivery.created_at:%Y%m%d-%H%M%S}-{delivery.id:08d}.eml"
        path.write_bytes(message.as_bytes())
        return path.name

    @staticmethod
    def _send_smtp(message: EmailMessage, config: dict[str, Any]) -> str:
        timeout = config["OUTBOX_SEND_TIMEOUT_SECONDS"]
        smtp_class = smtplib.SMTP_SSL if config["MAIL_USE_SSL"] else smtplib.SMTP
        try:
            with smtp_class(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=timeout) as smtp:
                if config["MAIL_USE_TLS"]:
                    smtp.starttls(context=ssl.create_default_context())
                if config["MAIL_USERNAME"]:
                    smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentFailure(f"recipient refused: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600 and exc.smtp_code != 554:
                raise PermanentFailure(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
            raise RetryLater(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise RetryLater(f"SMTP server unavailable: {exc}") from exc
        if refused:
            raise PermanentFailure(f"recipients refused: {refused}")
        return str(message["Message-ID"])


class ShortRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack-sdk's 429 retry, taken in place only when Slack asks for a short wait: a longer
    Retry-After goes back to the outbox, so one channel's limit never stalls the worker."""

    max_wait_seconds = 2

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        values = {k.lower(): v for k, v in response.headers.items()}.get("retry-after") or ["1"]
        wait = _retry_after(values[0])
        return wait is not None and wait <= self.max_wait_seconds


class SlackTransport:
    """Slack's Web API through slack-sdk's WebClient.

    Slack has no idempotency key, so a post whose outcome is unknown (a timeout) is looked up
    by the outbox id carried in its message metadata before it is ever sent again.
    """

    channel = "slack"

    def __init__(self) -> None:
        config = current_app.config
        if not config["SLACK_BOT_TOKEN"]:
            raise PermanentFailure("SLACK_BOT_TOKEN is not set")
        self.client = WebClient(
            token=config["SLACK_BOT_TOKEN"],
            base_url=config["SLACK_API_URL"],
            timeout=config["OUTBOX_SEND_TIMEOUT_SECONDS"],
            # Only 429s are retried in place: a retried timeout could post twice.
            retry_handlers=[ShortRateLimitRetryHandler(max_retry_count=1)],
        )

    def deliver(self, delivery: Delivery) -> str | None:
        args = dict(delivery.payload["args"])
        if delivery.action == "chat.postMessage":
            if delivery.payload.get("thread_on_parent"):
                args["thread_ts"] = self._parent_ts(delivery)
            args["metadata"] = {
                "event_type": "portal_outbox",
                "event_payload": {"outbox_id": delivery.id},
            }
            if delivery.last_outcome == "unknown":
                found = self._find_posted(args["channel"], delivery)
                if found:
                    return found
            response = self._call("chat_postMessage", args)
        elif delivery.action == "chat.update":
            channel, _, ts = (delivery.depends_on_remote_id or "").partition("/")
            if not ts:
                raise PermanentFailure("the message to update was never posted")
            args.update(channel=channel, ts=ts)
            response = self._call("chat_update", args)
        else:
            raise PermanentFailure(f"unknown Slack action {delivery.action!r}")
        return f"{response['channel']}/{response['ts']}"

    @staticmethod
    def _parent_ts(delivery: Delivery) -> str:
        _, _, ts = (delivery.depends_on_remote_id or "").partition("/")
        if not ts:
            raise PermanentFailure("the thread's parent message was never posted")
        return ts

    def _call(self, method: str, args: dict[str, Any]) -> Any:
        try:
            return getattr(self.client, method)(**args)
        except SlackApiError as exc:
            status = exc.response.status_code
            error = exc.response.get("error") if exc.response.data else None
            if status == 429:
                raise RetryLater(
                    "Slack rate limit (429)", _retry_after(exc.response.headers.get("Retry-After"))
                ) from exc
            if status >= 500:
                raise RetryLater(f"Slack answered {status}") from exc
            if error in {"ratelimited", "service_unavailable", "fatal_error", "internal_error"}:
                raise RetryLater(f"Slack error {error}") from exc
            raise PermanentFailure(f"Slack refused {method}: {error or status}") from exc
        except TimeoutError as exc:
            raise RetryLater(f"Slack timed out: {exc}", outcome_unknown=True) from exc
        except OSError as exc:
            # Refused before anything was sent is safe to retry; anything else may have arrived.
            refused = isinstance(exc, ConnectionRefusedError) or "refused" in str(exc).lower()
            raise RetryLater(f"Slack unreachable: {exc}", outcome_unknown=not refused) from exc

    def _find_posted(self, channel: str, delivery: Delivery) -> str | None:
        """Look for a message this outbox row already posted, by its metadata."""
        cursor = None
        oldest = f"{delivery.created_at.timestamp() - 60:.6f}"
        for _ in range(20):
            response = self._call(
                "conversations_history",
                {
                    "channel": channel,
                    "oldest": oldest,
                    "include_all_metadata": True,
                    "limit": 200,
                    **({"cursor": cursor} if cursor else {}),
                },
            )
            for item in response.get("messages", []):
                payload = (item.get("metadata") or {}).get("event_payload") or {}
                if payload.get("outbox_id") == delivery.id:
                    return f"{response.get('channel', channel)}/{item['ts']}"
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None


class GitHubTransport:
    """Calls to GitHub's REST API (team membership); PUT and DELETE there are idempotent."""

    channel = "github"

    def deliver(self, delivery: Delivery) -> str | None:
        config = current_app.config
        if not config["GITHUB_TOKEN"]:
            raise PermanentFailure("GITHUB_TOKEN is not set")
        payload = delivery.payload
        method = payload["method"]
        try:
            response = requests.request(
                method,
                config["GITHUB_API_URL"] + payload["path"],
                json=payload.get("json"),
                headers={
                    "Authorization": f"Bearer {config['GITHUB_TOKEN']}",
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": "2022-11-28",
                },
                timeout=config["OUTBOX_SEND_TIMEOUT_SECONDS"],
            )
        except requests.RequestException as exc:
            raise RetryLater(f"GitHub unreachable: {exc}") from exc
        status = response.status_code
        if status < 300:
            try:
                body = response.json()
            except ValueError:
                body = {}
            return str(body.get("state") or status) if isinstance(body, dict) else str(status)
        if method == "DELETE" and status == 404:
            return "absent"
        rate_limited = status == 429 or (
            status == 403 and response.headers.get("x-ratelimit-remaining") == "0"
        )
        if rate_limited or status >= 500:
            raise RetryLater(
                f"GitHub answered {status}", _retry_after(response.headers.get("Retry-After"))
            )
        raise PermanentFailure(
            f"GitHub refused {method} {payload['path']}: {status} {response.text[:300]}"
        )


TRANSPORTS: dict[str, type[EmailTransport] | type[SlackTransport] | type[GitHubTransport]] = {
    "email": EmailTransport,
    "slack": SlackTransport,
    "github": GitHubTransport,
}


def transport_for(channel: str) -> Transport:
    """The transport that delivers one channel's messages."""
    try:
        return TRANSPORTS[channel]()
    except KeyError:
        raise PermanentFailure(f"no transport for channel {channel!r}") from None
