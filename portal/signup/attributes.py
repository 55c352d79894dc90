"""What an application says about a person, as choices for the form and as the attributes that
filters, soft targets and cohort selection work on."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from portal.signup.countries import REGIONS, region_of
from portal.signup.models import Application, DataRights

# The eight LSST Science Collaborations.
SCIENCE_COLLABORATIONS = [
    ("desc", "Dark Energy Science Collaboration (DESC)"),
    ("galaxies", "Galaxies"),
    ("issc", "Informatics and Statistics"),
    ("agn", "Active Galactic Nuclei"),
    ("sssc", "Solar System"),
    ("smwlv", "Stars, Milky Way and Local Volume"),
    ("slsc", "Strong Lensing"),
    ("tvs", "Transients and Variable Stars"),
]

CAREER_STAGES = [
    ("undergraduate", "Undergraduate student"),
    ("graduate", "Graduate student"),
    ("postdoc", "Postdoctoral researcher"),
    ("faculty", "Faculty or permanent scientist"),
    ("research_staff", "Research, software or technical staff"),
    ("educator", "Educator or outreach professional"),
    ("amateur", "Amateur astronomer or citizen scientist"),
    ("other", "Other"),
]

INSTITUTION_TYPES = [
    ("research_university", "Research university"),
    ("teaching_institution", "Primarily undergraduate or teaching institution"),
    ("minority_serving", "Minority-serving institution"),
    ("lab_observatory", "National laboratory or observatory"),
    ("museum_planetarium", "Museum, planetarium or science centre"),
    ("industry", "Company or industry"),
    ("independent", "No institution (independent)"),
]

EXPERIENCE_LEVELS = [
    ("none", "None"),
    ("beginner", "Beginner"),
    ("intermediate", "Intermediate"),
    ("expert", "Expert"),
]

LANGUAGES = [("en", "English"), ("es", "Spanish")]

DATA_RIGHTS = DataRights.choices()

YES_NO = [("yes", "Yes"), ("no", "No")]

# The application's fields used only to balance the cohort: optional unless a programme
# requires them (the Science Collaborations, also cohort-only, may always be none).
COHORT_ONLY = ("institution_type", "country", "career_stage")


def label_of(pairs: Iterable[tuple[str, str]], value: str | None) -> str:
    """The label of a choice value (the value itself when it is not one of the choices)."""
    return dict(pairs).get(value or "", value or "")


def overall_experience(application: Application) -> str:
    """One experience level from the three answers: the rounded mean of Python, Jupyter and
    SQL/ADQL, so that a target can ask for, say, 10 % beginners."""
    levels = [value for value, _ in EXPERIENCE_LEVELS]
    answers = [
        application.experience_python,
        application.experience_jupyter,
        application.experience_sql,
    ]
    scores = [levels.index(a) for a in answers if a in levels]
    if not scores:
        return "none"
    return levels[int(sum(scores) / len(scores) + 0.5)]


@dataclass(frozen=True)
class Attribute:
    """Something targets and filters can be set on: its values and how to read them."""

    name: str
    label: str
    values: list[tuple[str, str]]
    read: Callable[[Application], set[str]]

    def value_label(self, value: str) -> str:
        return label_of(self.values, value)


def _one(getter: Callable[[Application], str | None]) -> Callable[[Application], set[str]]:
    def read(application: Application) -> set[str]:
        value = getter(application)
        return {value} if value else set()

    return read


def _collaborations(application: Application) -> set[str]:
    return set(application.collaboration_codes) or {"none"}


ATTRIBUTES: dict[str, Attribute] = {
    attribute.name: attribute
    for attribute in [
        Attribute(
            "sc_member",
            "Member of an LSST Science Collaboration",
            YES_NO,
            _one(lambda a: "yes" if a.collaboration_codes else "no"),
        ),
        Attribute(
            "science_collaboration",
            "Science Collaboration",
            [*SCIENCE_COLLABORATIONS, ("none", "None")],
            _collaborations,
        ),
        Attribute("career_stage", "Career stage", CAREER_STAGES, _one(lambda a: a.career_stage)),
        Attribute(
            "institution_type",
            "Institution type",
            INSTITUTION_TYPES,
            _one(lambda a: a.institution_type),
        ),
        Attribute("region", "Region", REGIONS, _one(lambda a: region_of(a.country))),
        Attribute(
            "experience",
            "Experience (Python, Jupyter, SQL/ADQL)",
            EXPERIENCE_LEVELS,
            _one(overall_experience),
        ),
        Attribute(
            "preferred_language",
            "Preferred language",
            LANGUAGES,
            _one(lambda a: a.preferred_language),
        ),
        Attribute("data_rights", "Data rights", DATA_RIGHTS, _one(lambda a: a.data_rights)),
    ]
}


def attribute_values(application: Application) -> set[tuple[str, str]]:
    """Every (attribute, value) pair that describes one application."""
    return {
        (name, value)
        for name, attribute in ATTRIBUTES.items()
        for value in attribute.read(application)
    }


def is_known(attribute: str, value: str) -> bool:
    return attribute in ATTRIBUTES and value in dict(ATTRIBUTES[attribute].values)
