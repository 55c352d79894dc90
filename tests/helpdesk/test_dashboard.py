"""The numbers page: open tickets, response and resolution times (median, 90th percentile) per
tier and week, SLA attainment, escalations and satisfaction, drawn on the server."""

from __future__ import annotations

from datetime import timedelta

import time_machine

from portal.core.db import utcnow
from portal.helpdesk.dashboard import Period, WeekEscalations, WeekTimes, numbers, percentile
from portal.helpdesk.requesters import rate_ticket
from portal.helpdesk.staff import add_staff_message, change_state, escalate_ticket
from tests.helpdesk.helpers import MONDAY_10AM, act, file_ticket


def test_percentiles_interpolate_between_ranks():
    assert percentile([], 0.5) is None
    assert percentile([4.0], 0.9) == 4.0
    assert percentile([1.0, 3.0], 0.5) == 2.0
    assert percentile([1.0, 3.0], 0.9) == 2.8
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0


def test_the_numbers(app, as_user, people, tiers):
    with time_machine.travel(MONDAY_10AM, tick=False) as clock:
        quick = file_ticket(app, people.delegate, subject="Quick one")
        slow = file_ticket(app, people.other_delegate, subject="Slow one")
        handed_on = file_ticket(app, people.delegate, subject="Handed on")
        clock.shift(timedelta(hours=1))
        act(app, people.tier1, add_staff_message, quick, body="Answer", internal=False)
        act(app, people.tier1, escalate_ticket, handed_on, "Service desk job")
        clock.shift(timedelta(hours=2))  # 3 h: past the 2 h first-response target
        act(app, people.tier1, add_staff_message, slow, body="Late answer", internal=False)
        act(app, people.tier1, change_state, quick, "resolved")
        clock.shift(timedelta(hours=2))
        act(app, people.tier1, change_state, slow, "resolved")
        act(app, people.delegate, rate_ticket, quick, 5, "Great")
        act(app, people.other_delegate, rate_ticket, slow, 3, "")
        with app.app_context():
            stats = numbers(Period.ending(utcnow(), weeks=4))
        page = as_user(people.tier2).get("/staff/tickets/dashboard?weeks=4")
        assert as_user(people.delegate).get("/staff/tickets/dashboard").status_code == 403

    this_week = stats.response.by_tier[1][-1]
    assert this_week == WeekTimes(count=2, median=2.0, p90=2.8)
    assert stats.resolution.by_tier[1][-1].median == 4.0
    assert stats.response.by_tier[2][-1].count == 0
    # Tier 1: quick met both targets; slow missed its first response and met its resolution.
    assert stats.attainment.by_tier[1].all == 75.0
    assert stats.attainment.by_tier[1].by_target["first_response"] == 50.0
    assert stats.attainment.by_tier[2].all is None
    assert stats.escalations.weeks[-1] == WeekEscalations(stats.period.labels[-1], auto=0, manual=1)
    assert stats.satisfaction.count == 2
    assert stats.satisfaction.average == 4.0
    assert stats.satisfaction.distribution == {1: 0, 2: 0, 3: 1, 4: 0, 5: 1}
    assert stats.open.counts[2]["new"] == 1

    assert page.status_code == 200
    html = page.data.decode()
    assert html.count("<svg") >= 6
    assert '<title id="chart-attainment-title">SLA attainment per tier (%)</title>' in html
    for figure in ("75 %", "2.0 h", "2.8 h"):
        assert figure in html
    assert "4.0 / 5" in html
    assert "style=" not in html.split("<main", 1)[1]  # the strict CSP allows no inline styles
