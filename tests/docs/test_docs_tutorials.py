"""Tests of the tutorials: committed clean, executed by the build, cached, failing loudly."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.docs.conftest import DOCS, ROOT, BuildRun, run_build

TUTORIALS = ROOT / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("[0-9][0-9]-*.ipynb"))
EXECUTED = DOCS / "tutorials" / "downloads"
HEADER_FIELDS = ("Learning goals", "Level", "Data used", "Last verified")
AXIS_LABEL = re.compile(r'set_([xy])label\(\s*f?"([^"]*)"')


def ids(path: Path) -> str:
    return path.stem


def code_cells(notebook: Any) -> list[Any]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_there_are_at_least_five_tutorials() -> None:
    assert len(NOTEBOOKS) >= 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in code_cells(notebook):
        assert cell.outputs == [], f"{path.name}: a code cell has outputs"
        assert cell.execution_count is None, f"{path.name}: a code cell has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_header_cell_states_goals_level_data_and_date(path: Path) -> None:
    header = nbformat.read(path, as_version=4).cells[0]
    assert header.cell_type == "markdown"
    assert header.source.startswith("# ")
    for field in HEADER_FIELDS:
        assert f"**{field}**" in header.source, f"{path.name}: no {field}"
    assert re.search(r"\*\*Last verified\*\* \| \d{4}-\d{2}-\d{2}", header.source)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_plots_have_labelled_axes_with_units(path: Path) -> None:
    cells = code_cells(nbformat.read(path, as_version=4))
    plotting = [cell for cell in cells if "plt.subplots" in cell.source]
    assert plotting, f"{path.name} makes no plot"
    for cell in plotting:
        labels = AXIS_LABEL.findall(cell.source)
        assert any(axis == "x" for axis, _ in labels), cell.source
        assert any(axis == "y" for axis, _ in labels), cell.source
        for axis, text in labels:
            assert re.search(r"\[[^\]]+\]", text), f"{axis} label without a unit: {text!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_executed_without_errors_and_with_a_figure(built_site: BuildRun, path: Path) -> None:
    executed = nbformat.read(EXECUTED / path.name, as_version=4)
    cells = code_cells(executed)
    assert [cell.source for cell in cells] == [
        cell.source for cell in code_cells(nbformat.read(path, as_version=4))
    ]
    figures = 0
    for cell in cells:
        assert isinstance(cell.execution_count, int), cell.source
        for output in cell.outputs:
            assert output.output_type != "error", cell.source
            assert not (output.output_type == "stream" and output.name == "stderr"), output.text
            figures += "image/png" in output.get("data", {})
    assert figures >= 1


def test_report_counts_every_notebook(built_site: BuildRun) -> None:
    report = built_site.report
    for key in ("notebooks", "executed", "cached", "failed", "jobs", "seconds", "total_seconds"):
        assert key in report
    assert report["notebooks"] == len(NOTEBOOKS)
    assert report["executed"] + report["cached"] == len(NOTEBOOKS)
    assert report["failed"] == 0
    assert [d["notebook"] for d in report["details"]] == [
        p.relative_to(ROOT).as_posix() for p in NOTEBOOKS
    ]
    assert "WARNING" not in built_site.output


def test_unchanged_notebooks_come_from_the_cache(built_site: BuildRun) -> None:
    again = run_build(built_site.out, "--jobs", "1")
    assert again.returncode == 0, again.output
    assert again.report["executed"] == 0
    assert again.report["cached"] == len(NOTEBOOKS)
    assert again.report["jobs"] == 1
    assert again.report["seconds"] < 5
    assert again.report["sphinx"] == "up to date"  # no source changed: Sphinx is not run
    assert f"{len(NOTEBOOKS)} notebooks: 0 executed, {len(NOTEBOOKS)} from cache" in again.output


def _write_notebook(path: Path, *sources: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, path)
    return path


@dataclass
class NotebookBuild:
    """A run of the build's entry point over a folder of notebooks, without Sphinx."""

    process: subprocess.CompletedProcess[str]
    report: dict[str, Any]
    cache: Path


def _build_notebook(tmp_path: Path, name: str, *cells: str, timeout: int) -> NotebookBuild:
    """Run ``docs/build.py`` (its ``main``) in a separate process, over one notebook of these
    cells instead of the tutorials, with a notebook cache of this test's own."""
    sources = tmp_path / "notebooks"
    sources.mkdir()
    _write_notebook(sources / name, *cells)
    cache = tmp_path / "cache"
    out = tmp_path / "out"
    arguments = ["--jobs", "1", "--timeout", str(timeout), "--no-sphinx", "--out", str(out)]
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(DOCS)!r})\n"
        "from pathlib import Path\n"
        "import build\n"
        f"build.NOTEBOOK_SOURCES = Path({str(sources)!r})\n"
        f"build.NOTEBOOK_CACHE = Path({str(cache)!r})\n"
        f"sys.exit(build.main({arguments!r}))\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    report = out / "notebooks.json"
    assert report.exists(), process.stdout + process.stderr
    return NotebookBuild(process, json.loads(report.read_text()), cache)


def test_a_failing_cell_names_notebook_cell_and_traceback(tmp_path: Path) -> None:
    run = _build_notebook(
        tmp_path,
        "98-broken.ipynb",
        "x = 1",
        "def ratio(a):\n    return a / 0\n\nratio(x)",
        timeout=120,
    )
    (outcome,) = run.report["details"]
    assert outcome["status"] == "failed"
    assert outcome["notebook"].endswith("broken.ipynb")
    assert "cell 2 of 2" in outcome["error"]
    assert "ZeroDivisionError" in outcome["error"]
    assert "return a / 0" in outcome["error"]  # the traceback, with the failing line
    assert not list(run.cache.glob("98-broken-*.ipynb"))


@pytest.mark.slow
def test_a_notebook_that_runs_too_long_is_stopped(tmp_path: Path) -> None:
    run = _build_notebook(tmp_path, "98-slow.ipynb", "import time", "time.sleep(600)", timeout=15)
    (outcome,) = run.report["details"]
    assert outcome["status"] == "failed"
    assert "cell 2 of 2" in outcome["error"]
    assert "timeout" in outcome["error"]
    assert outcome["seconds"] < 120


def test_the_build_stops_on_a_failing_notebook_and_names_it(tmp_path: Path) -> None:
    """The real build entry point, pointed at a folder holding one broken notebook."""
    run = _build_notebook(
        tmp_path, "99-broken.ipynb", "print('fine')", "undefined_name + 1", timeout=120
    )
    assert run.process.returncode == 1, run.process.stdout + run.process.stderr
    assert "1 notebooks: 0 executed, 0 from cache, 1 failed" in run.process.stdout
    message = run.process.stderr
    assert "99-broken.ipynb failed" in message
    assert "cell 2 of 2" in message
    assert "NameError" in message
    assert "undefined_name + 1" in message
    written = run.report
    assert (written["notebooks"], written["executed"], written["failed"]) == (1, 0, 1)
    assert written["details"][0]["status"] == "failed"
