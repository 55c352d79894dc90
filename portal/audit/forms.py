"""The audit log's filter form."""

from __future__ import annotations

from wtforms import DateField, SelectField, StringField
from wtforms.validators import Length, Optional

from portal.audit.models import AuditAction
from portal.audit.service import AuditFilters
from portal.core.forms import PortalForm, choices


class AuditFilterForm(PortalForm):
    class Meta:
        # A GET form that only narrows what is shown: nothing to forge.
        csrf = False

    action = SelectField(
        "Action",
        choices=choices([("", "Any action"), *AuditAction.choices()]),
        validators=[Optional()],
    )
    actor = StringField(
        "Who", validators=[Optional(), Length(max=100)], description="Part of an email or name."
    )
    target = StringField(
        "Target",
        validators=[Optional(), Length(max=120)],
        description="For example user:12, or wave: for every wave.",
    )
    since = DateField("From", validators=[Optional()])
    until = DateField("To", validators=[Optional()])

    def validate(self, extra_validators: object = None) -> bool:
        if not super().validate():
            return False
        if self.since.data and self.until.data and self.until.data < self.since.data:
            self.until.errors = [*self.until.errors, "The end date is before the start date."]
            return False
        return True

    def to_filters(self) -> AuditFilters:
        return AuditFilters(
            action=self.action.data or None,
            actor=(self.actor.data or "").strip() or None,
            target=(self.target.data or "").strip() or None,
            since=self.since.data,
            until=self.until.data,
        )
