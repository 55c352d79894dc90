"""Forms of sign-up: the application (with stable field names, so links can pre-fill it), the
applicant's actions, staff decisions and filters, and the admin's programme settings."""

from __future__ import annotations

import re
from typing import Any

from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    Field,
    FloatField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import HiddenInput

from portal.core.forms import CachedOptionsSelect, MultiCheckboxField, PortalForm, choices
from portal.core.request_input import as_id
from portal.signup.attributes import (
    ATTRIBUTES,
    CAREER_STAGES,
    COHORT_ONLY,
    DATA_RIGHTS,
    EXPERIENCE_LEVELS,
    INSTITUTION_TYPES,
    LANGUAGES,
    SCIENCE_COLLABORATIONS,
)
from portal.signup.countries import COUNTRIES
from portal.signup.models import AdmissionMode, ApplicationState, Programme
from portal.signup.reports import QueueFilters, attribute_filter_choices

# GitHub's rules: letters, digits and single hyphens, not at either end, at most 39 characters.
GITHUB_USERNAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")

COUNTRY_CHOICES = [("", "Choose a country")] + [
    (code, name) for code, (name, _) in sorted(COUNTRIES.items(), key=lambda item: item[1][0])
]


def _placeholder(pairs: list[tuple[str, str]], text: str = "Choose one") -> list[tuple[str, str]]:
    return [("", text), *pairs]


class ApplicationForm(PortalForm):
    full_name = StringField("Full name", validators=[InputRequired(), Length(max=200)])
    email = EmailField(
        "Email",
        description="We send a link to confirm it; the application counts from then.",
        validators=[InputRequired(), Email(), Length(max=254)],
    )
    institution = StringField(
        "Institution",
        description="Write \u201cnone\u201d if you have no institution.",
        validators=[InputRequired(), Length(max=200)],
    )
    institution_type = SelectField(
        "Type of institution",
        choices=choices(_placeholder(INSTITUTION_TYPES)),
        validators=[InputRequired()],
    )
    country = SelectField(
        "Country where you work",
        choices=choices(COUNTRY_CHOICES),
        validators=[InputRequired()],
        widget=CachedOptionsSelect(),
    )
    career_stage = SelectField(
        "Career stage", choices=choices(_placeholder(CAREER_STAGES)), validators=[InputRequired()]
    )
    data_rights = RadioField(
        "Do you hold Rubin data rights?",
        description="DP0 is for Rubin data-rights holders. Tell us what you believe; staff "
        "check it before admission.",
        choices=choices(DATA_RIGHTS),
        validators=[InputRequired(message="Choose yes, no or not sure.")],
    )
    data_rights_basis = TextAreaField(
        "What are your data rights based on?",
        description="For example: employed at a US or Chilean institution, a named in-kind "
        "contribution, or a Rubin staff position. Needed unless you answered no.",
        validators=[Length(max=1000)],
    )
    science_collaborations = MultiCheckboxField(
        "LSST Science Collaborations you are a member of",
        description="Leave all unticked if you are not a member of any.",
        choices=choices(SCIENCE_COLLABORATIONS),
        validators=[Optional()],
    )
    github_username = StringField(
        "GitHub username",
        description="DP0 access is given to your GitHub account.",
        validators=[
            InputRequired(),
            Length(max=39),
            Regexp(
                GITHUB_USERNAME,
                message="A GitHub username has letters, digits and single hyphens (not at the "
                "start or end), up to 39 characters.",
            ),
        ],
    )
    experience_python = RadioField(
        "Experience with Python", choices=choices(EXPERIENCE_LEVELS), validators=[InputRequired()]
    )
    experience_jupyter = RadioField(
        "Experience with Jupyter notebooks",
        choices=choices(EXPERIENCE_LEVELS),
        validators=[InputRequired()],
    )
    experience_sql = RadioField(
        "Experience with SQL or ADQL",
        choices=choices(EXPERIENCE_LEVELS),
        validators=[InputRequired()],
    )
    contribution = TextAreaField(
        "What do you hope to contribute to DP0?",
        description="For example: tutorials you would write, services you would test, a "
        "community you would share what you learn with.",
        validators=[InputRequired(), Length(max=3000)],
    )
    preferred_language = RadioField(
        "Preferred language", choices=choices(LANGUAGES), default="en", validators=[InputRequired()]
    )
    plus_one_sponsor = EmailField(
        "Plus One sponsor (optional)",
        description="If an admitted delegate is bringing you as their Plus One (a student or "
        "junior colleague), their email address. They will be asked to confirm.",
        validators=[Optional(), Email(), Length(max=254)],
    )
    accept_guidelines = BooleanField(
        "I have read and accept the delegate guidelines",
        validators=[DataRequired(message="Please accept the delegate guidelines to apply.")],
    )
    accept_privacy = BooleanField(
        "I have read the privacy notice and agree that my data is used and kept as it says",
        validators=[DataRequired(message="Please accept the privacy notice to apply.")],
    )
    # The notice version the page showed: the one the applicant accepts.
    privacy_notice_version = HiddenField()

    # Fields a link may fill in (everything but the acceptances and the CSRF token).
    PREFILLABLE = (
        "full_name",
        "email",
        "institution",
        "institution_type",
        "country",
        "career_stage",
        "data_rights",
        "data_rights_basis",
        "science_collaborations",
        "github_username",
        "experience_python",
        "experience_jupyter",
        "experience_sql",
        "contribution",
        "preferred_language",
        "plus_one_sponsor",
    )

    def __init__(self, *args: Any, cohort_required: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not cohort_required:
            for name in COHORT_ONLY:
                field = self[name]
                field.validators = [Optional()]
                field.flags.required = False
                field.flags.optional = True
                field.label.text += " (optional)"

    @property
    def shown_notice_version(self) -> int | None:
        """The notice version the page showed the applicant: None when the form sent none (the
        box they ticked then stands for the notice in force), 0 (no notice's) when it is not a
        version number."""
        raw = (self.privacy_notice_version.data or "").strip()
        if not raw:
            return None
        version = as_id(raw)
        return version if version is not None else 0

    def validate_data_rights_basis(self, field: Field) -> None:
        if self.data_rights.data in ("yes", "not_sure") and not (field.data or "").strip():
            raise ValidationError("Tell us what your data rights are based on.")


class WithdrawForm(PortalForm):
    confirm = BooleanField(
        "Yes, withdraw my application",
        validators=[DataRequired(message="Tick the box to confirm.")],
    )
    reason = TextAreaField(
        "Anything you would like to tell us (optional)", validators=[Length(max=1000)]
    )


class EmailLookupForm(PortalForm):
    email = EmailField("Email you applied with", validators=[InputRequired(), Email()])


# --- staff --------------------------------------------------------------------------------------

DECISIONS = [("admit", "Admit"), ("waitlist", "Waitlist"), ("reject", "Not select (reject)")]


class IdListField(Field):
    """The ids of the rows ticked in a table (any number of `ids` inputs)."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        ids = (as_id(str(value)) for value in valuelist)
        self.data = [number for number in ids if number is not None]

    def _value(self) -> str:
        return ""


class DecisionForm(PortalForm):
    action = SelectField(
        "Decision", choices=choices([*DECISIONS, ("undo", "Undo the last change")])
    )
    reason = StringField(
        "Reason",
        description="Kept in the audit trail (not sent to the applicant).",
        validators=[InputRequired(), Length(max=500)],
    )


class BulkDecisionForm(PortalForm):
    ids = IdListField("Applications")
    action = SelectField(
        "Decision for the ticked applications",
        choices=choices([*DECISIONS, ("undo", "Undo their last change")]),
    )
    reason = StringField(
        "Reason",
        validators=[InputRequired(), Length(max=500)],
        description="Kept in the audit trail.",
    )

    def validate_ids(self, field: Field) -> None:
        if not field.data:
            raise ValidationError("Tick at least one application.")


class CloseWaitlistForm(PortalForm):
    reason = StringField(
        "Reason",
        description="Kept in the audit trail. Everyone still waiting is emailed that they were "
        "not selected.",
        validators=[InputRequired(), Length(max=500)],
    )
    confirm = BooleanField(
        "Yes, close the waitlist", validators=[DataRequired(message="Tick the box to confirm.")]
    )


class PriorityForm(PortalForm):
    priority = IntegerField(
        "Waitlist priority",
        description="Higher goes first; 0 is the default. Ties keep the order of confirmation.",
        validators=[InputRequired(), NumberRange(min=-1000, max=1000)],
    )
    reason = StringField("Reason", validators=[InputRequired(), Length(max=500)])


class NoteForm(PortalForm):
    body = TextAreaField(
        "Private note",
        description="Only staff see notes.",
        validators=[InputRequired(), Length(max=5000)],
    )


class QueueFilterForm(PortalForm):
    """The review queue's filters, from the query string, for one programme."""

    class Meta:
        csrf = False

    def __init__(self, formdata: Any, *, programme: Programme, profiles: bool = True) -> None:
        super().__init__(formdata)
        self.programme_id = programme.id
        self.profiles = profiles
        self.wave.choices = choices(
            [("", "Any wave"), *[(str(w.id), w.name) for w in programme.waves]]
        )
        self.attribute.choices = choices([("", "Any attribute"), *attribute_filter_choices()])
        if not profiles:
            # Filtering by an attribute would tell what it is: only programme staff may.
            del self.attribute
            self.q.description = "Name, email or GitHub username"

    def to_filters(self) -> QueueFilters:
        """The filters chosen; a value that is not one of its field's choices filters nothing."""
        valid = self.validate()

        def value(name: str) -> str:
            return "" if not valid and self[name].errors else str(self[name].data or "")

        wave = value("wave")
        return QueueFilters(
            programme_id=self.programme_id,
            wave_id=as_id(wave),
            state=value("state"),
            attribute=value("attribute") if self.profiles else "",
            q=value("q"),
            sort=value("sort") or "waitlist",
            plus_one=value("plus_one"),
            profiles=self.profiles,
        )

    wave = SelectField("Wave", validators=[Optional()])
    state = SelectField(
        "State",
        choices=choices([("", "Any state"), *ApplicationState.choices()]),
        validators=[Optional()],
    )
    attribute = SelectField("Attribute", validators=[Optional()])
    plus_one = SelectField(
        "Plus One",
        choices=choices([("", "Everyone"), ("no", "Delegates"), ("yes", "Plus Ones")]),
        validators=[Optional()],
    )
    q = StringField("Search", description="Name, email, institution or GitHub username")
    sort = SelectField(
        "Order",
        choices=choices(
            [
                ("waitlist", "Waitlist order"),
                ("verified", "Confirmed first"),
                ("recent", "Newest first"),
                ("name", "Name"),
            ]
        ),
        validators=[Optional()],
    )


class CohortForm(PortalForm):
    size = IntegerField(
        "Cohort size",
        description="How many to choose; it starts at the wave's free seats.",
        validators=[InputRequired(), NumberRange(min=1, max=10000)],
    )
    seed = IntegerField(
        "Seed",
        description="The same pool, targets and seed always give the same cohort.",
        validators=[InputRequired(), NumberRange(min=0, max=2**31 - 1)],
    )


class CohortAdmitForm(PortalForm):
    ids = IdListField("Selected")
    note = StringField("Note for the audit trail (optional)", validators=[Length(max=300)])
    compare = HiddenField()

    def validate_ids(self, field: Field) -> None:
        if not field.data:
            raise ValidationError("Select at least one person.")


# --- admin --------------------------------------------------------------------------------------


class ProgrammeForm(PortalForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    slug = StringField(
        "Short name",
        description="Lower-case letters, digits and hyphens; used in links and the config file.",
        validators=[
            InputRequired(),
            Length(max=60),
            Regexp(r"^[a-z0-9][a-z0-9-]*$", message="Use lower-case letters, digits and hyphens."),
        ],
    )
    total_capacity = IntegerField(
        "Total capacity",
        description="The most delegates the programme admits, across all its waves.",
        validators=[InputRequired(), NumberRange(min=0, max=100000)],
    )
    plus_one_capacity = IntegerField(
        "Plus One quota",
        description="Places for students or junior colleagues brought by delegates (separate "
        "from the total).",
        validators=[InputRequired(), NumberRange(min=0, max=100000)],
    )
    offer_lifetime_days = IntegerField(
        "Offer lifetime (days)",
        description="How long an offer to someone on the waitlist holds its seat.",
        validators=[InputRequired(), NumberRange(min=1, max=60)],
    )
    guidelines_url = StringField(
        "Guidelines link",
        description="Leave empty to link the delegate guidelines of the documentation site.",
        validators=[
            Optional(),
            Length(max=500),
            Regexp(r"^(https://|/)", message="Use an https:// link or a path on this site."),
        ],
    )
    guidelines_text = TextAreaField(
        "Guidelines summary (Markdown)",
        description="Shown on the application form above the acceptance box.",
        validators=[Length(max=20000)],
    )
    accepting_applications = BooleanField("The application form is open")
    cohort_attributes_required = BooleanField(
        "Applicants must answer the cohort questions",
        description="Institution type, country and career stage are used only to balance the "
        "cohort; unticked, the form marks them optional.",
    )


def _purpose_field(label: str, description: str = "") -> TextAreaField:
    return TextAreaField(
        label, description=description, validators=[InputRequired(), Length(max=1000)]
    )


class PrivacyNoticeForm(PortalForm):
    """A version of the notice; its purpose fields are named after `privacy.DataPurpose`."""

    body = TextAreaField(
        "Privacy notice (Markdown)",
        description="What is kept about applicants, what for, who sees it and how long it is "
        "kept. {applicant_retention_days}, {attachment_retention_days} and "
        "{outbox_retention_days} show the retention periods the portal is configured with.",
        validators=[InputRequired(), Length(max=50000)],
    )
    purpose_admission = _purpose_field(
        "Beside the admission fields",
        "Name, email, institution, data rights, experience, contribution.",
    )
    purpose_cohort = _purpose_field(
        "Beside the cohort fields",
        "Institution type, country, career stage, Science Collaborations.",
    )
    purpose_provisioning = _purpose_field("Beside the GitHub field")
    purpose_support = _purpose_field(
        "Beside the language field",
        "Name, email and language, used to write to people and answer tickets.",
    )
    changes = TextAreaField(
        "What changed",
        description="Shown to every applicant and delegate at their next visit, with the new "
        "notice. Needed to publish any version after the first.",
        validators=[Length(max=5000)],
    )


class NoticeSeenForm(PortalForm):
    """A signed-in person has read the changed notices they were shown."""

    notices = IdListField("Notices")


class StatusNoticeSeenForm(PortalForm):
    """The holder of a status link has read the changed notice shown there."""

    version = IntegerField(widget=HiddenInput(), validators=[InputRequired()])


class WaveForm(PortalForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    slug = StringField(
        "Short name",
        validators=[
            InputRequired(),
            Length(max=60),
            Regexp(r"^[a-z0-9][a-z0-9-]*$", message="Use lower-case letters, digits and hyphens."),
        ],
    )
    opens_at = DateTimeLocalField(
        "Opens",
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired(message="Give a date and time.")],
    )
    closes_at = DateTimeLocalField(
        "Closes",
        format="%Y-%m-%dT%H:%M",
        description="Leave empty to keep the wave open until another opens or you close it.",
        validators=[Optional()],
    )
    capacity = IntegerField(
        "Capacity", validators=[InputRequired(), NumberRange(min=0, max=100000)]
    )
    mode = RadioField(
        "Admission",
        choices=choices(AdmissionMode.choices()),
        validators=[InputRequired()],
    )
    carry_over_waitlist = BooleanField(
        "Its waitlist carries over to the next wave",
        description="Otherwise, when the wave ends, everyone still waiting is told they were "
        "not selected.",
    )


def target_field_name(attribute: str, value: str) -> str:
    return f"target__{attribute}__{value}"


def weight_field_name(attribute: str) -> str:
    return f"weight__{attribute}"


class TargetsForm(PortalForm):
    """One percentage per attribute value and one weight per attribute (fields added below)."""

    def target_fields(self, attribute: str) -> list[Field]:
        return [
            self[target_field_name(attribute, value)] for value, _ in ATTRIBUTES[attribute].values
        ]

    def weight_field(self, attribute: str) -> Field:
        return self[weight_field_name(attribute)]


for _name, _attribute in ATTRIBUTES.items():
    for _value, _label in _attribute.values:
        setattr(
            TargetsForm,
            target_field_name(_name, _value),
            FloatField(_label, validators=[Optional(), NumberRange(min=0, max=100)]),
        )
    setattr(
        TargetsForm,
        weight_field_name(_name),
        FloatField(
            f"Weight of {_attribute.label.lower()}",
            default=1.0,
            validators=[InputRequired(), NumberRange(min=0, max=100)],
        ),
    )
