"""Form pieces shared by several features."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from flask import abort, render_template, request
from flask_wtf import FlaskForm
from markupsafe import Markup
from werkzeug.datastructures import CombinedMultiDict, MultiDict
from wtforms import Field, FileField, IntegerField, SelectMultipleField, widgets
from wtforms.csrf.core import CSRFTokenField
from wtforms.fields.choices import Choice, SelectChoice, SelectFieldBase
from wtforms.form import BaseForm
from wtforms.validators import NumberRange, Optional

from portal.core.errors import NotFound, UserError
from portal.core.request_input import MAX_ID


class PortalForm(FlaskForm):
    """The base of every form in the portal.

    The CSRF input is rendered without an id: a page with several forms would otherwise repeat
    `id="csrf_token"`, which is invalid HTML and confuses label lookups.

    Two rules hold for every field of every form, whatever its own validators say: a choice
    is one of the field's choices (WTForms' Optional would let a blank such as " " through as
    "nothing chosen", to crash whatever reads it), and a whole number fits a database integer.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self:
            if isinstance(field, SelectFieldBase):
                field.validators = [
                    Optional(strip_whitespace=False) if isinstance(v, Optional) else v
                    for v in field.validators
                ]
            elif isinstance(field, IntegerField) and not any(
                isinstance(v, NumberRange) and v.max is not None for v in field.validators
            ):
                field.validators = [*field.validators, NumberRange(-MAX_ID - 1, MAX_ID)]

    def show_refusal(self, refusal: UserError, field: str | None = None) -> None:
        """Put a service's refusal beside the field it names (or `field`), else above the form.
        Something that does not exist is no form's error: it goes on to the app's handler."""
        if isinstance(refusal, NotFound):
            raise refusal
        name = refusal.field or field
        target = self._fields.get(name) if name else None
        if target is not None:
            target.errors = [*target.errors, refusal.message]
        else:
            self.form_errors.append(refusal.message)

    class Meta:
        def render_field(self, field: Field, render_kw: dict[str, Any]) -> Markup:
            if isinstance(field, CSRFTokenField):
                render_kw = {**render_kw, "id": False}
            return super().render_field(field, render_kw)  # type: ignore[misc]

        def wrap_formdata(self, form: BaseForm, formdata: Any) -> Any:
            """Offer uploaded files only to file fields: a file sent where text belongs is
            then simply a missing value, reported beside the field, never a crash."""
            formdata = super().wrap_formdata(form, formdata)  # type: ignore[misc]
            if not isinstance(formdata, CombinedMultiDict):
                return formdata
            file_fields = {f.name for f in form if isinstance(f, FileField)}
            files = MultiDict(
                (key, value) for key, value in request.files.items(multi=True) if key in file_fields
            )
            return CombinedMultiDict((files, request.form))


def form_page(template: str, form: FlaskForm, **context: Any) -> tuple[str, int]:
    """A page showing `form`, answered 422 when the form or a service rejected what was sent
    (so scripts and tests can tell), 200 otherwise. The form keeps what was typed."""
    context.setdefault("form", form)
    status = 422 if form.errors or form.form_errors else 200
    return render_template(template, **context), status


def pressed_button(*values: str, default: str) -> str:
    """Which of a form's submit buttons (`name="action"`) sent it: one of `values`, or `default`
    when none is named (a script, or Enter in a text box). Any other value is no button of the
    form, and is refused rather than read as one of them."""
    action = request.form.get("action", default)
    if action not in values:
        abort(400, description=f"Choose one of the form's buttons: {', '.join(values)}.")
    return action


def choices(pairs: Iterable[tuple[str, str]]) -> list[SelectChoice]:
    """Options for a SelectField from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


class MultiCheckboxField(SelectMultipleField):
    """A multi-select shown as a group of checkboxes (usable without JavaScript)."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class CachedOptionsSelect(widgets.Select):
    """A select that builds each <option> tag once per process. WTForms formats every tag of
    every option again on each page, which for the ~250 countries of the sign-up form cost
    more than the rest of the page."""

    @classmethod
    def render_option(cls, choice: Choice, **kwargs: Any) -> Markup:
        if kwargs or choice.render_kw:
            return super().render_option(choice, **kwargs)
        return _option_tag(str(choice.value), str(choice.label or choice.value), choice.selected)


@lru_cache(maxsize=4096)
def _option_tag(value: str, label: str, selected: bool) -> Markup:
    return widgets.Select.render_option(Choice(value, label, selected, {}))
