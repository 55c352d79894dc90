"""Cohort selection for a wave: propose a cohort from the pool against the programme's targets,
compare it with what first-come-first-served and a random draw would have given, and admit
the (possibly hand-adjusted) selection."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from portal.auth.models import User
from portal.core.db import transaction, utcnow
from portal.extensions import db
from portal.signup.cohort import (
    Candidate,
    Evaluation,
    evaluate,
    first_come_first_served,
    random_draw,
    select_cohort,
)
from portal.signup.decisions import BulkResult, admit_into_wave
from portal.signup.errors import DoesNotExist, NotAllowed
from portal.signup.models import SEAT_STATES, AdmissionMode, Application, CohortRun, Wave
from portal.signup.queries import waitlist_order
from portal.signup.reports import candidate, pool_condition, target_specs
from portal.signup.seats import free_seats


@dataclass(frozen=True)
class Comparison:
    """One way of filling the wave, and how the whole wave would then meet the targets."""

    key: str
    label: str
    ids: list[int]
    evaluation: Evaluation


@dataclass(frozen=True)
class CohortView:
    run: CohortRun
    wave: Wave
    pool: list[Application]
    seated: int
    comparisons: list[Comparison]

    def comparison(self, key: str) -> Comparison:
        return next(c for c in self.comparisons if c.key == key)


def pool_for(wave: Wave) -> list[Application]:
    """Who can be chosen, in waitlist order (priority, then confirmation time)."""
    return list(
        db.session.scalars(
            select(Application).where(pool_condition(wave.programme)).order_by(*waitlist_order())
        )
    )


def _seated(wave: Wave) -> list[Application]:
    return list(
        db.session.scalars(
            select(Application).where(
                Application.wave_id == wave.id,
                Application.state.in_(SEAT_STATES),
                Application.is_plus_one.is_(False),
            )
        )
    )


def suggested_size(wave: Wave) -> int:
    return free_seats(wave.programme, wave)


def runs_of(wave: Wave) -> list[CohortRun]:
    """The wave's cohort proposals, newest first."""
    return list(
        db.session.scalars(
            select(CohortRun).where(CohortRun.wave_id == wave.id).order_by(CohortRun.id.desc())
        )
    )


def propose(wave_id: int, size: int, seed: int, staff: User) -> CohortRun:
    """Run the selection and keep its inputs and result, so it can be shown and repeated."""
    with transaction() as session:
        wave = session.get(Wave, wave_id)
        if wave is None:
            raise DoesNotExist("This wave does not exist.")
        if wave.mode != AdmissionMode.COHORT:
            raise NotAllowed(f"{wave.name} does not admit by cohort selection.")
        targets = target_specs(wave.programme)
        if not targets:
            raise NotAllowed("Set the programme's targets first: the selection works towards them.")
        pool = pool_for(wave)
        size = max(0, min(size, len(pool)))
        chosen = select_cohort(
            [candidate(a) for a in pool],
            targets,
            size,
            seed=seed,
            preselected=[candidate(a) for a in _seated(wave)],
        )
        run = CohortRun(
            wave=wave,
            created_by_id=staff.id,
            seed=seed,
            size=size,
            targets=[vars(t) for t in targets],
            pool_ids=[a.id for a in pool],
            proposed_ids=chosen.ids,
        )
        session.add(run)
        session.flush()
        return run


def describe(run: CohortRun, selected_ids: list[int] | None = None) -> CohortView:
    """The run's proposal (or a hand-adjusted selection) beside first-come-first-served and a
    random draw of the same size, each judged on the whole wave it would make."""
    wave = run.wave
    pool = pool_for(wave)
    by_id = {a.id: a for a in pool}
    candidates = [candidate(a) for a in pool]
    seated = [candidate(a) for a in _seated(wave)]
    targets = target_specs(wave.programme)

    def judged(ids: list[int]) -> Evaluation:
        chosen: list[Candidate] = [candidate(by_id[i]) for i in ids if i in by_id]
        return evaluate([*seated, *chosen], targets)

    proposal = [i for i in run.proposed_ids if i in by_id]
    comparisons = [
        Comparison("cohort", f"Proposed cohort (seed {run.seed})", proposal, judged(proposal)),
        Comparison(
            "fcfs",
            "First come, first served",
            first_come_first_served(candidates, run.size),
            judged(first_come_first_served(candidates, run.size)),
        ),
        Comparison(
            "random",
            f"Random draw (seed {run.seed})",
            random_draw(candidates, run.size, seed=run.seed),
            judged(random_draw(candidates, run.size, seed=run.seed)),
        ),
    ]
    if selected_ids is not None and selected_ids != proposal:
        chosen_ids = [i for i in selected_ids if i in by_id]
        comparisons.insert(
            1, Comparison("selected", "Your selection", chosen_ids, judged(chosen_ids))
        )
    return CohortView(run, wave, pool, len(seated), comparisons)


def admit_selection(run_id: int, application_ids: list[int], staff: User, note: str) -> BulkResult:
    """Admit the selected people into the run's wave (up to its limits) and record it."""
    run = db.session.get(CohortRun, run_id)
    if run is None:
        raise DoesNotExist("This cohort proposal does not exist.")
    reason = f"Cohort selection #{run.id} (seed {run.seed})" + (f": {note}" if note else "")
    with transaction() as session:
        result = admit_into_wave(run.wave_id, application_ids, staff, reason)
        stored = session.get(CohortRun, run_id)
        assert stored is not None
        stored.admitted_ids = [a.id for a in result.changed]
        stored.admitted_at = utcnow()
    return result
