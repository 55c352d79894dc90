"""The load side: people with their own cookies and address, using the portal's pages as a
browser would (read the form, send it back with its CSRF token), and the timings they saw."""

from __future__ import annotations

import ipaddress
import itertools
import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import aiohttp

SERVER_TIMING = re.compile(r"app;dur=([0-9.]+)")
INPUT_TAG = re.compile(r"<input\b[^>]*>")
VALUE_ATTRIBUTE = re.compile(r'\bvalue="([^"]*)"')
# Client addresses from the IPv6 documentation prefix: they only ever appear in the
# X-Forwarded-For header, never as a destination.
_ADDRESSES = (str(ipaddress.IPv6Address("2001:db8::") + n) for n in itertools.count(1))


def next_address() -> str:
    return next(_ADDRESSES)


@dataclass
class Sample:
    """One request: what it was, how it went, how long the client and the server took."""

    kind: str
    status: int
    client_ms: float
    server_ms: float | None


@dataclass
class Recorder:
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def of(self, *kinds: str) -> list[Sample]:
        return [s for s in self.samples if not kinds or s.kind in kinds]


class FormReader(HTMLParser):
    """The fields of the forms in a page, as a browser would send them (first the hidden and
    filled fields, checked boxes and radios, selected options and textarea text)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, list[tuple[str, str]]]] = []
        self._select: str | None = None
        self._select_value: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a.get("action", ""), []))
            return
        if not self.forms or "name" not in a or "disabled" in a:
            if tag == "option" and self._select is not None:
                self._option(a)
            return
        fields = self.forms[-1][1]
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind in ("submit", "button", "file", "reset", "image"):
                return
            fields.append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select":
            self._select, self._select_value = a["name"], None
        elif tag == "textarea":
            self._textarea, self._text = a["name"], []

    def _option(self, a: dict[str, str]) -> None:
        if self._select_value is None or "selected" in a:
            self._select_value = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None and self.forms:
            self.forms[-1][1].append((self._select, self._select_value or ""))
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self.forms:
            self.forms[-1][1].append((self._textarea, "".join(self._text).removeprefix("\n")))
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)


def form_fields(page: str, field_name: str) -> list[tuple[str, str]]:
    """The fields of the first form on the page that has a field called `field_name`."""
    reader = FormReader()
    reader.feed(page)
    for _, fields in reader.forms:
        if any(name == field_name for name, _ in fields):
            return fields
    raise LookupError(f"no form with a {field_name!r} field on the page")


def csrf_token(page: str) -> str:
    """The first form's CSRF token (read with a regular expression: parsing a whole page in
    Python would cost the load generator more CPU than the server spends rendering it)."""
    for tag in INPUT_TAG.findall(page):
        if 'name="csrf_token"' in tag:
            value = VALUE_ATTRIBUTE.search(tag)
            if value:
                return value.group(1)
    raise LookupError("no CSRF token on the page")


class Person:
    """Someone using the portal from their own address, with their own session cookie."""

    def __init__(
        self,
        base_url: str,
        connector: aiohttp.BaseConnector,
        recorder: Recorder,
        address: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.recorder = recorder
        self.session = aiohttp.ClientSession(
            connector=connector,
            connector_owner=False,
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            headers={"X-Forwarded-For": address or next_address()},
            timeout=aiohttp.ClientTimeout(total=60),
        )

    async def close(self) -> None:
        await self.session.close()

    async def request(
        self, kind: str, method: str, path: str, **kwargs: Any
    ) -> tuple[int, str, dict[str, str]]:
        """One request, timed; returns status, body and headers. Redirects are not followed."""
        url = path if path.startswith("http") else self.base_url + path
        started = time.perf_counter()
        async with self.session.request(method, url, allow_redirects=False, **kwargs) as response:
            body = await response.text()
            elapsed = (time.perf_counter() - started) * 1000
            match = SERVER_TIMING.search(response.headers.get("Server-Timing", ""))
            self.recorder.samples.append(
                Sample(kind, response.status, elapsed, float(match.group(1)) if match else None)
            )
            return response.status, body, dict(response.headers)

    async def submit(
        self, kind: str, page: str, action: str, values: dict[str, str] | list[tuple[str, str]]
    ) -> tuple[int, str, dict[str, str]]:
        """Post a form shown on `page` back with its CSRF token and the given values."""
        data = list(values.items()) if isinstance(values, dict) else list(values)
        if not any(name == "csrf_token" for name, _ in data):
            data.append(("csrf_token", csrf_token(page)))
        return await self.request(kind, "POST", action, data=data)

    async def sign_in(self, email: str, password: str) -> None:
        status, page, _ = await self.request("login-form", "GET", "/auth/login")
        status, body, _ = await self.submit(
            "login", page, "/auth/login", {"email": email, "password": password}
        )
        if status != 302:
            raise RuntimeError(f"sign-in as {email} failed with {status}: {body[:300]}")
