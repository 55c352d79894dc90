"""Form pieces shared by several features."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from markupsafe import Markup
from wtforms import SelectMultipleField, widgets
from wtforms.fields.choices import Choice, SelectChoice


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
