"""Forms of the help desk: filing and answering tickets, staff actions, queue filters, canned
replies and tier settings."""

from __future__ import annotations

from datetime import date
from typing import Any, TypedDict

import holidays
from wtforms import (
    Field,
    HiddenField,
    IntegerField,
    MultipleFileField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from portal.auth.models import User
from portal.core.forms import PortalForm, choices
from portal.core.roles import TOP_TIER, SupportTier
from portal.helpdesk import attachments
from portal.helpdesk.business_hours import WEEKDAYS, CalendarError, is_timezone, parse_day_hours
from portal.helpdesk.models import CannedReply, Category, Priority, SlaTarget, TicketState
from portal.helpdesk.queries import ANY_OPEN, ANY_STATE, UNASSIGNED, QueueFilter, QueueView, Sort


def _priority_pairs(allow_urgent: bool) -> list[tuple[str, str]]:
    return Priority.choices(p for p in Priority if allow_urgent or p is not Priority.URGENT)


def staff_choices(users: list[User]) -> list[tuple[str, str]]:
    """Staff to pick from, with the tier (or role) that says what they can take."""
    return [
        (str(u.id), f"{u.full_name} ({f'tier {u.support_tier}' if u.support_tier else u.role})")
        for u in users
    ]


def lower_tier_choices(tier: int) -> list[tuple[str, str]]:
    """The tiers a ticket in `tier` can be handed back to."""
    return [pair for pair in SupportTier.choices() if int(pair[0]) < tier]


def canned_tier_choices(user: User) -> list[tuple[str, str]]:
    """What `user` may write canned replies for: admins any tier or every tier at once, staff
    their own tier, staff without a tier nothing."""
    if user.is_admin:
        return SupportTier.choices(blank=CannedReply.EVERY_TIER)
    return [pair for pair in SupportTier.choices() if pair[0] == str(user.support_tier)]


class AttachmentsField(MultipleFileField):
    """Files checked while the form validates, so a bad file is reported beside the field
    and everything else typed is kept; `uploads` holds the checked files."""

    uploads: list[attachments.Upload] = []

    def pre_validate(self, form: PortalForm) -> None:
        self.uploads = []
        try:
            self.uploads = attachments.check_uploads(list(self.data or []))
        except attachments.AttachmentError as exc:
            raise ValidationError(exc.message) from exc


def attachments_field(label: str = "Attachments") -> AttachmentsField:
    return AttachmentsField(
        label,
        description="Optional: screenshots, logs, notebooks or query results "
        f"({attachments.allowed_extensions_text()}; up to {attachments.MAX_FILES_PER_MESSAGE} "
        "files).",
    )


class TicketFields(TypedDict):
    subject: str
    description: str
    category: str
    priority: str


class NewTicketForm(PortalForm):
    subject = StringField(
        "Subject",
        description="One line saying what goes wrong, "
        "e.g. \u201cTAP query on object times out\u201d.",
        validators=[InputRequired(), Length(min=5, max=200)],
    )
    category = SelectField(
        "What is it about?",
        choices=choices([("", "Choose the closest match"), *Category.choices()]),
        validators=[InputRequired(message="Choose what the ticket is about.")],
    )
    priority = SelectField("Priority", default=Priority.NORMAL.value)
    description = TextAreaField(
        "Description",
        description="What you tried, what you expected and what happened. For the platform, "
        "include the time, the aspect (Portal, notebook or TAP) and the query or notebook "
        "cell. Markdown works.",
        validators=[InputRequired(), Length(max=20000)],
    )
    attachments = attachments_field()

    def __init__(self, *args: Any, allow_urgent: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.priority.choices = choices(_priority_pairs(allow_urgent))

    def ticket(self) -> TicketFields:
        """The ticket the form describes, as `create_ticket` takes it."""
        return {
            "subject": self.subject.data or "",
            "description": self.description.data or "",
            "category": self.category.data or "",
            "priority": self.priority.data or "",
        }


class ReplyForm(PortalForm):
    body = TextAreaField(
        "Your reply", validators=[InputRequired(), Length(max=20000)], description="Markdown works."
    )
    attachments = attachments_field()


class RatingForm(PortalForm):
    rating = RadioField(
        "How well were you helped?",
        choices=choices(
            [
                ("5", "5: excellent"),
                ("4", "4: good"),
                ("3", "3: fair"),
                ("2", "2: poor"),
                ("1", "1: very poor"),
            ]
        ),
        validators=[InputRequired(message="Choose a rating.")],
    )
    comment = TextAreaField("Comment (optional)", validators=[Optional(), Length(max=2000)])


class StaffReplyForm(PortalForm):
    body = TextAreaField(
        "Message",
        validators=[Length(max=20000)],
        description="Markdown works. A reply goes to the requester by email; an internal note "
        "is seen by staff only.",
    )
    canned = SelectField("Canned reply", validators=[Optional()])
    new_state = SelectField("Then set the state to", validators=[Optional()])
    attachments = attachments_field()
    action = HiddenField()

    def __init__(
        self, *args: Any, canned: list[tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.canned.choices = choices([("", "Choose a canned reply"), *(canned or [])])
        self.new_state.choices = choices(
            [
                ("", "Leave as it is"),
                *TicketState.choices(
                    s for s in TicketState if s not in (TicketState.NEW, TicketState.CLOSED)
                ),
            ]
        )


class AssignForm(PortalForm):
    assignee = SelectField("Assign to", validators=[Optional()])

    def __init__(
        self, *args: Any, staff: list[tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.assignee.choices = choices([("", "Nobody (unassigned)"), *(staff or [])])


class StateForm(PortalForm):
    # Distinct ids: the state, escalation and move-back forms share one page with sections
    # named "state" and "tier".
    state = SelectField(
        "New state",
        id="new-state",
        choices=choices(TicketState.choices(s for s in TicketState if s is not TicketState.NEW)),
    )
    reason = StringField(
        "Reason (optional)", id="state-reason", validators=[Optional(), Length(max=500)]
    )


class EscalateForm(PortalForm):
    reason = TextAreaField(
        "Why does the next tier need to take it?",
        id="escalate-reason",
        validators=[InputRequired(), Length(min=3, max=1000)],
    )


class DeescalateForm(PortalForm):
    tier = SelectField(
        "Move back to",
        id="deescalate-tier",
        choices=choices(lower_tier_choices(TOP_TIER)),
    )
    reason = TextAreaField(
        "Why?", id="deescalate-reason", validators=[InputRequired(), Length(min=3, max=1000)]
    )


class PropertiesForm(PortalForm):
    priority = SelectField("Priority", choices=choices(_priority_pairs(True)))
    category = SelectField("Category", choices=choices(Category.choices()))


class QueueFilterForm(PortalForm):
    class Meta:
        csrf = False

    view = SelectField("Queue", choices=choices(QueueView.choices()), default=QueueView.ALL.value)
    state = SelectField(
        "State",
        choices=choices(
            [
                (ANY_OPEN, "Any open state"),
                *TicketState.choices(),
                (ANY_STATE, "Any state"),
            ]
        ),
        default=ANY_OPEN,
        validators=[Optional()],
    )
    tier = SelectField(
        "Tier", choices=choices(SupportTier.choices(blank="Any tier")), validators=[Optional()]
    )
    category = SelectField(
        "Category",
        choices=choices([("", "Any category"), *Category.choices()]),
        validators=[Optional()],
    )
    priority = SelectField(
        "Priority",
        choices=choices([("", "Any priority"), *_priority_pairs(True)]),
        validators=[Optional()],
    )
    assignee = SelectField("Assignee", validators=[Optional()])
    q = StringField("Search", validators=[Optional(), Length(max=200)])
    sort = SelectField("Sort", choices=choices(Sort.choices()), default=Sort.DUE.value)

    def __init__(
        self, *args: Any, staff: list[tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.assignee.choices = choices(
            [("", "Anyone or nobody"), (UNASSIGNED, "Unassigned"), *(staff or [])]
        )

    def to_filter(self) -> QueueFilter:
        """What the staff member asked the queue for (once the form is valid)."""
        return QueueFilter(
            view=QueueView(self.view.data),
            state=self.state.data or ANY_OPEN,
            tier=SupportTier.from_form(self.tier.data),
            category=self.category.data or "",
            priority=self.priority.data or "",
            assignee=self.assignee.data or "",
            q=self.q.data or "",
            sort=Sort(self.sort.data),
        )


class CannedReplyForm(PortalForm):
    tier = SelectField("For", validators=[Optional()])
    title = StringField("Title", validators=[InputRequired(), Length(max=120)])
    body = TextAreaField(
        "Text", validators=[InputRequired(), Length(max=10000)], description="Markdown works."
    )

    def __init__(
        self, *args: Any, tiers: list[tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.tier.choices = choices(tiers or [])


class _DayHoursField(StringField):
    """Opening hours of one weekday, as "09:00-17:00" (several ranges comma-separated)."""

    ranges: tuple[tuple[int, int], ...] = ()

    def pre_validate(self, form: PortalForm) -> None:
        try:
            self.ranges = parse_day_hours(self.data or "")
        except CalendarError as exc:
            raise ValidationError(str(exc).capitalize() + ".") from exc


def _check_timezone(_form: PortalForm, field: Field) -> None:
    if not is_timezone((field.data or "").strip()):
        raise ValidationError("Give a timezone name such as America/Phoenix or Europe/Paris.")


def _check_country(form: TierSettingsForm, field: Field) -> None:
    country = (field.data or "").strip().upper()
    if not country:
        return
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ValidationError(
            "Use a two-letter country code the holidays calendar knows (e.g. US, CL, FR)."
        )
    subdivision = (form.holiday_subdivision.data or "").strip().upper()
    if subdivision and subdivision not in supported[country]:
        form.holiday_subdivision.errors = [
            *form.holiday_subdivision.errors,
            f"{country} has no subdivision {subdivision}.",
        ]
        raise ValidationError("The subdivision does not belong to this country.")


def _check_dates(_form: PortalForm, field: Field) -> None:
    for line in (field.data or "").split():
        try:
            date.fromisoformat(line)
        except ValueError as exc:
            raise ValidationError(f"{line!r} is not a date like 2026-12-24.") from exc


class TierSettingsForm(PortalForm):
    slack_channel_id = StringField(
        "Slack channel ID",
        description="Where this tier is paged, e.g. C012AB3CD (in the channel's details in "
        "Slack). Leave empty to page nobody in Slack.",
        validators=[
            Optional(),
            Regexp(r"^[CG][A-Z0-9]{2,30}$", message="A channel ID looks like C012AB3CD."),
        ],
    )
    timezone = StringField("Timezone", validators=[InputRequired(), _check_timezone])
    monday = _DayHoursField("Monday")
    tuesday = _DayHoursField("Tuesday")
    wednesday = _DayHoursField("Wednesday")
    thursday = _DayHoursField("Thursday")
    friday = _DayHoursField("Friday")
    saturday = _DayHoursField("Saturday")
    sunday = _DayHoursField("Sunday")
    holiday_country = StringField(
        "Public holidays of (country code)",
        description="Closed on that country's public holidays; empty for none.",
        validators=[Optional(), Length(max=8), _check_country],
    )
    holiday_subdivision = StringField(
        "Region (subdivision code)",
        validators=[Optional(), Length(max=16)],
        description="e.g. AZ for Arizona.",
    )
    closed_dates = TextAreaField(
        "Other closed days",
        description="One date per line, e.g. 2026-12-24.",
        validators=[_check_dates],
    )
    warning_minutes = IntegerField(
        "Warn this many minutes before a breach",
        validators=[InputRequired(), NumberRange(min=0, max=10080)],
    )

    def day_fields(self) -> list[_DayHoursField]:
        return [getattr(self, day.lower()) for day in WEEKDAYS]

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if valid and not any(f.ranges for f in self.day_fields()):
            self.form_errors.append("The tier must be open on at least one day of the week.")
            return False
        return valid


def sla_field_name(priority: Priority, target: SlaTarget) -> str:
    return f"sla_{priority.value}_{target.value}"


# One minutes field per priority and target (twelve in all), named by sla_field_name.
for _priority in Priority:
    for _target in SlaTarget:
        setattr(
            TierSettingsForm,
            sla_field_name(_priority, _target),
            IntegerField(
                f"{_priority.label}: {_target.label.lower()}",
                validators=[InputRequired(), NumberRange(min=1, max=525600)],
            ),
        )
