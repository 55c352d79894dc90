"""Demo data for `portal seed-demo`: a few hundred DP0 applicants across every state and
attribute (drawn from a fixed seed, so every run makes the same people), a second wave for
cohort selection, and applications for the foundation's demo accounts."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import func, select

from portal.auth import services as auth_services
from portal.auth.models import User
from portal.core.db import transaction, utcnow
from portal.extensions import db
from portal.signup import programmes, queries
from portal.signup.attributes import CAREER_STAGES, INSTITUTION_TYPES, SCIENCE_COLLABORATIONS
from portal.signup.countries import country_name
from portal.signup.models import (
    AdmissionMode,
    Application,
    ApplicationEvent,
    ApplicationState,
    CollaborationMembership,
    DataRights,
    Offer,
    OfferOutcome,
    Programme,
    StaffNote,
    Wave,
)
from portal.signup.programmes import DEFAULT_PROGRAMME_FILE
from portal.signup.seats import lock_programme
from portal.signup.transitions import give_delegate_account

S = ApplicationState
PEOPLE = 320
DAYS_OF_HISTORY = 40
SEED = 2021
DEMO_DOMAIN = "demo.example.org"

FIRST = [
    "Ada", "Amara", "Andres", "Aroha", "Bea", "Bilal", "Camila", "Chen", "Dara", "Diego",
    "Elif", "Emeka", "Farah", "Felipe", "Gita", "Hana", "Ines", "Ivan", "Jamal", "Javiera",
    "Jin", "Kai", "Kemal", "Lena", "Lucia", "Malik", "Mateo", "Mei", "Nadia", "Nia", "Omar",
    "Pablo", "Priya", "Quinn", "Rafael", "Rosa", "Sami", "Sofia", "Tomas", "Uma", "Valentina",
    "Wei", "Yara", "Yusuf", "Zainab",
]  # fmt: skip
LAST = [
    "Acosta", "Adeyemi", "Bauer", "Castillo", "Chen", "Costa", "Diaz", "Dubois", "Fernandez",
    "Garcia", "Haddad", "Ito", "Jensen", "Kaur", "Kim", "Lopez", "Mbeki", "Medina", "Morales",
    "Nakamura", "Novak", "Okafor", "Olsen", "Patel", "Quispe", "Ramos", "Rossi", "Sato",
    "Schmidt", "Silva", "Singh", "Soto", "Tanaka", "Torres", "Vargas", "Wang", "Weber",
    "Yilmaz", "Zhang",
]  # fmt: skip
# country, weight
COUNTRIES = [
    ("US", 44), ("CL", 9), ("GB", 5), ("FR", 4), ("DE", 4), ("IT", 3), ("ES", 3), ("CA", 4),
    ("BR", 3), ("MX", 3), ("AR", 2), ("IN", 3), ("CN", 2), ("JP", 2), ("AU", 3), ("ZA", 2),
    ("NG", 1), ("KR", 1), ("CO", 1), ("PE", 1),
]  # fmt: skip
# Made-up institutions by type: US ones, Chilean ones, and a pattern for everywhere else.
INSTITUTIONS = {
    "US": {
        "research_university": ["University of Washington", "UC Davis", "University of Arizona"],
        "teaching_institution": ["Bard College", "Harvey Mudd College"],
        "minority_serving": ["Fisk University", "University of Texas Rio Grande Valley"],
        "lab_observatory": ["SLAC National Accelerator Laboratory", "NOIRLab", "Fermilab"],
        "museum_planetarium": ["Adler Planetarium"],
        "industry": ["Skyfield Analytics"],
    },
    "CL": {
        "research_university": ["Universidad de Chile", "Pontificia Universidad Católica"],
        "teaching_institution": ["Universidad de La Serena"],
        "lab_observatory": ["Rubin Observatory La Serena office"],
        "museum_planetarium": ["Museo Interactivo Mirador"],
    },
}
ELSEWHERE = {
    "research_university": "National University of {country}",
    "teaching_institution": "{country} College of Science",
    "minority_serving": "{country} Community University",
    "lab_observatory": "{country} National Observatory",
    "museum_planetarium": "{country} Planetarium",
    "industry": "{country} Data Analytics",
}
RIGHTS_BASIS = {
    "US": "Employed at a US institution",
    "CL": "Employed at a Chilean institution",
}
STAGE_WEIGHTS = [8, 22, 18, 24, 12, 6, 6, 4]
TYPE_WEIGHTS = [50, 12, 8, 18, 5, 3, 4]
LEVELS = ["none", "beginner", "intermediate", "expert"]


def _pick(rng: random.Random, pairs: list[tuple[str, int]]) -> str:
    return rng.choices([p for p, _ in pairs], weights=[w for _, w in pairs])[0]


def _institution(rng: random.Random, country: str, institution_type: str) -> str:
    if institution_type == "independent":
        return "none"
    names = INSTITUTIONS.get(country, {}).get(institution_type)
    if names:
        return rng.choice(names)
    return ELSEWHERE[institution_type].format(country=country_name(country))


def _person(rng: random.Random, n: int) -> tuple[dict[str, str], list[str]]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    country = _pick(rng, COUNTRIES)
    institution_type = rng.choices([v for v, _ in INSTITUTION_TYPES], TYPE_WEIGHTS)[0]
    skill = rng.choices(range(4), [5, 30, 40, 25])[0]
    levels = [LEVELS[max(0, min(3, skill + rng.choice([-1, 0, 0, 1])))] for _ in range(3)]
    data_rights = rng.choices(list(DataRights), [86, 4, 10])[0]
    codes = [c for c, _ in SCIENCE_COLLABORATIONS]
    collaborations = rng.sample(codes, rng.choice([1, 1, 2])) if rng.random() < 0.33 else []
    fields = {
        "full_name": f"{first} {last}",
        "email": f"{first}.{last}.{n:03d}@{DEMO_DOMAIN}".lower(),
        "github_username": f"{first}{last}{n:03d}"[:39].lower(),
        "institution": _institution(rng, country, institution_type),
        "institution_type": institution_type,
        "country": country,
        "career_stage": rng.choices([v for v, _ in CAREER_STAGES], STAGE_WEIGHTS)[0],
        "data_rights": data_rights,
        "data_rights_basis": ""
        if data_rights == DataRights.NO
        else RIGHTS_BASIS.get(country, "Member of an in-kind contribution team"),
        "experience_python": levels[0],
        "experience_jupyter": levels[1],
        "experience_sql": levels[2],
        "contribution": rng.choice(
            [
                "A tutorial on photometric redshifts with the DP0 catalogs.",
                "Testing TAP queries from my group's pipeline and reporting what breaks.",
                "Teaching a graduate class with the notebooks and sharing the material.",
                "Feedback on the Portal aspect from a first-time user's point of view.",
            ]
        ),
        "preferred_language": "es" if rng.random() < 0.12 else "en",
    }
    return fields, collaborations


# (state, how many) in order of confirmation; the first wave's 100 seats are exactly taken.
PLAN = [
    (S.ADMITTED, 97),
    (S.OFFERED, 3),
    (S.DECLINED, 3),
    (S.OFFER_EXPIRED, 2),
    (S.WITHDRAWN, 8),
    (S.REJECTED, 12),
    (S.WAITLISTED, 22),
]
UNVERIFIED = 12


def seed_demo_applications() -> list[str]:
    """Make the demo applicants (once: a second run finds them and does nothing)."""
    programme = queries.programme_by_slug("dp0")
    if programme is None:
        programmes.load_config(DEFAULT_PROGRAMME_FILE)
        programme = queries.programme_by_slug("dp0")
    assert programme is not None
    staff = auth_services.find_user_by_email("programme@example.org")
    if staff is not None:
        # The demo's programme staff run the programme: they see profiles and edit settings.
        auth_services.set_programme_staff(staff, True)
    made = db.session.scalar(
        select(func.count())
        .select_from(Application)
        .where(Application.programme_id == programme.id, Application.email.like(f"%@{DEMO_DOMAIN}"))
    )
    if made:
        return []
    now = utcnow()
    first_wave = programme.waves[0]
    if first_wave.opens_at > now - timedelta(days=DAYS_OF_HISTORY):
        # The demo applicants applied over the past weeks: the first wave was open then.
        programmes.save_wave(
            programme.id,
            first_wave.id,
            replace(
                programmes.wave_fields(first_wave),
                opens_at=now - timedelta(days=DAYS_OF_HISTORY + 1),
            ),
        )
    if not any(w.slug == "second-wave" for w in programme.waves):
        programmes.save_wave(
            programme.id,
            None,
            programmes.WaveFields(
                slug="second-wave",
                name="Second wave",
                opens_at=max(first_wave.opens_at, now) + timedelta(days=21),
                closes_at=None,
                capacity=100,
                mode=AdmissionMode.COHORT,
            ),
        )
    with transaction():
        programme = lock_programme(programme.id)
        counts = _make_people(programme, programme.waves[0], staff)
    summary = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
    return [f"sign-up: {sum(counts.values())} demo applications in {programme.name} ({summary})"]


def _make_people(programme: Programme, wave: Wave, staff: User | None) -> Counter[str]:
    rng = random.Random(SEED)  # noqa: S311 - demo data, reproducible on purpose
    now = utcnow()
    notice = programmes.notice_in_force(programme.id)
    staff_label = f"{staff.full_name} <{staff.email}>" if staff else "staff"
    states = [state for state, count in PLAN for _ in range(count)]
    counts: Counter[str] = Counter()
    admitted: list[Application] = []
    own = {
        0: "delegate@example.org",
        1: "delegate2@example.org",
        len(states) + 5: "applicant@example.org",
    }
    for n in range(PEOPLE):
        person, collaborations = _person(rng, n)
        account = auth_services.find_user_by_email(own[n]) if n in own else None
        if account is not None:
            person.update(full_name=account.full_name, email=account.email)
        created = now - timedelta(
            days=DAYS_OF_HISTORY * (PEOPLE - n) / PEOPLE, minutes=rng.randint(0, 600)
        )
        verified = created + timedelta(minutes=rng.randint(2, 240))
        if n < len(states):
            state = states[n]
        elif n >= PEOPLE - UNVERIFIED:
            state = S.UNVERIFIED
        else:
            state = S.PENDING
        application = Application(
            programme=programme,
            wave=wave,
            state=state,
            created_at=created,
            verified_at=None if state == S.UNVERIFIED else verified,
            guidelines_accepted_at=created,
            privacy_notice_version=notice.version,
            privacy_accepted_at=created,
            github_key=person["github_username"],
            collaborations=[CollaborationMembership(code=c) for c in collaborations],
            user=account,
            **person,
        )
        db.session.add(application)
        db.session.flush()
        _history(application, state, staff, staff_label, rng)
        counts[state] += 1
        if state == S.ADMITTED:
            admitted.append(application)
    for k, sponsor in enumerate(admitted[2:5]):
        counts[_plus_one(rng, sponsor, k)] += 1
    return counts


def _plus_one(rng: random.Random, sponsor: Application, k: int) -> ApplicationState:
    """A student brought by a delegate: two confirmed and admitted, one awaiting the sponsor."""
    person, _ = _person(rng, 900 + k)
    state = S.ADMITTED if k < 2 else S.PENDING
    now = utcnow()
    application = Application(
        programme=sponsor.programme,
        wave=sponsor.wave,
        state=state,
        created_at=now - timedelta(days=5 - k),
        verified_at=now - timedelta(days=5 - k),
        guidelines_accepted_at=now - timedelta(days=5 - k),
        privacy_notice_version=sponsor.privacy_notice_version,
        privacy_accepted_at=now - timedelta(days=5 - k),
        github_key=person["github_username"],
        is_plus_one=True,
        sponsor_id=sponsor.id,
        active_sponsor_id=sponsor.id,
        sponsor_confirmed_at=now - timedelta(days=4 - k) if state == S.ADMITTED else None,
        **{**person, "career_stage": "graduate"},
    )
    db.session.add(application)
    db.session.flush()
    trail = [(None, S.UNVERIFIED, "Application submitted"), (S.UNVERIFIED, S.PENDING, "Confirmed")]
    if state == S.ADMITTED:
        trail.append((S.PENDING, S.ADMITTED, f"Plus One confirmed by {sponsor.email}"))
        application.admitted_at = application.sponsor_confirmed_at
        give_delegate_account(application)
    for frm, to, reason in trail:
        db.session.add(
            ApplicationEvent(
                application=application,
                created_at=application.created_at,
                actor_label="applicant" if to != S.ADMITTED else "portal",
                from_state=frm,
                to_state=to,
                reason=reason,
            )
        )
    return state


def _history(
    application: Application,
    state: ApplicationState,
    staff: User | None,
    staff_label: str,
    rng: random.Random,
) -> None:
    """The audit trail, offers and accounts that this state implies."""
    created = application.created_at
    decided = application.verified_at or created
    trail: list[tuple[ApplicationState | None, ApplicationState, str, str, datetime]] = [
        (None, S.UNVERIFIED, "applicant", "Application submitted", created)
    ]
    if state != S.UNVERIFIED:
        trail.append((S.UNVERIFIED, S.PENDING, "applicant", "Email address confirmed", decided))
    decided = decided + timedelta(days=2)
    waitlisted_first = state in (S.OFFERED, S.DECLINED, S.OFFER_EXPIRED)
    if waitlisted_first:
        trail.append(
            (S.PENDING, S.WAITLISTED, staff_label, "Demo: next best in the cohort", decided)
        )
        offer_at = utcnow() - timedelta(days=rng.randint(1, 6) if state == S.OFFERED else 9)
        outcome = {
            S.OFFERED: None,
            S.DECLINED: OfferOutcome.DECLINED,
            S.OFFER_EXPIRED: OfferOutcome.EXPIRED,
        }[state]
        offer = Offer(
            application=application,
            wave_id=application.wave_id,
            created_at=offer_at,
            expires_at=offer_at + timedelta(hours=application.programme.offer_lifetime_hours),
            resolved_at=None if outcome is None else offer_at + timedelta(days=3),
            outcome=outcome,
        )
        db.session.add(offer)
        trail.append((S.WAITLISTED, S.OFFERED, "portal", "A seat is free in First wave", offer_at))
        if outcome is not None:
            answered_by = "applicant" if outcome == OfferOutcome.DECLINED else "portal"
            trail.append((S.OFFERED, state, answered_by, "Demo", offer_at + timedelta(days=3)))
    elif state in (S.ADMITTED, S.WITHDRAWN):
        trail.append((S.PENDING, S.ADMITTED, staff_label, "Demo: cohort selection", decided))
        application.admitted_at = decided
        application.decided_at = decided
        if state == S.WITHDRAWN:
            trail.append((S.ADMITTED, S.WITHDRAWN, "applicant", "Changed jobs", decided))
        else:
            give_delegate_account(application)
    elif state in (S.REJECTED, S.WAITLISTED):
        reason = "Demo: data rights not confirmed" if state == S.REJECTED else "Demo: next in line"
        trail.append((S.PENDING, state, staff_label, reason, decided))
        application.decided_at = decided
        if state == S.WAITLISTED and rng.random() < 0.1:
            application.priority = 1
    for frm, to, actor, reason, when in trail:
        db.session.add(
            ApplicationEvent(
                application=application,
                created_at=when,
                actor_id=staff.id if staff and actor == staff_label else None,
                actor_label=actor,
                from_state=frm,
                to_state=to,
                reason=reason,
            )
        )
    if state == S.REJECTED and staff is not None:
        db.session.add(
            StaffNote(
                application_id=application.id,
                author_id=staff.id,
                author_label=staff_label,
                body="Checked the data-rights basis with the institution list: not eligible.",
            )
        )
