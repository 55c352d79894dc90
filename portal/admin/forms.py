"""Forms for managing accounts."""

from __future__ import annotations

from wtforms import BooleanField, EmailField, SelectField, StringField
from wtforms.validators import Email, InputRequired, Length, Optional

from portal.core.forms import PortalForm, choices
from portal.core.roles import Role, SupportTier

ROLE_PAIRS = [(role.value, role.label) for role in Role]
TIER_CHOICES = choices([("", "No support tier")] + [(str(int(t)), t.label) for t in SupportTier])


def _tier_or_none(value: str | None) -> int | None:
    return int(value) if value else None


class InviteStaffForm(PortalForm):
    full_name = StringField("Full name", validators=[InputRequired(), Length(max=200)])
    email = EmailField("Email", validators=[InputRequired(), Email(), Length(max=254)])
    role = SelectField("Role", choices=choices(p for p in ROLE_PAIRS if p[0] in ("staff", "admin")))
    tier = SelectField(
        "Support tier", choices=TIER_CHOICES, coerce=_tier_or_none, validators=[Optional()]
    )


class EditUserForm(PortalForm):
    role = SelectField("Role", choices=choices(ROLE_PAIRS))
    tier = SelectField(
        "Support tier",
        choices=TIER_CHOICES,
        coerce=_tier_or_none,
        validators=[Optional()],
        description="Staff with a tier see that tier's queue and are paged in its Slack channel.",
    )
    active = BooleanField("Account is active")


class UserFilterForm(PortalForm):
    class Meta:
        csrf = False

    q = StringField("Search name or email", validators=[Optional(), Length(max=100)])
    role = SelectField(
        "Role", choices=choices([("", "Any role"), *ROLE_PAIRS]), validators=[Optional()]
    )
