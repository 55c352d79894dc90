"""Forms for signing in, registering, resetting passwords and editing the account."""

from __future__ import annotations

from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import Email, EqualTo, InputRequired, Length, Optional, Regexp

from portal.core.forms import PortalForm

PASSWORD_RULES = [
    InputRequired(),
    Length(min=10, max=200, message="Use at least 10 characters."),
]


class LoginForm(PortalForm):
    email = EmailField("Email", validators=[InputRequired(), Email()])
    password = PasswordField("Password", validators=[InputRequired()])
    remember = BooleanField("Keep me signed in on this device")


class RegisterForm(PortalForm):
    full_name = StringField("Full name", validators=[InputRequired(), Length(max=200)])
    email = EmailField("Email", validators=[InputRequired(), Email(), Length(max=254)])
    password = PasswordField("Password", validators=PASSWORD_RULES)
    confirm = PasswordField(
        "Repeat password",
        validators=[InputRequired(), EqualTo("password", "The passwords differ.")],
    )


class EmailOnlyForm(PortalForm):
    email = EmailField("Email", validators=[InputRequired(), Email()])


class ResetPasswordForm(PortalForm):
    password = PasswordField("New password", validators=PASSWORD_RULES)
    confirm = PasswordField(
        "Repeat new password",
        validators=[InputRequired(), EqualTo("password", "The passwords differ.")],
    )


class ChangePasswordForm(PortalForm):
    current = PasswordField("Current password", validators=[InputRequired()])
    password = PasswordField("New password", validators=PASSWORD_RULES)
    confirm = PasswordField(
        "Repeat new password",
        validators=[InputRequired(), EqualTo("password", "The passwords differ.")],
    )


class ProfileForm(PortalForm):
    full_name = StringField("Full name", validators=[InputRequired(), Length(max=200)])
    slack_user_id = StringField(
        "Slack member ID",
        description="Staff only: lets you act on tickets from Slack. Find it in your Slack "
        "profile under \u201cCopy member ID\u201d (it starts with U or W).",
        validators=[
            Optional(),
            Regexp(r"^[UW][A-Z0-9]{2,30}$", message="A Slack member ID looks like U012AB3CD."),
        ],
    )


class TokenForm(PortalForm):
    name = StringField(
        "Token name",
        description="What the token is for, e.g. \u201cweekly stats script\u201d.",
        validators=[InputRequired(), Length(max=100)],
    )


class ConfirmForm(PortalForm):
    """A form with nothing but its CSRF token, for buttons that change something."""
