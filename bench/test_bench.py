"""Checks of the benchmark itself (run by `make bench-smoke` after the smoke run): the results
file has every scenario and key, the drills found nothing lost, and the helpers are right."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.client import csrf_token, form_fields
from bench.run import KEYS, RESULTS, missing_keys, table
from bench.stats import max_in_window, percentile

SMOKE = RESULTS / "smoke.json"
LATEST = RESULTS / "latest.json"


def _scenarios(path: Path) -> dict[str, dict[str, Any]]:
    assert path.exists(), f"{path.name} is missing: run `make bench-smoke` (or `make bench`)"
    scenarios: dict[str, dict[str, Any]] = json.loads(path.read_text())["scenarios"]
    return scenarios


@pytest.mark.parametrize("path", [SMOKE, LATEST], ids=["smoke", "latest"])
def test_the_results_have_every_scenario_and_key(path: Path) -> None:
    scenarios = _scenarios(path)
    assert sorted(scenarios) == sorted(KEYS)
    assert missing_keys(scenarios) == {}


def test_the_smoke_run_lost_and_doubled_nothing() -> None:
    """Correctness holds at any size, so the smoke run checks it (speed targets it cannot)."""
    results = _scenarios(SMOKE)
    signup = results["signup_burst"]
    assert (signup["over_admitted"], signup["errors"], signup["lost"]) == (0, 0, 0)
    assert signup["admitted"] == signup["capacity"]
    assert signup["admitted"] + signup["waitlisted"] == signup["verified"]
    slack = results["slack_outage"]
    assert (slack["lost"], slack["duplicates"]) == (0, 0)
    assert slack["delivered"] >= slack["escalations"]
    drill = results["crash_drill"]
    assert drill["killed"] == 2
    assert drill["applications_lost"] == 0
    assert drill["applications_duplicated"] == 0
    assert drill["messages_lost"] == 0
    assert drill["over_admitted"] == 0
    docs = results["docs_build"]
    assert (docs["warm_executed"], docs["one_changed_executed"]) == (0, 1)


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == pytest.approx(50.5)
    assert percentile(values, 0.99) == pytest.approx(99.01)
    assert percentile([], 0.5) == 0.0


def test_the_busiest_window_counts_events_less_than_a_window_apart() -> None:
    assert max_in_window([0.0, 1.1, 2.2, 3.3, 4.4, 5.5], 5.0) == 5
    assert max_in_window([0.0, 0.1, 0.2, 3.0], 1.0) == 3
    assert max_in_window([], 1.0) == 0


PAGE = """
<form action="/auth/logout" method="post"><input type="hidden" name="csrf_token" value="t1"></form>
<form method="post">
  <input name="csrf_token" type="hidden" value="t2">
  <input type="text" name="timezone" value="America/Phoenix">
  <input type="checkbox" name="active" checked><input type="checkbox" name="off">
  <select name="tier"><option value="1">One</option><option value="2" selected>Two</option></select>
  <textarea name="closed_dates">
2026-12-24</textarea>
</form>
"""


def test_a_form_is_read_as_a_browser_would_send_it() -> None:
    assert form_fields(PAGE, "timezone") == [
        ("csrf_token", "t2"),
        ("timezone", "America/Phoenix"),
        ("active", "on"),
        ("tier", "2"),
        ("closed_dates", "2026-12-24"),
    ]
    assert csrf_token(PAGE) == "t1"
    with pytest.raises(LookupError):
        form_fields(PAGE, "nothing")


def test_the_table_lists_required_keys_before_the_others() -> None:
    lines = table({"docs_build": {"extra": 1, **dict.fromkeys(KEYS["docs_build"], 0)}})
    rows = lines.splitlines()[2:]
    assert rows[0].startswith("docs_build")
    assert "notebooks" in rows[0]
    assert rows[-1].endswith("(extra)")
