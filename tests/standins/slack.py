"""A stand-in for Slack's Web API: chat.postMessage, chat.update, conversations.history.

It keeps every message per channel, and can be told to be down, to answer 429 with Retry-After
every Nth call, to fail the next calls with given statuses, or to answer slowly.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import parse_qs

from werkzeug.wrappers import Request, Response

from tests.standins.server import StandIn, json_response, serve_forever


class SlackStandIn(StandIn):
    def __init__(self, token: str = "xoxb-test-token") -> None:  # noqa: S107 - a test token
        super().__init__()
        self.token = token
        self.channels: dict[str, list[dict[str, Any]]] = {}
        self.updates: list[dict[str, Any]] = []
        self.post_times: list[tuple[float, str]] = []
        self.calls: list[str] = []
        self.response_posts: list[dict[str, Any]] = []
        # Every Web API call that got through, with its arguments as sent.
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.down = False
        self.rate_limit_every = 0
        self.retry_after = 1
        self.fail_statuses: list[int] = []
        self.delay_seconds = 0.0
        # Record the message, then answer slowly: the client times out not knowing it arrived.
        self.slow_after_recording = False
        self._ts = itertools.count(1)
        self._chat_calls = 0

    # -- helpers for tests ---------------------------------------------------------------------
    def all_posts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [m for messages in self.channels.values() for m in messages]

    def find(self, text_part: str) -> list[dict[str, Any]]:
        return [m for m in self.all_posts() if text_part in m.get("text", "")]

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "channels": self.channels,
                "updates": self.updates,
                "post_times": self.post_times,
                "calls": len(self.calls),
                "response_posts": self.response_posts,
            }

    # -- the API -------------------------------------------------------------------------------
    @staticmethod
    def _args(request: Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.args.items())
        body = request.get_data()
        if request.mimetype == "application/json" and body:
            args.update(json.loads(body))
        elif body:
            args.update({k: v[0] for k, v in parse_qs(body.decode()).items()})
        for key in ("blocks", "metadata", "attachments"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/response/"):
            with self.lock:
                self.response_posts.append(
                    {"path": request.path, **(request.get_json(force=True) or {})}
                )
            return json_response({"ok": True})
        method = request.path.rsplit("/", 1)[-1]
        with self.lock:
            self.calls.append(method)
            if self.down:
                return json_response({"ok": False, "error": "service_unavailable"}, 503)
            if self.fail_statuses:
                status = self.fail_statuses.pop(0)
                headers = {"Retry-After": str(self.retry_after)} if status == 429 else None
                return json_response(
                    {"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"},
                    status,
                    headers,
                )
            if method.startswith("chat."):
                self._chat_calls += 1
                if self.rate_limit_every and self._chat_calls % self.rate_limit_every == 0:
                    return json_response(
                        {"ok": False, "error": "ratelimited"},
                        429,
                        {"Retry-After": str(self.retry_after)},
                    )
        if self.delay_seconds and not self.slow_after_recording:
            time.sleep(self.delay_seconds)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return json_response({"ok": False, "error": "invalid_auth"})
        args = self._args(request)
        with self.lock:
            self.received.append((method, args))
        handler = {
            "chat.postMessage": self._post,
            "chat.update": self._update,
            "conversations.history": self._history,
            "auth.test": lambda _a: {"ok": True, "user_id": "UBOT", "team": "DP0"},
        }.get(method)
        if handler is None:
            return json_response({"ok": False, "error": "unknown_method"}, 404)
        result = handler(args)
        if self.delay_seconds and self.slow_after_recording:
            time.sleep(self.delay_seconds)
        return json_response(result)

    def _post(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        with self.lock:
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            message = {
                "ts": ts,
                "text": args.get("text", ""),
                "blocks": args.get("blocks"),
                "thread_ts": args.get("thread_ts"),
                "metadata": args.get("metadata"),
                "edits": 0,
            }
            self.channels.setdefault(channel, []).append(message)
            self.post_times.append((time.time(), channel))
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel"), args.get("ts")
        with self.lock:
            for message in self.channels.get(channel or "", []):
                if message["ts"] == ts:
                    message["text"] = args.get("text", message["text"])
                    message["blocks"] = args.get("blocks", message["blocks"])
                    message["edits"] += 1
                    self.updates.append({"channel": channel, "ts": ts, "text": message["text"]})
                    return {"ok": True, "channel": channel, "ts": ts}
        return {"ok": False, "error": "message_not_found"}

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel", "")
        oldest = float(args.get("oldest") or 0)
        with self.lock:
            messages = [m for m in self.channels.get(channel, []) if float(m["ts"]) >= oldest]
        return {
            "ok": True,
            "channel": channel,
            "messages": list(reversed(messages)),
            "has_more": False,
        }


if __name__ == "__main__":
    serve_forever(SlackStandIn(), "Slack Web API stand-in")
