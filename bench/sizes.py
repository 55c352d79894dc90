"""How big each scenario is: the full benchmark and the smoke run that keeps it working in CI."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    # signup_burst and crash_drill
    applicants: int = 1000
    concurrency: int = 50
    capacity: int = 100
    baseline_requests: int = 4000
    # queue_at_scale
    tickets: int = 100_000
    delegates: int = 300
    staff: int = 30
    latency_requests: int = 200
    # slack_outage
    escalations: int = 500
    outage_seconds: float = 30.0
    # docs_build: how many tutorials (None: all), and whether Sphinx renders the site
    tutorials: int | None = None
    sphinx: bool = True


FULL = Sizes()
SMOKE = Sizes(
    applicants=60,
    concurrency=10,
    capacity=10,
    baseline_requests=300,
    tickets=3000,
    delegates=30,
    staff=6,
    latency_requests=20,
    escalations=24,
    outage_seconds=4.0,
    tutorials=2,
    sphinx=False,
)
