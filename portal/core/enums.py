"""String enums that carry their labels, and the column type that stores them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self

from sqlalchemy import Enum


class LabelledEnum(StrEnum):
    """A string enum whose members are declared as ``NAME = "value", "Label people see"``.

    The value is what the database and URLs hold; the label is written once, beside it.
    """

    label: str

    def __new__(cls, value: str, label: str = "") -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label or value.replace("_", " ").capitalize()
        return member

    @classmethod
    def choices(cls, members: Any = None) -> list[tuple[str, str]]:
        """(value, label) pairs for a select, of `members` (default: all) in declared order."""
        return [(member.value, member.label) for member in (members or cls)]

    @classmethod
    def label_of(cls, value: str) -> str:
        """The label of a stored value, or the value itself if it is not (or no longer) known."""
        try:
            return cls(value).label
        except ValueError:
            return value


def enum_column(enum_class: type[StrEnum], length: int) -> Enum:
    """A VARCHAR(length) column that reads and writes members of `enum_class` by value.

    Not a native database enum: adding a member needs no migration, and the column stays the
    plain string column it was before enums were typed.
    """
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=length,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )
