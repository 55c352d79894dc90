"""Who may do what: the roles in their order, the permissions beside them, and the tiers."""

from __future__ import annotations

from enum import IntEnum

from portal.core.enums import LabelledEnum


class Role(LabelledEnum):
    """Account roles, lowest first: each role may do what the roles before it may."""

    APPLICANT = "applicant", "Applicant"
    DELEGATE = "delegate", "Delegate"
    STAFF = "staff", "Staff"
    ADMIN = "admin", "Admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class Permission(LabelledEnum):
    """What a staff account may do beyond its role; admins hold every permission."""

    PROGRAMME_STAFF = (
        "programme_staff",
        "Programme staff: sees applicants' profiles, decides on applications, edits programmes",
    )


class SupportTier(IntEnum):
    """The help desk's tiers: 1 community engagement, 2 service desk, 3 experts."""

    COMMUNITY_ENGAGEMENT = 1
    SERVICE_DESK = 2
    EXPERT = 3

    @property
    def label(self) -> str:
        return _TIER_LABELS[self]

    @property
    def short_label(self) -> str:
        return f"Tier {self.value}"

    @property
    def is_top(self) -> bool:
        """Nothing escalates above this tier."""
        return self is TOP_TIER

    @classmethod
    def from_form(cls, value: str | int | None) -> SupportTier | None:
        """The tier a select sent, or None for its blank option (ValueError if unknown, which
        WTForms reports as an invalid choice)."""
        return cls(int(value)) if value not in (None, "") else None

    @classmethod
    def choices(cls, blank: str | None = None) -> list[tuple[str, str]]:
        """(value, label) pairs for a select, with an optional blank first option."""
        pairs = [(str(tier.value), tier.label) for tier in cls]
        return [("", blank), *pairs] if blank is not None else pairs


_TIER_LABELS = {
    SupportTier.COMMUNITY_ENGAGEMENT: "Tier 1: community engagement",
    SupportTier.SERVICE_DESK: "Tier 2: service desk",
    SupportTier.EXPERT: "Tier 3: experts",
}
TOP_TIER = SupportTier.EXPERT
