"""Configuring programmes: their limits, waves and soft targets, from the admin pages or from a
TOML file (`flask --app app signup load-config FILE`). Capacities obey the seat rule: none can
be lowered below the seats already taken."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select

from portal.audit import AuditAction, record_audit, record_change
from portal.core.db import transaction, utcnow
from portal.core.templating import portal_zone
from portal.extensions import db
from portal.signup import privacy
from portal.signup.attributes import ATTRIBUTES, is_known
from portal.signup.errors import CapacityBelowSeatsTaken, DoesNotExist, InvalidConfig, NotAllowed
from portal.signup.models import AdmissionMode, PrivacyNotice, Programme, Target, Wave
from portal.signup.privacy import DataPurpose, NoticeFields
from portal.signup.seats import lock_programme, seats_held

# The DP0 programme as the portal ships it; its privacy notice is every new programme's first.
DEFAULT_PROGRAMME_FILE = Path(__file__).resolve().parents[2] / "config" / "dp0_programme.toml"

# Attributes a person has exactly one value of: their target fractions cannot add up past 1.
MULTI_VALUED = {"science_collaboration"}


@dataclass(frozen=True)
class ProgrammeFields:
    slug: str
    name: str
    total_capacity: int
    plus_one_capacity: int = 0
    guidelines_url: str = ""
    guidelines_text: str = ""
    offer_lifetime_hours: int = 7 * 24
    accepting_applications: bool = True
    cohort_attributes_required: bool = False


@dataclass(frozen=True)
class WaveFields:
    slug: str
    name: str
    opens_at: datetime
    closes_at: datetime | None
    capacity: int
    mode: str = AdmissionMode.REVIEWED
    carry_over_waitlist: bool = True


def programme_fields(programme: Programme) -> ProgrammeFields:
    return ProgrammeFields(**{f.name: getattr(programme, f.name) for f in fields(ProgrammeFields)})


def wave_fields(wave: Wave) -> WaveFields:
    return WaveFields(**{f.name: getattr(wave, f.name) for f in fields(WaveFields)})


def save_programme(
    programme_id: int | None, values: ProgrammeFields, notice: NoticeFields | None = None
) -> Programme:
    """Create a programme (with `notice`, or the shipped one, as its privacy notice's first
    version), or change one within the seat rule."""
    with transaction() as session:
        clash = session.scalar(select(Programme).where(Programme.slug == values.slug))
        if clash is not None and clash.id != programme_id:
            raise NotAllowed(f"Another programme already uses the short name {values.slug!r}.")
        before = None
        if programme_id is None:
            programme = Programme(target_weights={})
            session.add(programme)
        else:
            programme = lock_programme(programme_id)
            _refuse_below_seats(seats_held(programme.id), values.total_capacity, "total capacity")
            _refuse_below_seats(
                seats_held(programme.id, plus_one=True),
                values.plus_one_capacity,
                "Plus One quota",
            )
            before = vars(programme_fields(programme))
        for name, value in vars(values).items():
            setattr(programme, name, value)
        session.flush()
        _audit_save(
            AuditAction.PROGRAMME_CREATED,
            AuditAction.PROGRAMME_CHANGED,
            f"programme:{programme.id}",
            before,
            vars(values),
        )
        if before is None:
            privacy.ensure_notice(programme.id, notice or default_notice())
        return programme


def save_wave(programme_id: int, wave_id: int | None, values: WaveFields) -> Wave:
    """Create a wave, or change one within the seat rule."""
    if values.closes_at is not None and values.closes_at <= values.opens_at:
        raise NotAllowed("A wave must close after it opens.")
    if values.mode not in set(AdmissionMode):
        raise NotAllowed(f"Unknown admission mode {values.mode!r}.")
    values = replace(values, mode=AdmissionMode(values.mode))
    with transaction() as session:
        programme = lock_programme(programme_id)
        clash = session.scalar(
            select(Wave).where(Wave.programme_id == programme.id, Wave.slug == values.slug)
        )
        if clash is not None and clash.id != wave_id:
            raise NotAllowed(f"This programme already has a wave called {values.slug!r}.")
        before = None
        if wave_id is None:
            wave = Wave(programme=programme)
            session.add(wave)
        else:
            found = session.get(Wave, wave_id)
            if found is None or found.programme_id != programme.id:
                raise DoesNotExist("This wave does not exist.")
            wave = found
            _refuse_below_seats(
                seats_held(programme.id, wave_id=wave.id),
                values.capacity,
                f"capacity of {wave.name}",
            )
            before = vars(wave_fields(wave))
        for name, value in vars(values).items():
            setattr(wave, name, value)
        session.flush()
        _audit_save(
            AuditAction.WAVE_CREATED,
            AuditAction.WAVE_CHANGED,
            f"wave:{wave.id}",
            before,
            vars(values),
        )
        return wave


def _audit_save(
    created: AuditAction,
    changed: AuditAction,
    target: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> None:
    """Record a new programme or wave with all its fields, a changed one with what changed."""
    if before is None:
        record_audit(created, target=target, after=after)
    else:
        record_change(changed, target=target, before=before, after=after)


def _refuse_below_seats(taken: int, capacity: int, what: str) -> None:
    if capacity < taken:
        raise CapacityBelowSeatsTaken(
            f"The {what} cannot be {capacity}: {taken} seats are already taken (admitted or "
            "held by an open offer). Lower it to no less than that."
        )


def save_targets(
    programme_id: int, fractions: dict[tuple[str, str], float], weights: dict[str, float]
) -> Programme:
    """Replace a programme's soft targets and their weights."""
    for (attribute, value), fraction in fractions.items():
        if not is_known(attribute, value):
            raise NotAllowed(f"There is no attribute value {attribute}={value}.")
        if not 0 <= fraction <= 1:
            raise NotAllowed(f"The target for {attribute}={value} must be between 0 and 100 %.")
    for attribute in {attribute for attribute, _ in fractions} - MULTI_VALUED:
        total = sum(f for (a, _), f in fractions.items() if a == attribute)
        if total > 1 + 1e-9:
            raise NotAllowed(
                f"The targets for {ATTRIBUTES[attribute].label.lower()} add up to "
                f"{total:.0%}; one person has one value, so they can add up to 100 % at most."
            )
    for attribute, weight in weights.items():
        if attribute not in ATTRIBUTES or weight < 0:
            raise NotAllowed(f"The weight of {attribute} must be a number of 0 or more.")
    with transaction() as session:
        programme = lock_programme(programme_id)
        before = _targets_of(programme)
        # Old rows go before new ones are written, or the unique constraint would see both.
        programme.targets.clear()
        session.flush()
        programme.targets.extend(
            Target(attribute=attribute, value=value, fraction=fraction)
            for (attribute, value), fraction in sorted(fractions.items())
            if fraction > 0
        )
        programme.target_weights = {a: w for a, w in sorted(weights.items()) if w != 1.0}
        record_change(
            AuditAction.TARGETS_CHANGED,
            target=f"programme:{programme.id}",
            before=before,
            after=_targets_of(programme),
        )
        return programme


def _targets_of(programme: Programme) -> dict[str, Any]:
    """A programme's targets ("attribute=value": fraction) and weights, as the log keeps them."""
    return {
        "targets": {f"{t.attribute}={t.value}": t.fraction for t in programme.targets},
        "weights": dict(programme.target_weights),
    }


def all_programmes() -> list[Programme]:
    return list(db.session.scalars(select(Programme).order_by(Programme.created_at, Programme.id)))


# --- the TOML file ------------------------------------------------------------------------------


def _as_utc(value: Any, key: str) -> datetime:
    """A TOML date-time; one without an offset is read in the portal's timezone."""
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if not isinstance(value, datetime):
        raise InvalidConfig(f"{key} must be a date-time such as 2021-06-30T00:00:00.")
    if value.tzinfo is None:
        value = value.replace(tzinfo=portal_zone())
    return value.astimezone(UTC)


def _need(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in table:
        raise InvalidConfig(f"{where}: {key} is missing.")
    value = table[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidConfig(f"{where}: {key} must be a whole number.")
    if kind is not int and not isinstance(value, kind):
        raise InvalidConfig(f"{where}: {key} must be a {kind.__name__}.")
    return value


def read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise InvalidConfig(f"There is no file {path}.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InvalidConfig(f"{path} is not valid TOML: {exc}") from exc


def load_config(path: Path) -> list[str]:
    """Create or update a programme, its waves and targets from a TOML file. Loading the same
    file again changes nothing; waves and the programme are matched by their short names."""
    config = read_config(path)
    table = config.get("programme")
    if not isinstance(table, dict):
        raise InvalidConfig("The file needs a [programme] table.")
    slug = _need(table, "slug", str, "[programme]")
    with transaction() as session:
        existing = session.scalar(select(Programme).where(Programme.slug == slug))
        base = (
            programme_fields(existing)
            if existing is not None
            else ProgrammeFields(
                slug=slug, name="", total_capacity=_need(table, "total_capacity", int, slug)
            )
        )
        values = replace(
            base,
            name=str(table.get("name", base.name or slug)),
            total_capacity=int(table.get("total_capacity", base.total_capacity)),
            plus_one_capacity=int(table.get("plus_one_capacity", base.plus_one_capacity)),
            guidelines_url=str(table.get("guidelines_url", base.guidelines_url)),
            guidelines_text=str(table.get("guidelines", base.guidelines_text)).strip(),
            offer_lifetime_hours=int(
                table.get("offer_lifetime_days", base.offer_lifetime_hours / 24) * 24
            ),
            accepting_applications=bool(
                table.get("accepting_applications", base.accepting_applications)
            ),
            cohort_attributes_required=bool(
                table.get("cohort_attributes_required", base.cohort_attributes_required)
            ),
        )
        notice = _notice_fields(config["privacy"]) if "privacy" in config else None
        programme = save_programme(existing.id if existing else None, values, notice)
        lines = [f"{'updated' if existing else 'created'} programme {slug} ({programme.name})"]
        if existing is not None and notice is not None:
            lines.append(privacy.load_notice(programme.id, notice))
        for index, wave_table in enumerate(config.get("waves", [])):
            lines.append(_load_wave(programme, wave_table, f"[[waves]] #{index + 1}"))
        if "targets" in config:
            lines.append(_load_targets(programme, config["targets"], config.get("target_weights")))
        return lines


def _notice_fields(table: Any) -> NoticeFields:
    """The [privacy] table: the notice, one text per group of the form's fields, and (for a
    new version) what changed."""
    if not isinstance(table, dict):
        raise InvalidConfig("[privacy] must be a table with notice, purposes and changes.")
    purposes = table.get("purposes", {})
    if not isinstance(purposes, dict) or not all(
        isinstance(purposes.get(p.value), str) for p in DataPurpose
    ):
        names = ", ".join(p.value for p in DataPurpose)
        raise InvalidConfig(f"[privacy.purposes] needs a text for each of: {names}.")
    return NoticeFields(
        body=_need(table, "notice", str, "[privacy]"),
        purposes={p.value: purposes[p.value] for p in DataPurpose},
        changes=str(table.get("changes", "")),
    )


@cache
def default_notice() -> NoticeFields:
    """The shipped programme's privacy notice, for programmes created without one."""
    return _notice_fields(read_config(DEFAULT_PROGRAMME_FILE).get("privacy"))


def notice_in_force(programme_id: int) -> PrivacyNotice:
    """The notice applicants accept; a programme from before notices gets the shipped one."""
    return privacy.published_notice(programme_id) or privacy.ensure_notice(
        programme_id, default_notice()
    )


def _load_wave(programme: Programme, table: dict[str, Any], where: str) -> str:
    slug = _need(table, "slug", str, where)
    existing = db.session.scalar(
        select(Wave).where(Wave.programme_id == programme.id, Wave.slug == slug)
    )
    if existing is None:
        opens_at = _as_utc(table["opens"], "opens") if "opens" in table else utcnow()
        base = WaveFields(
            slug=slug,
            name=slug,
            opens_at=opens_at,
            closes_at=None,
            capacity=_need(table, "capacity", int, where),
        )
    else:
        base = wave_fields(existing)
    values = replace(
        base,
        name=str(table.get("name", base.name)),
        opens_at=_as_utc(table["opens"], "opens") if "opens" in table else base.opens_at,
        closes_at=_as_utc(table["closes"], "closes") if "closes" in table else base.closes_at,
        capacity=int(table.get("capacity", base.capacity)),
        mode=str(table.get("mode", base.mode)),
        carry_over_waitlist=bool(table.get("carry_over_waitlist", base.carry_over_waitlist)),
    )
    wave = save_wave(programme.id, existing.id if existing else None, values)
    return (
        f"{'updated' if existing else 'created'} wave {slug}: {wave.capacity} seats, "
        f"{wave.mode.label.lower()}"
    )


def _load_targets(programme: Programme, table: Any, weights_table: Any) -> str:
    if not isinstance(table, dict):
        raise InvalidConfig("[targets] must be a table of attribute tables.")
    fractions: dict[tuple[str, str], float] = {}
    for attribute, values in table.items():
        if not isinstance(values, dict):
            raise InvalidConfig(f"[targets.{attribute}] must map values to fractions.")
        for value, fraction in values.items():
            if isinstance(fraction, bool) or not isinstance(fraction, int | float):
                raise InvalidConfig(f"targets.{attribute}.{value} must be a fraction like 0.4.")
            fractions[(attribute, str(value))] = float(fraction)
    weights = {str(a): float(w) for a, w in (weights_table or {}).items()}
    save_targets(programme.id, fractions, weights)
    return f"set {len(fractions)} targets"
