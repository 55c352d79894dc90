"""Forms for managing accounts."""

from __future__ import annotations

from wtforms import BooleanField, EmailField, SelectField, StringField
from wtforms.validators import Email, InputRequired, Length, Optional

from portal.core.forms import PortalForm, choices
from portal.core.roles import Role, SupportTier

TIER_CHOICES = choices(SupportTier.choices(blank="No support tier"))


class InviteStaffForm(PortalForm):
    full_name = StringField("Full name", validators=[InputRequired(), Length(max=200)])
    email = EmailField("Email", validators=[InputRequired(), Email(), Length(max=254)])
    role = SelectField("Role", choices=choices(Role.choices([Role.STAFF, Role.ADMIN])))
    tier = SelectField(
        "Support tier", choices=TIER_CHOICES, coerce=SupportTier.from_form, validators=[Optional()]
    )


class EditUserForm(PortalForm):
    role = SelectField("Role", choices=choices(Role.choices()))
    tier = SelectField(
        "Support tier",
        choices=TIER_CHOICES,
        coerce=SupportTier.from_form,
        validators=[Optional()],
        description="Staff with a tier see that tier's queue and are paged in its Slack channel.",
    )
    programme_staff = BooleanField(
        "Programme staff",
        description="Sees applicants' profiles (country, career stage, answers), decides on "
        "applications and edits programmes, their waves, targets and privacy notice. Staff "
        "without it see what a ticket needs: name, email and application state. Admins always "
        "may.",
    )
    active = BooleanField("Account is active")


class UserFilterForm(PortalForm):
    class Meta:
        csrf = False

    q = StringField("Search name or email", validators=[Optional(), Length(max=100)])
    role = SelectField(
        "Role", choices=choices([("", "Any role"), *Role.choices()]), validators=[Optional()]
    )
