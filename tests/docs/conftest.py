"""Fixtures for the documentation tests: the site built through docs/build.py, its report."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
HTML = DOCS / "_build" / "html"
REPORT = DOCS / "_build" / "notebooks.json"
BUILD_TIMEOUT = 1500  # seconds: a cold build executes every tutorial


@dataclass
class BuildRun:
    """One run of the documentation build entry point."""

    returncode: int
    output: str
    report: dict[str, Any]


def run_build(*args: str) -> BuildRun:
    """Run ``docs/build.py`` as ``make docs`` does and return its exit status and report."""
    process = subprocess.run(
        [sys.executable, str(DOCS / "build.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    report = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    return BuildRun(process.returncode, process.stdout + process.stderr, report)


@pytest.fixture(scope="session")
def built_site() -> BuildRun:
    """The site, built through the same entry point as ``make docs`` (cached when unchanged)."""
    run = run_build()
    assert run.returncode == 0, run.output
    return run


@pytest.fixture(scope="session")
def html_pages(built_site: BuildRun) -> dict[str, str]:
    """Every built HTML page, by path relative to the site root."""
    return {
        path.relative_to(HTML).as_posix(): path.read_text(encoding="utf-8")
        for path in HTML.rglob("*.html")
        if "_static" not in path.parts
    }
