"""The help desk's numbers for staff: open tickets, response and resolution times, SLA
attainment, escalations and satisfaction, with the geometry of their server-drawn charts."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, true

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

TIERS = (1, 2, 3)
ATTAINMENT_GOAL = 90.0


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


def compute(now: datetime, weeks: int = 8) -> dict[str, Any]:
    """Everything the dashboard shows, over the last `weeks` weeks (open counts are now)."""
    first_week = _week_start(now) - timedelta(weeks=weeks - 1)
    week_list = [first_week + timedelta(weeks=n) for n in range(weeks)]
    since = datetime.combine(first_week, datetime.min.time(), tzinfo=portal_zone())
    week_labels = [w.strftime("%d %b") for w in week_list]

    open_counts: dict[int, dict[str, int]] = {tier: dict.fromkeys(OPEN_STATES, 0) for tier in TIERS}
    for tier, state, count in db.session.execute(
        select(Ticket.tier, Ticket.state, func.count())
        .where(Ticket.is_open == true())
        .group_by(Ticket.tier, Ticket.state)
    ):
        open_counts.setdefault(tier, dict.fromkeys(OPEN_STATES, 0))[TicketState(state)] = count

    def times(rows: Any) -> dict[int, dict[date, list[float]]]:
        grouped: dict[int, dict[date, list[float]]] = defaultdict(lambda: defaultdict(list))
        for tier, created, done in rows:
            grouped[tier or 0][_week_start(done)].append(_hours(created, done))
        return grouped

    first_response = times(
        db.session.execute(
            select(Ticket.first_response_tier, Ticket.created_at, Ticket.first_response_at).where(
                Ticket.first_response_at >= since
            )
        )
    )
    resolution = times(
        db.session.execute(
            select(Ticket.resolution_tier, Ticket.created_at, Ticket.resolved_at).where(
                Ticket.resolved_at >= since
            )
        )
    )

    def time_table(grouped: dict[int, dict[date, list[float]]]) -> dict[int, list[dict[str, Any]]]:
        return {
            tier: [
                {
                    "count": len(grouped[tier][week]),
                    "median": percentile(grouped[tier][week], 0.5),
                    "p90": percentile(grouped[tier][week], 0.9),
                }
                for week in week_list
            ]
            for tier in TIERS
        }

    response_table = time_table(first_response)
    resolution_table = time_table(resolution)

    outcomes: dict[int, dict[str, list[bool]]] = {t: defaultdict(list) for t in TIERS}
    for tier, target, met in db.session.execute(
        select(SlaOutcome.tier, SlaOutcome.target, SlaOutcome.met).where(
            SlaOutcome.completed_at >= since
        )
    ):
        outcomes.setdefault(tier, defaultdict(list))[target].append(met)
    attainment = {
        tier: {
            "all": _share([m for target in outcomes[tier].values() for m in target]),
            "checks": sum(len(v) for v in outcomes[tier].values()),
            **{t.value: _share(outcomes[tier].get(t.value, [])) for t in SlaTarget},
        }
        for tier in TIERS
    }

    escalations = {week: {"auto": 0, "manual": 0} for week in week_list}
    for created, data in db.session.execute(
        select(TicketEvent.created_at, TicketEvent.data).where(
            TicketEvent.kind == EventKind.ESCALATED, TicketEvent.created_at >= since
        )
    ):
        week = _week_start(created)
        if week in escalations:
            escalations[week]["auto" if (data or {}).get("auto") else "manual"] += 1

    ratings: list[tuple[int | None, int]] = [
        (tier, rating or 0)
        for tier, rating in db.session.execute(
            select(Ticket.resolution_tier, Ticket.rating).where(
                Ticket.rated_at >= since, Ticket.rating.is_not(None)
            )
        )
    ]
    distribution = {score: sum(1 for _, r in ratings if r == score) for score in range(1, 6)}
    satisfaction = {
        "count": len(ratings),
        "average": sum(r for _, r in ratings) / len(ratings) if ratings else None,
        "distribution": distribution,
        "by_tier": {tier: _mean([r for t, r in ratings if t == tier]) for tier in TIERS},
    }

    charts = {
        "open": bar_chart(
            "Open tickets by tier and state",
            [f"Tier {t}" for t in TIERS],
            {s.label: [float(open_counts[t][s]) for t in TIERS] for s in OPEN_STATES},
        ),
        "first_response": bar_chart(
            "Median first response (hours) per week",
            week_labels,
            {f"Tier {t}": [row["median"] for row in response_table[t]] for t in TIERS},
            unit=" h",
        ),
        "resolution": bar_chart(
            "Median resolution (hours) per week",
            week_labels,
            {f"Tier {t}": [row["median"] for row in resolution_table[t]] for t in TIERS},
            unit=" h",
        ),
        "attainment": bar_chart(
            "SLA attainment per tier (%)",
            [f"Tier {t}" for t in TIERS],
            {"Targets met": [attainment[t]["all"] for t in TIERS]},
            unit=" %",
            goal=ATTAINMENT_GOAL,
            max_value=100.0,
        ),
        "escalations": bar_chart(
            "Escalations per week",
            week_labels,
            {
                "Automatic (SLA breach)": [float(escalations[w]["auto"]) for w in week_list],
                "By hand": [float(escalations[w]["manual"]) for w in week_list],
            },
        ),
        "satisfaction": bar_chart(
            "Ratings (1 = very poor, 5 = excellent)",
            [str(score) for score in range(1, 6)],
            {"Ratings": [float(distribution[score]) for score in range(1, 6)]},
        ),
    }
    return {
        "weeks": weeks,
        "week_labels": week_labels,
        "since": since,
        "tiers": TIERS,
        "open_states": OPEN_STATES,
        "open_counts": open_counts,
        "response": response_table,
        "resolution": resolution_table,
        "attainment": attainment,
        "attainment_goal": ATTAINMENT_GOAL,
        "escalations": [
            (label, escalations[w]) for label, w in zip(week_labels, week_list, strict=True)
        ],
        "satisfaction": satisfaction,
        "charts": charts,
        "targets": list(SlaTarget),
    }


def _share(values: list[bool]) -> float | None:
    return 100.0 * sum(values) / len(values) if values else None


def _mean(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None
