"""No input yields a 500: every route and every form of the portal, as a role that reaches it,
sent the kinds of odd input that crashed it from outside, on both databases.

The walk follows the route tables (which say who reaches what, and make the records their
paths name) and checks at the end that it reached every route of the app's URL map. Each form
is read from its page as a browser reads it and sent back with its CSRF token, once filled in as
a person would and then once per odd input: files where text belongs, NUL bytes, 300
characters in a field, a space as a choice, text or a superscript digit where a number belongs,
numbers past any database integer, every multiple choice left empty. Pages get an id past any
database integer in their path and an absurd page number; the API and Slack's endpoints get
odd bodies. Nothing may answer 5xx, and what no form can accept must be refused (4xx), never
taken as a success.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from flask import Flask
from werkzeug.exceptions import HTTPException

from portal.auth.models import User
from portal.auth.services import create_api_token
from portal.core.request_input import MAX_ID
from portal.extensions import db, limiter
from tests.conftest import empty_database
from tests.helpdesk.helpers import SIGNING_SECRET, slack_headers
from tests.route_tables import ROLES, Route
from tests.test_routes_by_role import MODULES, _client_as, _make_users

LONG = "x" * 300
NUL = "a\x00b"
HUGE_PAGE = "9223372036854775807"
# Past PostgreSQL's INTEGER, and past SQLite's (and PostgreSQL's BIGINT).
PAST_INTEGERS = (str(MAX_ID + 1), "9223372036854775808")
# Not numbers, though "²" passes str.isdigit().
NOT_NUMBERS = ("many", "²")
TEXT_KINDS = {"text", "search", "email", "url", "tel", "password", "textarea", "number", "date"}
TEXT_KINDS |= {"datetime-local", "time", "hidden"}
DIGITS = re.compile(r"^-?\d+$")
INT_ARGUMENT = re.compile(r"<int(?:\([^)]*\))?:(\w+)>")
# Forms that end the walker's own session, sent last; they take nothing but the CSRF token.
SIGNING_OUT = {"/auth/logout", "/account/sessions/end"}
# What a person types into an empty field of each kind that the form requires, so that the form
# gets past its required fields and the odd value reaches the code behind them.
PLAUSIBLE = {
    "email": "fuzz@example.org",
    "password": "fuzz passphrase one",
    "number": "1",
    "date": "2026-06-01",
    "datetime-local": "2026-06-01T10:00",
    "time": "10:00",
    "url": "https://example.org/",
    "textarea": "Fuzzed text.",
}
# Fields a form requires only with some answers.
BY_NAME = {"data_rights_basis": "Graduate student at a US institution"}


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"SLACK_SIGNING_SECRET": SIGNING_SECRET}


@pytest.fixture
def unlimited() -> Iterator[None]:
    """Rate limits off: a limit's 429 would hide what the request does behind it."""
    limiter.enabled = False
    try:
        yield
    finally:
        limiter.enabled = True


# --- forms as a browser reads them -----------------------------------------------------------


@dataclass
class FormField:
    name: str
    kind: str
    value: str = ""
    options: list[str] = field(default_factory=list)
    chosen: list[str] = field(default_factory=list)
    multiple: bool = False
    required: bool = False

    @property
    def is_choice(self) -> bool:
        return self.kind in {"select", "radio", "button"} or (
            self.kind == "checkbox" and len(self.options) > 1
        )

    @property
    def is_text(self) -> bool:
        return self.kind in TEXT_KINDS

    @property
    def is_number(self) -> bool:
        return self.kind == "number" or (self.is_text and bool(DIGITS.match(self.value)))

    def filled_in(self) -> list[str]:
        """What a person sends: what the page shows, or something sensible where required."""
        if self.kind == "button":
            # A form's main button is its last (Insert before Send, Search before File).
            return self.options[-1:]
        if self.kind in {"select", "radio", "checkbox"}:
            if self.chosen:
                return self.chosen
            real = [option for option in self.options if option]
            return real[:1] if real else self.options[:1]
        if self.kind == "file":
            return []
        if self.value.strip() or self.kind == "hidden":
            return [self.value.strip("\r\n")]
        if self.name in BY_NAME:
            return [BY_NAME[self.name]]
        return [PLAUSIBLE.get(self.kind, "Fuzzed value")] if self.required else [""]


@dataclass
class Form:
    role: str
    action: str
    method: str
    fields: dict[str, FormField] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, tuple[str, ...]]:
        return (self.method, self.action, tuple(sorted(self.fields)))

    def add(self, name: str, kind: str, value: str, checked: bool, required: bool) -> None:
        known = self.fields.get(name)
        if known is not None and kind in {"radio", "checkbox", "button"}:
            known.options.append(value)
            known.multiple = known.multiple or kind == "checkbox"
            if checked:
                known.chosen.append(value)
            return
        grouped = kind in {"radio", "checkbox", "button"}
        self.fields[name] = FormField(
            name,
            kind,
            value,
            options=[value] if grouped else [],
            chosen=[value] if checked else [],
            required=required,
        )

    def variants(self) -> Iterator[tuple[str, bool, dict[str, Any]]]:
        """(what is odd, whether the form must refuse it, the fields changed) for each odd
        input. Fields of one shape (target__region__asia, target__region__europe, ...) are
        tried through the first of them."""
        editable = [f for name, f in self.fields.items() if name != "csrf_token"]
        texts = [f.name for f in editable if f.is_text and f.kind != "hidden"]
        if texts:
            files = {name: (io.BytesIO(b"not text"), f"{name}.txt") for name in texts}
            yield "files where text belongs", False, files
            yield "NUL bytes", True, dict.fromkeys(texts, NUL)
        shapes = set()
        for f in editable:
            shape = (f.kind, f.name.split("__")[0])
            if "__" in f.name and shape in shapes:
                continue
            shapes.add(shape)
            if f.is_choice:
                yield f"a space as {f.name}", True, {f.name: " "}
            if f.is_text or (f.is_choice and f.kind != "button"):
                yield f"300 characters as {f.name}", False, {f.name: LONG}
            if f.is_number:
                for odd in (*NOT_NUMBERS, *PAST_INTEGERS):
                    yield f"{odd} as the number {f.name}", True, {f.name: odd}
        multiple = [f.name for f in editable if f.multiple]
        if multiple:
            yield "every multiple choice empty", False, dict.fromkeys(multiple)


class FormReader(HTMLParser):
    """The forms of a page, with their fields as a browser would submit them."""

    def __init__(self, page: str, role: str) -> None:
        super().__init__()
        self.page, self.role = page, role
        self.forms: list[Form] = []
        self.form: Form | None = None
        self.select: FormField | None = None
        self.option: str | None = None
        self.textarea: FormField | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.form = Form(self.role, a.get("action") or self.page, a.get("method", "get"))
            self.form.method = self.form.method.lower()
            self.forms.append(self.form)
            return
        if self.form is None or ("name" not in a and tag != "option"):
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in {"submit", "image", "reset"}:
                kind = "button"
            value = a.get("value", "on" if kind == "checkbox" else "")
            self.form.add(a["name"], kind, value, "checked" in a, "required" in a)
        elif tag == "button":
            self.form.add(a["name"], "button", a.get("value", ""), False, False)
        elif tag == "select":
            self.select = FormField(a["name"], "select", multiple="multiple" in a)
            self.form.fields[a["name"]] = self.select
        elif tag == "option" and self.select is not None:
            self.option = a.get("value")
            if self.option is not None:
                self.select.options.append(self.option)
                if "selected" in a:
                    self.select.chosen.append(self.option)
        elif tag == "textarea":
            self.textarea = FormField(a["name"], "textarea", required="required" in a)
            self.form.fields[a["name"]] = self.textarea

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.textarea.value += data
        elif self.select is not None and self.option is None and data.strip():
            self.select.options.append(data.strip())  # an <option> without a value sends its text

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.form = None
        elif tag == "select":
            self.select = None
        elif tag == "option":
            self.option = None
        elif tag == "textarea":
            self.textarea = None


def forms_on(page: str, role: str, html: str) -> list[Form]:
    reader = FormReader(page, role)
    reader.feed(html)
    return reader.forms


# --- the walk ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    method: str
    path: str
    what: str
    status: int
    must_refuse: bool


@dataclass
class Walk:
    app: Flask
    clients: dict[str, Any] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    forms: dict[tuple[str, str, tuple[str, ...]], Form] = field(default_factory=dict)

    def record(self, response: Any, what: str, *, must_refuse: bool = False) -> None:
        response.close()
        request = response.request
        self.outcomes.append(
            Outcome(request.method, request.path, what, response.status_code, must_refuse)
        )

    def get(self, role: str, url: str) -> None:
        self.record(self.clients[role].get(url), f"{role} GET {url}")

    def send(self, form: Form, values: dict[str, Any], what: str, must_refuse: bool) -> None:
        client = self.clients[form.role]
        pairs = [
            (name, item)
            for name, value in values.items()
            if value is not None
            for item in (value if isinstance(value, list) else [value])
        ]
        if form.method == "get":
            texts = [(name, value) for name, value in pairs if isinstance(value, str)]
            separator = "&" if "?" in form.action else "?"
            response = client.get(form.action + separator + urlencode(texts))
        elif all(isinstance(value, str) for _, value in pairs):
            response = client.post(
                form.action,
                data=urlencode(pairs),
                content_type="application/x-www-form-urlencoded",
            )
        else:
            data: dict[str, list[Any]] = {}
            for name, value in pairs:
                data.setdefault(name, []).append(value)
            response = client.post(form.action, data=data, content_type="multipart/form-data")
        label = f"{form.role} {form.method.upper()} {form.action} ({what})"
        # A GET filter may ignore what it cannot use; a form that acts must refuse it.
        self.record(response, label, must_refuse=must_refuse and form.method == "post")

    def fuzz(self, form: Form) -> None:
        filled_in = {name: f.filled_in() for name, f in form.fields.items()}
        self.send(form, filled_in, "filled in", False)
        for what, must_refuse, changes in form.variants():
            self.send(form, {**filled_in, **changes}, what, must_refuse)

    def unvisited(self) -> list[str]:
        """The app's routes (method and rule) that no request of the walk reached."""
        adapter = self.app.url_map.bind("portal.test")
        reached = set()
        for outcome in self.outcomes:
            try:
                rule, _ = adapter.match(outcome.path, method=outcome.method, return_rule=True)
            except HTTPException:
                continue
            reached.add((outcome.method, rule.rule))
        return [
            f"{method} {rule.rule}"
            for rule in self.app.url_map.iter_rules()
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
            if (method, rule.rule) not in reached
        ]


def _role_for(route: Route) -> str:
    """The most privileged role that gets more than a refusal (admins where nobody does)."""
    reaching = [role for role in ROLES if route.expect.get(role) not in (302, 401, 403, 404)]
    return reaching[-1] if reaching else "admin"


def _past_integers(app: Flask, path: str) -> list[str]:
    """The page's path with each of its ids in turn replaced by one past a database integer."""
    adapter = app.url_map.bind("portal.test")
    try:
        rule, values = adapter.match(path, method="GET", return_rule=True)
    except HTTPException:
        return []
    ids = INT_ARGUMENT.findall(rule.rule)
    return [adapter.build(rule.endpoint, {**values, name: MAX_ID + 1}) for name in ids]


def _posted_form(walk: Walk, role: str, route: Route, path: str) -> Form:
    """A POST route that no page of the walk shows a form for: the route table's data, a field
    the route does not expect, and a CSRF token as a page gives it."""
    form = Form(role, path, "post")
    for name, value in {**route.data, "unexpected": "Fuzzed value"}.items():
        form.add(name, "text", value, False, True)
    # The home page has a token for the signed in; a session the walk ended (an account an
    # admin's form deactivated) gets the sign-in page's.
    for page in ("/", "/auth/login"):
        shown = walk.clients[role].get(page)
        tokens = [
            f.fields["csrf_token"]
            for f in forms_on(page, role, shown.text)
            if "csrf_token" in f.fields
        ]
        shown.close()
        if tokens:
            form.fields["csrf_token"] = tokens[0]
            break
    return form


def _slack(walk: Walk) -> None:
    """Signed Slack requests with odd bodies: refused with a reason, never a crash."""
    client = walk.app.test_client()
    bodies = {
        "/slack/commands": [
            {"text": LONG, "user_id": "U0ADMIN"},
            {"text": f"show {MAX_ID + 1}", "user_id": "U0ADMIN"},
            {"text": "escalate 1 " + LONG, "user_id": LONG},
            {"text": NUL, "user_id": "U0ADMIN"},
        ],
        "/slack/interactions": [
            {"payload": json.dumps({"user": {"id": "U0ADMIN"}, "actions": "claim"})},
            {"payload": json.dumps({"user": {"id": "U0ADMIN"}, "actions": [{"value": LONG}]})},
            {"payload": json.dumps({"user": {"id": ["U"]}, "actions": [{"value": "1"}]})},
            {"payload": json.dumps([1, 2, 3])},
            {"payload": LONG},
        ],
    }
    for path, forms in bodies.items():
        for form in forms:
            body = urlencode(form)
            response = client.post(
                path,
                data=body,
                content_type="application/x-www-form-urlencoded",
                headers=slack_headers(body),
            )
            walk.record(response, f"Slack POST {path} {body[:60]}")


def _api(walk: Walk, route: Route, path: str, token: str) -> None:
    """An API route with a staff token: odd pages and JSON bodies are refused as JSON."""
    client = walk.app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    if route.method == "GET":
        for query in (f"page={HUGE_PAGE}", "page=²", f"per_page={LONG}"):
            walk.record(client.get(f"{path}?{query}", headers=headers), f"API GET {path}?{query}")
        return
    for body in ({"body": NUL}, {"body": 7, "reason": ["x"]}, [LONG], {LONG: LONG}):
        response = client.open(path, method=route.method, json=body, headers=headers)
        walk.record(response, f"API {route.method} {path} {json.dumps(body)[:40]}")
    response = client.open(
        path,
        method=route.method,
        data="{not json",
        headers=headers,
        content_type="application/json",
    )
    walk.record(response, f"API {route.method} {path} broken JSON")


def _walk_table(walk: Walk, table: Any) -> None:
    """One route table's routes, on the records its setup makes (each table's setup expects an
    empty database of its own)."""
    empty_database(walk.app)
    users = _make_users(walk.app)
    values = table.setup(walk.app, users) if hasattr(table, "setup") else {}
    walk.clients = {role: _client_as(walk.app, users.get(role)) for role in ROLES}
    with walk.app.app_context():
        token = create_api_token(db.session.get(User, users["tier3"].id), "odd input")
    forms: list[Form] = []
    posts: list[tuple[str, Route, str]] = []
    for route in table.ROUTES:
        role, path = _role_for(route), route.path.format(**values)
        if path.startswith("/api/"):
            _api(walk, route, path, token)
        elif path.startswith("/slack/"):
            _slack(walk)
        elif route.method != "GET":
            posts.append((role, route, path))
        else:
            for url in _past_integers(walk.app, path):
                walk.get(role, url)
            walk.get(role, f"{path}{'&' if '?' in path else '?'}page={HUGE_PAGE}")
            page = walk.clients[role].get(path)
            html = page.text if page.status_code == 200 and "html" in page.content_type else ""
            page.close()
            for form in forms_on(path, role, html):
                if urlsplit(form.action).path not in SIGNING_OUT and form.key not in walk.forms:
                    walk.forms[form.key] = form
                    forms.append(form)
    # Admins' forms last: they can change the other accounts.
    for form in sorted(forms, key=lambda f: f.role == "admin"):
        walk.fuzz(form)
    shown = {urlsplit(form.action).path for form in walk.forms.values()}
    for role, route, path in sorted(posts, key=lambda post: post[2] in SIGNING_OUT):
        if path not in shown:
            walk.fuzz(_posted_form(walk, role, route, path))


def test_no_input_yields_a_500(app, unlimited, capsys):
    walk = Walk(app)
    for table in MODULES:
        _walk_table(walk, table)
    crashed = [f"{o.status} {o.what}" for o in walk.outcomes if o.status >= 500]
    accepted = [f"{o.status} {o.what}" for o in walk.outcomes if o.must_refuse and o.status < 400]
    with capsys.disabled():
        backend = app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0]
        print(f"\n{backend}: {len(walk.outcomes)} requests, {len(walk.forms)} forms", end=" ")
    assert not crashed, "answered 5xx:\n" + "\n".join(crashed)
    assert not accepted, "odd input taken as a success:\n" + "\n".join(accepted)
    assert not walk.unvisited(), f"routes the walk did not reach: {walk.unvisited()}"
    assert len(walk.forms) >= 40
