"""The request-input layer: what no view should see, refused once for every route."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import Any

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter

# The largest value of the databases' INTEGER columns: a larger id names nothing.
MAX_ID = 2**31 - 1
# Far beyond any list the portal shows, and small enough that OFFSET never overflows.
MAX_PAGE = 100_000


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` that matches only ids a database integer can hold, so a larger one is a 404
    instead of an overflow inside the query."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def as_id(text: str | None) -> int | None:
    """The id that `text` names: ASCII digits of a number a database integer can hold; None for
    anything else, so that an absurd id finds nothing instead of overflowing the query."""
    if not text or not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if number <= MAX_ID else None


def _refuse_odd_input() -> None:
    if request.mimetype == "application/x-www-form-urlencoded":
        # Keep the raw body readable after the form is parsed (signed Slack requests need it).
        request.get_data(cache=True)
    fields = chain(request.args.items(multi=True), request.form.items(multi=True))
    texts = chain.from_iterable(fields)
    if request.is_json:
        texts = chain(texts, _json_strings(request.get_json(silent=True)))
    if any("\x00" in text for text in texts):
        abort(400, description="The request contains a NUL character, which no field accepts.")
    for name in ("page", "per_page"):
        value = request.args.get(name, "")
        # isascii: "²" is a digit to isdigit(), but not to int().
        if value.isascii() and value.isdigit() and int(value) > MAX_PAGE:
            abort(404, description=f"There is no {name.replace('_', ' ')} {value}.")


def _json_strings(value: Any) -> Iterator[str]:
    """Every key and string inside a parsed JSON body."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)


def init_request_input(app: Flask) -> None:
    """Register the bounded id converter and the checks every request passes first."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.before_request(_refuse_odd_input)
