"""Forms of the privacy pages: asking for one's data, and an admin's erasure in two steps."""

from __future__ import annotations

from wtforms import EmailField, HiddenField, StringField
from wtforms.validators import Email, InputRequired, Length

from portal.core.forms import PortalForm


class ExportRequestForm(PortalForm):
    """Asks for a copy of one's data: nothing but its CSRF token."""


class ErasureLookupForm(PortalForm):
    email = EmailField(
        "Email address of the person",
        description="The address they wrote from, as the portal knows it.",
        validators=[InputRequired(), Email(), Length(max=254)],
    )


class ErasureConfirmForm(PortalForm):
    email = HiddenField(validators=[InputRequired(), Length(max=254)])
    confirmation = StringField(
        "Type the address again to confirm",
        description="Erasure cannot be undone.",
        validators=[InputRequired(), Length(max=254)],
    )
