"""Fixtures for the documentation tests: the site built once per run through docs/build.py,
into a folder of the run's own (the notebook cache is the checkout's), and its report.

Under pytest-xdist one worker builds the site and every worker takes a copy of what it built."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
BUILD_TIMEOUT = 1500  # seconds: a cold build executes every tutorial


@dataclass
class BuildRun:
    """One run of the documentation build entry point, into the folder `out`."""

    out: Path
    returncode: int
    output: str
    report: dict[str, Any]

    @property
    def html(self) -> Path:
        return self.out / "html"


def run_build(out: Path, *args: str) -> BuildRun:
    """Run ``docs/build.py`` as ``make docs`` does, into `out`; return its status and report."""
    process = subprocess.run(
        [sys.executable, str(DOCS / "build.py"), "--out", str(out), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    report_path = out / "notebooks.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return BuildRun(out, process.returncode, process.stdout + process.stderr, report)


def build_once_for_every_worker(shared: Path, out: Path) -> BuildRun:
    """The first worker to get here builds into `shared`; each worker copies that build into
    its own `out`, where the build finds nothing to do."""
    shared.mkdir(exist_ok=True)
    site = shared / "site"
    record = shared / "run.json"
    with (shared / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            run = run_build(site)
            record.write_text(json.dumps({k: v for k, v in asdict(run).items() if k != "out"}))
    if site.exists():
        shutil.copytree(site, out)
    return BuildRun(out, **json.loads(record.read_text()))


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> BuildRun:
    """The site, built through the same entry point as ``make docs`` (notebooks from the cache
    when unchanged)."""
    out = tmp_path_factory.getbasetemp() / "docs-build"
    if "PYTEST_XDIST_WORKER" in os.environ:
        # The workers' temporary folders share a parent.
        run = build_once_for_every_worker(tmp_path_factory.getbasetemp().parent / "docs", out)
    else:
        run = run_build(out)
    assert run.returncode == 0, run.output
    return run


@pytest.fixture(scope="session")
def html_pages(built_site: BuildRun) -> dict[str, str]:
    """Every built HTML page, by path relative to the site root."""
    return {
        path.relative_to(built_site.html).as_posix(): path.read_text(encoding="utf-8")
        for path in built_site.html.rglob("*.html")
        if "_static" not in path.parts
    }
