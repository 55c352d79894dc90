"""Cohort selection against soft targets, in the style of entrofy (Huppenkothen et al. 2020,
"Entrofy your cohort", PLOS ONE 15(7): e0231939).

The method, so that staff can explain every selection:

* Each target says that a fraction `f` of the cohort should have one attribute value (for
  example 40 % members of a Science Collaboration). For a cohort of `K` people that is a target
  count `T = f * K`.
* A cohort's score is the weighted sum, over the targets, of a concave function of how far each
  target is met: `sum(w * sqrt(min(n, T) / T))`, where `n` counts the cohort members with the
  value and `w` is the weight staff gave the target's attribute. A target contributes at most
  `w` (when met); going beyond a target earns nothing, and because the square root is concave
  the first people towards a target that is far from met earn more than the last people towards
  one that is nearly met, which is what spreads the seats across the targets.
* Greedy maximisation: starting from the people already admitted to the wave, add one person
  at a time, always someone whose addition raises the score most. Ties (common: many people
  look the same to the targets, and once every target is met everyone ties) are broken by a
  seeded random choice, so the same pool, targets and seed always give the same cohort.
* The greedy pass is run `trials` times with different tie-breaks drawn from the seed, and the
  best-scoring cohort is kept (entrofy does the same).

Plain Python: pools of a few thousand people take well under a second, because people who look
the same to the targets are grouped and scored once per step.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Category = tuple[str, str]


@dataclass(frozen=True)
class Candidate:
    """Someone who could be selected: an id and the (attribute, value) pairs that describe them."""

    id: int
    values: frozenset[Category]


@dataclass(frozen=True)
class TargetSpec:
    attribute: str
    value: str
    fraction: float
    weight: float = 1.0

    @property
    def category(self) -> Category:
        return (self.attribute, self.value)


@dataclass(frozen=True)
class TargetResult:
    target: TargetSpec
    count: int
    achieved: float

    @property
    def shortfall(self) -> float:
        return max(0.0, self.target.fraction - self.achieved)

    @property
    def error(self) -> float:
        return abs(self.target.fraction - self.achieved)


@dataclass(frozen=True)
class Evaluation:
    """How well one cohort meets the targets."""

    size: int
    results: list[TargetResult]
    score: float
    best_score: float

    @property
    def mean_shortfall(self) -> float:
        """The mean of how far each target is from being met (0 when all are met)."""
        return sum(r.shortfall for r in self.results) / len(self.results) if self.results else 0.0

    @property
    def mean_error(self) -> float:
        """The mean distance between achieved and target fractions, above or below."""
        return sum(r.error for r in self.results) / len(self.results) if self.results else 0.0

    @property
    def targets_met(self) -> int:
        return sum(1 for r in self.results if r.shortfall <= 1e-9)

    @property
    def relative_score(self) -> float:
        return self.score / self.best_score if self.best_score else 1.0


@dataclass(frozen=True)
class Selection:
    ids: list[int]
    score: float
    trial: int


def _concave(met: float) -> float:
    return math.sqrt(met)


def _target_counts(targets: Sequence[TargetSpec], cohort_size: int) -> dict[Category, float]:
    return {t.category: t.fraction * cohort_size for t in targets if t.fraction > 0}


def cohort_score(
    members: Iterable[Candidate], targets: Sequence[TargetSpec], cohort_size: int | None = None
) -> float:
    """The score of a cohort (see the module docstring)."""
    people = list(members)
    size = cohort_size if cohort_size is not None else len(people)
    wanted = _target_counts(targets, size)
    counts: dict[Category, int] = defaultdict(int)
    for person in people:
        for category in person.values:
            counts[category] += 1
    total = 0.0
    for target in targets:
        goal = wanted.get(target.category)
        if goal:
            total += target.weight * _concave(min(counts[target.category], goal) / goal)
    return total


def evaluate(members: Sequence[Candidate], targets: Sequence[TargetSpec]) -> Evaluation:
    """Achieved fraction of every target, the score, and the score if every target were met."""
    size = len(members)
    results = []
    for target in targets:
        count = sum(1 for person in members if target.category in person.values)
        results.append(TargetResult(target, count, count / size if size else 0.0))
    best = sum(t.weight for t in targets if t.fraction > 0)
    return Evaluation(size, results, cohort_score(members, targets, size), best)


def select_cohort(
    pool: Sequence[Candidate],
    targets: Sequence[TargetSpec],
    size: int,
    *,
    seed: int,
    preselected: Sequence[Candidate] = (),
    trials: int = 20,
) -> Selection:
    """Choose `size` people from `pool` to add to `preselected`, maximising the score greedily.

    The result depends only on the pool (as a set), the targets, the size and the seed.
    """
    size = max(0, min(size, len(pool)))
    ordered = sorted(pool, key=lambda person: person.id)
    cohort_size = len(preselected) + size
    wanted = _target_counts(targets, cohort_size)
    weights = {t.category: t.weight for t in targets if t.category in wanted}
    start_counts: dict[Category, int] = defaultdict(int)
    for person in preselected:
        for category in person.values & wanted.keys():
            start_counts[category] += 1

    # People who look the same to the targets share a signature and are scored once per step.
    groups: dict[frozenset[Category], list[Candidate]] = defaultdict(list)
    for person in ordered:
        groups[frozenset(person.values & wanted.keys())].append(person)
    signatures = sorted(groups, key=lambda s: sorted(s))

    best: Selection | None = None
    for trial in range(max(1, trials)):
        rng = random.Random(f"{seed}:{trial}")  # noqa: S311 - reproducible, not secret
        remaining = {signature: list(groups[signature]) for signature in signatures}
        for members in remaining.values():
            rng.shuffle(members)
        counts = dict(start_counts)
        chosen: list[Candidate] = []
        for _ in range(size):
            gain = {
                category: weights[category]
                * (
                    _concave(min(counts.get(category, 0) + 1, goal) / goal)
                    - _concave(min(counts.get(category, 0), goal) / goal)
                )
                for category, goal in wanted.items()
            }
            scored = [
                (sum(gain[c] for c in signature), signature)
                for signature in signatures
                if remaining[signature]
            ]
            top = max(value for value, _ in scored)
            tied = [signature for value, signature in scored if value >= top - 1e-12]
            person, signature = _draw(rng, remaining, tied)
            chosen.append(person)
            for category in signature:
                counts[category] = counts.get(category, 0) + 1
        score = cohort_score([*preselected, *chosen], targets, cohort_size)
        if best is None or score > best.score + 1e-12:
            best = Selection([person.id for person in chosen], score, trial)
    assert best is not None
    return best


def _draw(
    rng: random.Random,
    remaining: dict[frozenset[Category], list[Candidate]],
    tied: list[frozenset[Category]],
) -> tuple[Candidate, frozenset[Category]]:
    """A uniform choice among the people of the tied groups (a group in proportion to its
    size, then its next member, the members having been shuffled)."""
    pick = rng.randrange(sum(len(remaining[signature]) for signature in tied))
    for signature in tied:
        if pick < len(remaining[signature]):
            return remaining[signature].pop(), signature
        pick -= len(remaining[signature])
    raise AssertionError("the pick is always within the tied groups")


def first_come_first_served(pool: Sequence[Candidate], size: int) -> list[int]:
    """The first `size` of a pool already in waitlist order."""
    return [person.id for person in pool[: max(0, size)]]


def random_draw(pool: Sequence[Candidate], size: int, *, seed: int) -> list[int]:
    """A seeded random sample of the pool: what a lottery would have given."""
    ordered = sorted(pool, key=lambda person: person.id)
    rng = random.Random(f"{seed}:lottery")  # noqa: S311 - reproducible, not secret
    return [person.id for person in rng.sample(ordered, max(0, min(size, len(ordered))))]
