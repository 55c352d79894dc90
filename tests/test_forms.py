"""Shared form pieces: the select that caches its option tags renders what WTForms would."""

from __future__ import annotations

from flask import Flask
from flask_wtf import FlaskForm
from wtforms import SelectField, widgets

from portal.core.forms import CachedOptionsSelect, choices

PAIRS = [("", "Choose"), ("CL", "Chile"), ("US", "United States"), ("x&y", "<Tom & Jerry>")]


class _Plain(FlaskForm):
    country = SelectField("Country", choices=choices(PAIRS), widget=widgets.Select())


class _Cached(FlaskForm):
    country = SelectField("Country", choices=choices(PAIRS), widget=CachedOptionsSelect())


def test_cached_options_render_like_wtforms_with_the_selection_and_escaping() -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", WTF_CSRF_ENABLED=False)
    for value in ["", "US", "x&y", "CL"]:
        with app.test_request_context(method="POST", data={"country": value}):
            plain, cached = _Plain(), _Cached()
            assert str(cached.country()) == str(plain.country())
            assert str(cached.country(class_="wide")) == str(plain.country(class_="wide"))
    with app.test_request_context(method="POST", data={"country": "x&y"}):
        html = str(_Cached().country())
    assert '<option selected value="x&amp;y">&lt;Tom &amp; Jerry&gt;</option>' in html
