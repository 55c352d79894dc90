"""Finding and replacing a person's identifiers and texts wherever they were copied: every text
and JSON column of every table, case-insensitively, as typed, HTML-escaped or Slack-escaped."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from markupsafe import escape as html_escape
from sqlalchemy import JSON, Column, ColumnElement, Enum, String, Text, cast, func, or_, select
from sqlalchemy import update as sql_update

from portal.extensions import db
from portal.helpdesk.slack import escape as slack_escape

FALLBACK = "[redacted]"


class Scrubber:
    """Replaces each of a set of values (as whole words) by its replacement, in text and in
    JSON values. Longer values are matched first, so an email address goes as one piece even
    when a username inside it is also replaced."""

    def __init__(self, replacements: Mapping[str, str]) -> None:
        self._lookup: dict[str, str] = {}
        for value, replacement in replacements.items():
            value = value.strip()
            if not value:
                continue
            # Emails render people's text HTML-escaped, Slack posts escape it for mrkdwn.
            for variant in (value, str(html_escape(value)), slack_escape(value)):
                self._lookup.setdefault(variant.lower(), replacement)
        alternatives = sorted(self._lookup, key=len, reverse=True)
        self._pattern = (
            re.compile(
                r"(?<!\w)(?:" + "|".join(map(re.escape, alternatives)) + r")(?!\w)", re.IGNORECASE
            )
            if alternatives
            else None
        )

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        if self._pattern is None:
            return value
        return self._pattern.sub(lambda m: self._lookup.get(m.group(0).lower(), FALLBACK), value)

    def value(self, value: Any) -> Any:
        """A JSON value with every string inside it scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        return value

    def mentions(self, value: Any) -> bool:
        return self._pattern is not None and self.value(value) != value

    def needles(self, *, in_json: bool) -> set[str]:
        """Lower-case pieces of text to look for in SQL, before the exact match in Python.
        SQLite's lower() folds only ASCII letters; JSON text may hold escaped characters."""
        found = set()
        for variant in self._lookup:
            ascii_folded = "".join(c.lower() if c.isascii() else c for c in variant)
            forms = {variant, ascii_folded}
            if in_json:
                forms |= {json.dumps(form)[1:-1] for form in forms}
            found |= forms
        return found


def _is_text(column: Column[Any]) -> bool:
    kind = column.type
    return isinstance(kind, String | JSON) and not isinstance(kind, Enum)


def mentioning(scrubber: Scrubber, column: Any) -> ColumnElement[bool]:
    """Rows whose text or JSON `column` may mention what `scrubber` replaces (a first pass in
    SQL: `Scrubber.mentions` decides)."""
    in_json = isinstance(column.type, JSON)
    text = func.lower(cast(column, Text) if in_json else column)
    return or_(
        *(text.contains(needle, autoescape=True) for needle in scrubber.needles(in_json=in_json))
    )


def scrub_database(
    scrubber: Scrubber,
    *,
    skip_columns: Iterable[str] = (),
    skip_rows: Mapping[str, set[Any]] | None = None,
) -> dict[str, list[tuple[Any, ...]]]:
    """Rewrite every text and JSON value in the database that mentions what `scrubber`
    replaces, in the caller's unit of work; returns the primary keys changed, per table.

    Columns named in `skip_columns` ("table.column") are left alone (other people's own names
    and addresses, which may equal the person's); so are the rows whose first primary-key value
    is in `skip_rows[table]`. Rows are written with plain UPDATEs, which pass by the ORM's
    guards on append-only history: erasure is the one change that history must take.
    """
    if not scrubber:
        return {}
    skipped = set(skip_columns)
    skip_rows = skip_rows or {}
    db.session.flush()
    changed: dict[str, list[tuple[Any, ...]]] = {}
    for table in db.metadata.sorted_tables:
        columns = [
            c for c in table.columns if _is_text(c) and f"{table.name}.{c.name}" not in skipped
        ]
        if not columns:
            continue
        keys = list(table.primary_key.columns)
        condition = or_(*(mentioning(scrubber, column) for column in columns))
        rows = db.session.execute(select(*keys, *columns).where(condition)).all()
        for row in rows:
            key = tuple(row[: len(keys)])
            if key[0] in skip_rows.get(table.name, set()):
                continue
            values = {}
            for column, old in zip(columns, row[len(keys) :], strict=True):
                new = scrubber.value(old)
                if new != old:
                    values[column.name] = new
            if values:
                db.session.execute(
                    sql_update(table)
                    .where(*(column == value for column, value in zip(keys, key, strict=True)))
                    .values(values)
                )
                changed.setdefault(table.name, []).append(key)
    # What the session had loaded may be out of date now.
    db.session.expire_all()
    return changed
