"""docs_build: the documentation build (docs/build.py) cold, warm, and with one tutorial edited;
and the tutorials executed one at a time against side by side.

It builds a copy of the site's sources, so that clearing the cache and editing a tutorial never
touch the checkout's own build or notebooks."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.sizes import Sizes
from bench.stack import PYTHON, ROOT
from bench.stats import rounded

GENERATED = ("_build", "_cache")


def copy_sources(target: Path, tutorials: int | None) -> Path:
    """The docs, the tutorials (the first `tutorials` of them) and the lock file, laid out as in
    the repository; the bytecode cache comes along, as it survives `--clear-cache` too."""
    shutil.copytree(
        ROOT / "docs",
        target / "docs",
        ignore=lambda folder, names: [
            n
            for n in names
            if n in GENERATED
            or n == "__pycache__"
            or (Path(folder).name in ("tutorials", "downloads") and n.endswith(".ipynb"))
        ],
    )
    bytecode = ROOT / "docs" / "_cache" / "pycache"
    if bytecode.is_dir():
        shutil.copytree(bytecode, target / "docs" / "_cache" / "pycache")
    (target / "tutorials").mkdir()
    notebooks = sorted((ROOT / "tutorials").glob("[0-9][0-9]-*.ipynb"))[:tutorials]
    for path in [*notebooks, *(ROOT / "tutorials").glob("*.py")]:
        shutil.copy2(path, target / "tutorials" / path.name)
    shutil.copy2(ROOT / "uv.lock", target / "uv.lock")
    return target


def build(site: Path, *args: str) -> tuple[dict[str, Any], float]:
    """Run the site's build once; returns its report and the wall time."""
    started = time.perf_counter()
    result = subprocess.run(
        [PYTHON, str(site / "docs" / "build.py"), *args],
        cwd=site,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode:
        raise RuntimeError(f"docs build {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    report = json.loads((site / "docs" / "_build" / "notebooks.json").read_text())
    return report, elapsed


def edit_one_tutorial(site: Path) -> str:
    """Change the text of the last tutorial, as an author fixing a sentence would."""
    path = sorted((site / "tutorials").glob("[0-9][0-9]-*.ipynb"))[-1]
    notebook = json.loads(path.read_text())
    cell = next(c for c in reversed(notebook["cells"]) if c["cell_type"] == "markdown")
    source = cell["source"]
    cell["source"] = (
        [*source, "\n\nEdited for the benchmark."]
        if isinstance(source, list)
        else (source + "\n\nEdited for the benchmark.")
    )
    path.write_text(json.dumps(notebook, indent=1) + "\n")
    return path.name


def docs_build(sizes: Sizes, workdir: Path) -> dict[str, Any]:
    site = copy_sources(workdir / "site", sizes.tutorials)
    sphinx = [] if sizes.sphinx else ["--no-sphinx"]
    cold, cold_s = build(site, "--clear-cache", "--jobs", "2", *sphinx)
    warm, warm_s = build(site, *sphinx)
    edited = edit_one_tutorial(site)
    changed, changed_s = build(site, *sphinx)
    # Last, so that the parallel run (above) is the one that meets cold disk caches.
    serial, _ = build(site, "--clear-cache", "--no-sphinx", "--jobs", "1")
    return {
        "notebooks": cold["notebooks"],
        "cold_s": rounded(cold_s),
        "warm_s": rounded(warm_s),
        "warm_executed": warm["executed"],
        "one_changed_executed": changed["executed"],
        "parallel_speedup": rounded(serial["seconds"] / cold["seconds"], 2),
        "warm_share_of_cold": rounded(warm_s / cold_s, 3),
        "one_changed_s": rounded(changed_s),
        "edited": edited,
        "serial_notebooks_s": rounded(serial["seconds"]),
        "parallel_notebooks_s": rounded(cold["seconds"]),
        "sample_data_s": rounded(cold["sample_seconds"]),
        "cold_sphinx_s": cold["sphinx_seconds"],
        "warm_sphinx": warm["sphinx"],
        "sphinx": sizes.sphinx,
    }
