"""Run the benchmark scenarios, print a table and write bench/results/latest.json.

python -m bench                      # every scenario, full size (make bench)
python -m bench --scenario NAME      # one (make bench SCENARIO=NAME)
python -m bench --smoke              # tiny sizes, for CI (make bench-smoke)
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.sizes import FULL, SMOKE, Sizes

RESULTS = Path(__file__).resolve().parent / "results"
Scenario = Callable[[Sizes, Path], dict[str, Any]]

# The keys each scenario must write (more are welcome), and the targets they are judged by.
KEYS: dict[str, tuple[str, ...]] = {
    "signup_burst": (
        "applications", "verified", "capacity", "admitted", "waitlisted", "over_admitted",
        "errors", "lost", "rps", "applicants_per_s", "p50_ms", "p99_ms", "hello_rps",
        "insert_rps", "ratio_to_insert",
    ),
    "queue_at_scale": (
        "tickets", "queue_p50_ms", "queue_p95_ms", "search_p95_ms", "detail_p95_ms",
        "sla_sweep_ms",
    ),
    "slack_outage": (
        "escalations", "delivered", "duplicates", "lost", "max_per_channel_per_s", "drain_s",
    ),
    "crash_drill": (
        "killed", "applications_lost", "applications_duplicated", "messages_lost",
        "messages_duplicated", "over_admitted",
    ),
    "docs_build": (
        "notebooks", "cold_s", "warm_s", "warm_executed", "one_changed_executed",
        "parallel_speedup",
    ),
}  # fmt: skip


SCENARIOS = {
    "signup_burst": "bench.scenarios.signup:signup_burst",
    "queue_at_scale": "bench.scenarios.queue:queue_at_scale",
    "slack_outage": "bench.scenarios.slack:slack_outage",
    "crash_drill": "bench.scenarios.signup:crash_drill",
    "docs_build": "bench.scenarios.docs:docs_build",
}


def scenario(name: str) -> Scenario:
    module, _, function = SCENARIOS[name].partition(":")
    scenario_function: Scenario = getattr(importlib.import_module(module), function)
    return scenario_function


def machine() -> dict[str, Any]:
    """What the figures were taken on."""
    load = os.getloadavg()
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    postgres = subprocess.run(
        ["psql", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "postgresql": postgres,
        "os": platform.system(),
        "load_average_at_start": [round(x, 2) for x in load],
    }


def table(results: dict[str, dict[str, Any]]) -> str:
    """The figures as a plain-text table: scenario, key, value (the required keys first)."""
    lines = [f"{'scenario':<16} {'key':<26} value", "-" * 60]
    for name, figures in results.items():
        required = [key for key in KEYS.get(name, ()) if key in figures]
        extra = [
            key
            for key in figures
            if key not in required and not isinstance(figures[key], list | dict)
        ]
        for index, key in enumerate(required + extra):
            label = name if index == 0 else ""
            marker = "" if key in required else " (extra)"
            lines.append(f"{label:<16} {key:<26} {figures[key]}{marker}")
    return "\n".join(lines)


def missing_keys(results: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    return {
        name: [key for key in KEYS[name] if key not in figures]
        for name, figures in results.items()
        if any(key not in figures for key in KEYS[name])
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--scenario", action="append", choices=list(KEYS), help="run only this one (repeatable)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes: checks the benchmark works"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="the JSON file (default: bench/results/latest.json; smoke.json with --smoke)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scenarios' logs and data")
    args = parser.parse_args(argv)

    # Stopped from outside (SIGTERM): unwind, so every server and database is cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = SMOKE if args.smoke else FULL
    names = args.scenario or list(KEYS)
    output = args.output or RESULTS / ("smoke.json" if args.smoke else "latest.json")
    workdir = Path(tempfile.mkdtemp(prefix="dp0-bench-"))
    started = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    report: dict[str, Any] = {
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sizes": "smoke" if args.smoke else "full",
        "machine": machine(),
    }
    for name in names:
        print(f"bench: {name} ...", flush=True)
        t0 = time.monotonic()
        try:
            results[name] = scenario(name)(sizes, workdir / name)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        results[name]["scenario_s"] = round(time.monotonic() - t0, 1)
        print(f"bench: {name} done in {results[name]['scenario_s']} s", flush=True)
    report["total_s"] = round(time.monotonic() - started, 1)
    report["scenarios"] = results
    # A single-scenario run updates that scenario in the file and keeps the others.
    if output.exists() and set(names) != set(KEYS):
        previous = json.loads(output.read_text())
        if previous.get("sizes") == report["sizes"]:
            report["scenarios"] = {**previous.get("scenarios", {}), **results}
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(output)
    print()
    print(table(results))
    print(f"\nbench: {len(results)} scenario(s) in {report['total_s']} s; wrote {output}")
    gaps = missing_keys(results)
    if args.keep or failed:
        print(f"bench: logs and data are in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    if failed or gaps:
        print(f"bench: failed: {', '.join(failed)}; missing keys: {gaps}", file=sys.stderr)
        return 1
    return 0
