"""The help desk's numbers for staff: open tickets, response and resolution times, SLA
attainment, escalations and satisfaction, with the geometry of their server-drawn charts."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute

from portal.core.roles import SupportTier
from portal.core.templating import portal_zone
from portal.extensions import db
from portal.helpdesk.models import (
    OPEN_STATES,
    EventKind,
    SlaOutcome,
    SlaTarget,
    Ticket,
    TicketEvent,
    TicketState,
)

ATTAINMENT_GOAL = 90.0
WEEK_CHOICES = (4, 8, 12, 26)


def percentile(values: list[float], fraction: float) -> float | None:
    """The `fraction` quantile with linear interpolation between ranks (as numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Bar:
    label: str
    value: float
    text: str
    x: float
    y: float
    width: float
    height: float
    series: int


@dataclass
class BarChart:
    """Grouped vertical bars: one group per category, one bar per series in each group."""

    title: str
    categories: list[str]
    series_names: list[str]
    bars: list[Bar] = field(default_factory=list)
    width: int = 640
    height: int = 220
    plot_top: int = 20
    plot_bottom: int = 180
    goal_y: float | None = None
    goal_text: str = ""


def bar_chart(
    title: str,
    categories: list[str],
    series: dict[str, list[float | None]],
    *,
    unit: str = "",
    goal: float | None = None,
    max_value: float | None = None,
) -> BarChart:
    """Lay out grouped bars in an SVG coordinate space (missing values draw no bar)."""
    chart = BarChart(title=title, categories=categories, series_names=list(series))
    values = [v for vs in series.values() for v in vs if v is not None]
    top = max_value or max([*values, goal or 0.0, 1.0])
    plot_height = chart.plot_bottom - chart.plot_top
    group_width = (chart.width - 40) / max(len(categories), 1)
    bar_width = min(40.0, (group_width - 8) / max(len(series), 1))
    for index, _category in enumerate(categories):
        for number, (_name, numbers) in enumerate(series.items()):
            value = numbers[index]
            if value is None:
                continue
            height = plot_height * value / top
            chart.bars.append(
                Bar(
                    label=categories[index],
                    value=value,
                    text=f"{value:.1f}{unit}" if unit or value % 1 else f"{value:.0f}",
                    x=40 + index * group_width + 4 + number * bar_width,
                    y=chart.plot_bottom - height,
                    width=bar_width - 2,
                    height=height,
                    series=number,
                )
            )
    if goal is not None:
        chart.goal_y = chart.plot_bottom - plot_height * goal / top
        chart.goal_text = f"goal {goal:.0f}{unit}"
    return chart


def _week_start(moment: datetime) -> date:
    local = moment.astimezone(portal_zone()).date()
    return local - timedelta(days=local.weekday())


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def _share(values: list[bool]) -> float | None:
    return 100.0 * sum(values) / len(values) if values else None


def _mean(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None


def _tier_names() -> list[str]:
    return [tier.short_label for tier in SupportTier]


@dataclass(frozen=True)
class Period:
    """The weeks the numbers cover (Monday to Sunday in the portal's timezone), oldest first;
    the current week is the last."""

    weeks: list[date]

    @classmethod
    def ending(cls, now: datetime, weeks: int) -> Period:
        first = _week_start(now) - timedelta(weeks=weeks - 1)
        return cls([first + timedelta(weeks=n) for n in range(weeks)])

    @property
    def since(self) -> datetime:
        return datetime.combine(self.weeks[0], datetime.min.time(), tzinfo=portal_zone())

    @property
    def labels(self) -> list[str]:
        return [week.strftime("%d %b") for week in self.weeks]


@dataclass(frozen=True)
class OpenTickets:
    """Tickets open now, by tier and state."""

    counts: dict[SupportTier, dict[TicketState, int]]
    chart: BarChart


def open_tickets() -> OpenTickets:
    counts = {tier: dict.fromkeys(OPEN_STATES, 0) for tier in SupportTier}
    for tier, state, count in db.session.execute(
        select(Ticket.tier, Ticket.state, func.count())
        .where(Ticket.is_open)
        .group_by(Ticket.tier, Ticket.state)
    ):
        counts[SupportTier(tier)][state] = count
    chart = bar_chart(
        "Open tickets by tier and state",
        _tier_names(),
        {s.label: [float(counts[t][s]) for t in SupportTier] for s in OPEN_STATES},
    )
    return OpenTickets(counts, chart)


@dataclass(frozen=True)
class WeekTimes:
    """Hours from filing to an answer (or a resolution) in one week."""

    count: int
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class Times:
    """One week of times per tier (the tier that answered or resolved)."""

    by_tier: dict[SupportTier, list[WeekTimes]]
    chart: BarChart


def first_response_times(period: Period) -> Times:
    return _times(
        period,
        Ticket.first_response_tier,
        Ticket.first_response_at,
        "Median first response (hours) per week",
    )


def resolution_times(period: Period) -> Times:
    return _times(
        period, Ticket.resolution_tier, Ticket.resolved_at, "Median resolution (hours) per week"
    )


def _times(
    period: Period,
    tier_column: InstrumentedAttribute[int | None],
    done_column: InstrumentedAttribute[datetime | None],
    title: str,
) -> Times:
    """Hours from filing to `done_column` for what was done in the period, by the tier in
    `tier_column` and the week it was done."""
    # The WHERE clause leaves out tickets not done yet (NULL).
    rows = cast(
        Iterable[tuple[int | None, datetime, datetime]],
        db.session.execute(
            select(tier_column, Ticket.created_at, done_column).where(done_column >= period.since)
        ),
    )
    hours: dict[int, dict[date, list[float]]] = defaultdict(lambda: defaultdict(list))
    for tier, created, done in rows:
        hours[tier or 0][_week_start(done)].append(_hours(created, done))
    by_tier = {
        tier: [
            WeekTimes(
                count=len(hours[tier][week]),
                median=percentile(hours[tier][week], 0.5),
                p90=percentile(hours[tier][week], 0.9),
            )
            for week in period.weeks
        ]
        for tier in SupportTier
    }
    chart = bar_chart(
        title,
        period.labels,
        {t.short_label: [week.median for week in by_tier[t]] for t in SupportTier},
        unit=" h",
    )
    return Times(by_tier, chart)


@dataclass(frozen=True)
class TierAttainment:
    """Share of SLA targets met in one tier (percent; None when nothing was checked)."""

    all: float | None
    checks: int
    by_target: dict[SlaTarget, float | None]


@dataclass(frozen=True)
class Attainment:
    by_tier: dict[SupportTier, TierAttainment]
    goal: float
    chart: BarChart


def sla_attainment(period: Period) -> Attainment:
    met: dict[int, dict[SlaTarget, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for tier, target, was_met in db.session.execute(
        select(SlaOutcome.tier, SlaOutcome.target, SlaOutcome.met).where(
            SlaOutcome.completed_at >= period.since
        )
    ):
        met[tier][target].append(was_met)
    by_tier = {
        tier: TierAttainment(
            all=_share([m for target in met[tier].values() for m in target]),
            checks=sum(len(v) for v in met[tier].values()),
            by_target={t: _share(met[tier].get(t, [])) for t in SlaTarget},
        )
        for tier in SupportTier
    }
    chart = bar_chart(
        "SLA attainment per tier (%)",
        _tier_names(),
        {"Targets met": [by_tier[t].all for t in SupportTier]},
        unit=" %",
        goal=ATTAINMENT_GOAL,
        max_value=100.0,
    )
    return Attainment(by_tier, ATTAINMENT_GOAL, chart)


@dataclass(frozen=True)
class WeekEscalations:
    label: str
    auto: int
    manual: int


@dataclass(frozen=True)
class Escalations:
    """Escalations per week: automatic (an SLA breach) and by hand."""

    weeks: list[WeekEscalations]
    chart: BarChart


def escalations(period: Period) -> Escalations:
    counts = {week: {"auto": 0, "manual": 0} for week in period.weeks}
    for created, data in db.session.execute(
        select(TicketEvent.created_at, TicketEvent.data).where(
            TicketEvent.kind == EventKind.ESCALATED, TicketEvent.created_at >= period.since
        )
    ):
        week = _week_start(created)
        if week in counts:
            counts[week]["auto" if (data or {}).get("auto") else "manual"] += 1
    weeks = [
        WeekEscalations(label, counts[week]["auto"], counts[week]["manual"])
        for label, week in zip(period.labels, period.weeks, strict=True)
    ]
    chart = bar_chart(
        "Escalations per week",
        period.labels,
        {
            "Automatic (SLA breach)": [float(w.auto) for w in weeks],
            "By hand": [float(w.manual) for w in weeks],
        },
    )
    return Escalations(weeks, chart)


@dataclass(frozen=True)
class Satisfaction:
    """The requesters' ratings (1-5): how many, their average, spread, and average per tier."""

    count: int
    average: float | None
    distribution: dict[int, int]
    by_tier: dict[SupportTier, float | None]
    chart: BarChart


def satisfaction(period: Period) -> Satisfaction:
    ratings: list[tuple[int | None, int]] = [
        (tier, rating or 0)
        for tier, rating in db.session.execute(
            select(Ticket.resolution_tier, Ticket.rating).where(
                Ticket.rated_at >= period.since, Ticket.rating.is_not(None)
            )
        )
    ]
    scores = range(1, 6)
    distribution = {score: sum(1 for _, r in ratings if r == score) for score in scores}
    chart = bar_chart(
        "Ratings (1 = very poor, 5 = excellent)",
        [str(score) for score in scores],
        {"Ratings": [float(distribution[score]) for score in scores]},
    )
    return Satisfaction(
        count=len(ratings),
        average=_mean([r for _, r in ratings]),
        distribution=distribution,
        by_tier={tier: _mean([r for t, r in ratings if t == tier]) for tier in SupportTier},
        chart=chart,
    )


@dataclass(frozen=True)
class Numbers:
    """Every panel of the numbers page."""

    period: Period
    open: OpenTickets
    response: Times
    resolution: Times
    attainment: Attainment
    escalations: Escalations
    satisfaction: Satisfaction


def numbers(period: Period) -> Numbers:
    return Numbers(
        period=period,
        open=open_tickets(),
        response=first_response_times(period),
        resolution=resolution_times(period),
        attainment=sla_attainment(period),
        escalations=escalations(period),
        satisfaction=satisfaction(period),
    )
