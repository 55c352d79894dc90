"""Build the documentation site: sample data, cached parallel notebook runs, then Sphinx."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
TUTORIALS = ROOT / "tutorials"  # helper modules; notebooks run with this as working directory
NOTEBOOK_SOURCES = TUTORIALS  # where the tutorial notebooks are found
BUILD = DOCS / "_build"  # where `make docs` writes the site (--out names another folder)
CACHE = DOCS / "_cache"
NOTEBOOK_CACHE = CACHE / "notebooks"
SAMPLE_DB = CACHE / "sample" / "dp0_sample.sqlite"
RENDERED = DOCS / "tutorials"  # executed copies that Sphinx renders
DOWNLOADS = RENDERED / "downloads"  # the same notebooks, offered for download

# Bump when the way notebooks are executed changes, so cached results are not reused.
EXECUTOR_VERSION = "1"
DEFAULT_TIMEOUT = 300  # seconds per notebook
KERNEL = "python3"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class Output:
    """Where one build writes: the site, Sphinx's doctrees, the report and the stamp."""

    root: Path

    @property
    def html(self) -> Path:
        return self.root / "html"

    @property
    def doctrees(self) -> Path:
        return self.root / "doctrees"

    @property
    def report(self) -> Path:
        return self.root / "notebooks.json"

    @property
    def sphinx_stamp(self) -> Path:
        """Digest of the inputs of the last good Sphinx run into this folder."""
        return self.root / ".sphinx-inputs"


@dataclass
class NotebookResult:
    """Outcome of one tutorial notebook in this build."""

    notebook: str
    status: str  # "executed", "cached" or "failed"
    seconds: float
    key: str
    error: str = ""


def tutorial_notebooks() -> list[Path]:
    """The tutorial notebooks, in order (files named like 01-title.ipynb)."""
    return sorted(NOTEBOOK_SOURCES.glob("[0-9][0-9]-*.ipynb"))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shared_inputs_digest(sample_db: Path) -> str:
    """Hash of what every notebook depends on: helpers, sample data, locked dependencies."""
    digest = hashlib.sha256()
    digest.update(f"executor={EXECUTOR_VERSION};python={sys.version}".encode())
    for helper in sorted(TUTORIALS.glob("*.py")):
        digest.update(helper.name.encode())
        digest.update(helper.read_bytes())
    digest.update(b"sample:" + _sha256_file(sample_db).encode())
    lock = ROOT / "uv.lock"
    digest.update(b"lock:" + (_sha256_file(lock).encode() if lock.exists() else b"none"))
    return digest.hexdigest()


def notebook_key(path: Path, shared: str) -> str:
    """Cache key of one notebook: its cells' sources (not outputs) plus the shared inputs."""
    data = json.loads(path.read_text(encoding="utf-8"))
    cells = [
        (
            cell["cell_type"],
            "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"],
        )
        for cell in data["cells"]
    ]
    kernel = data.get("metadata", {}).get("kernelspec", {}).get("name", KERNEL)
    payload = json.dumps({"cells": cells, "kernel": kernel, "shared": shared}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _display_name(path: Path) -> str:
    """A notebook's path as shown in messages: relative to the repository if inside it."""
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def _cache_path(path: Path, key: str) -> Path:
    return NOTEBOOK_CACHE / f"{path.stem}-{key[:20]}.ipynb"


async def _execute_notebook(path_str: str, key: str, timeout: int) -> NotebookResult:
    """Execute one notebook in its own kernel; store it in the cache; return the result."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
    from traitlets.config import Config

    path = Path(path_str)
    name = _display_name(path)
    started = time.monotonic()
    deadline = started + timeout
    notebook = nbformat.read(path, as_version=4)
    current = {"index": -1}

    def on_cell_start(cell: Any, cell_index: int) -> None:
        current["index"] = cell_index

    def remaining(cell: Any) -> int:
        return max(1, int(deadline - time.monotonic()))

    def failed(message: str) -> NotebookResult:
        where = f"cell {current['index'] + 1} of {len(notebook.cells)}"
        return NotebookResult(
            name, "failed", time.monotonic() - started, key, f"{where}: {message}"
        )

    # IPC sockets in a private directory rather than TCP ports: nothing listens on the
    # network, and kernels running side by side cannot collide on ports.
    runtime = Path(tempfile.mkdtemp(prefix="dp0-kernel-"))
    try:
        config = Config()
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(runtime / "kernel")
        client = NotebookClient(
            notebook,
            config=config,
            timeout=timeout,
            timeout_func=remaining,
            startup_timeout=120,
            kernel_name=KERNEL,
            allow_errors=False,
            record_timing=False,
            resources={"metadata": {"path": str(TUTORIALS)}},
            on_cell_start=on_cell_start,
        )
        await client.async_execute()
    except CellTimeoutError:
        return failed(f"still running when the notebook's {timeout} s timeout ran out")
    except CellExecutionError as exc:
        return failed(f"{exc.ename}: {exc.evalue}\n{ANSI.sub('', str(exc))}")
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    errors = [
        index + 1
        for index, cell in enumerate(notebook.cells)
        if any(out.get("output_type") == "error" for out in cell.get("outputs", []))
    ]
    if errors:
        current["index"] = errors[0] - 1
        return failed("the cell has an error output")
    NOTEBOOK_CACHE.mkdir(parents=True, exist_ok=True)
    target = _cache_path(path, key)
    tmp = target.with_suffix(f".{os.getpid()}.{id(notebook)}.tmp")
    nbformat.write(notebook, tmp)
    tmp.replace(target)
    return NotebookResult(name, "executed", time.monotonic() - started, key)


async def _execute_side_by_side(
    pending: list[tuple[Path, str]], jobs: int, timeout: int
) -> list[NotebookResult]:
    """Run up to `jobs` kernels at once. The kernels are the processes that work; this one
    only relays their messages, so one event loop drives them all (no worker processes to
    start, each importing the executor, as a process pool would)."""
    slots = asyncio.Semaphore(jobs)

    async def one(path: Path, key: str) -> NotebookResult:
        async with slots:
            print(f"docs: executing {_display_name(path)}", flush=True)
            return await _execute_notebook(str(path), key, timeout)

    return list(await asyncio.gather(*(one(path, key) for path, key in pending)))


def run_notebooks(
    notebooks: list[Path], jobs: int, timeout: int, shared: str
) -> list[NotebookResult]:
    """Execute the notebooks whose cache key has no cached result; reuse the others."""
    results: dict[Path, NotebookResult] = {}
    pending: list[tuple[Path, str]] = []
    for path in notebooks:
        key = notebook_key(path, shared)
        if _cache_path(path, key).exists():
            results[path] = NotebookResult(_display_name(path), "cached", 0.0, key)
        else:
            pending.append((path, key))
    executed = asyncio.run(_execute_side_by_side(pending, max(1, jobs), timeout))
    results.update({path: result for (path, _), result in zip(pending, executed, strict=True)})
    _prune_cache({path: result.key for path, result in results.items()})
    return [results[path] for path in notebooks]


def _prune_cache(current: dict[Path, str], keep: int = 3) -> None:
    """Keep the current and the most recent earlier results of each notebook, up to
    ``keep`` in all (so that undoing an edit finds its result again); drop the rest."""
    for path, key in current.items():
        entries = [
            entry
            for entry in NOTEBOOK_CACHE.glob(f"{path.stem}-*.ipynb")
            if entry.stem.rsplit("-", 1)[0] == path.stem and entry != _cache_path(path, key)
        ]
        entries.sort(key=lambda entry: entry.stat().st_mtime, reverse=True)
        for entry in entries[keep - 1 :]:
            entry.unlink()


def _write_if_changed(path: Path, content: str) -> None:
    if path.exists() and path.read_text(encoding="utf-8") == content:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


def stage_for_sphinx(results: list[NotebookResult]) -> None:
    """Copy the executed notebooks where Sphinx renders them, with a download link."""
    import nbformat

    wanted = set()
    for result in results:
        stem = Path(result.notebook).stem
        wanted.add(stem)
        executed = _cache_path(ROOT / result.notebook, result.key).read_text(encoding="utf-8")
        _write_if_changed(DOWNLOADS / f"{stem}.ipynb", executed)
        page = nbformat.reads(executed, as_version=4)
        note = nbformat.v4.new_markdown_cell(
            ":::{note}\n"
            "This page shows the notebook as it ran when the site was built, on the "
            "tutorials' sample data. "
            f"{{download}}`Download the notebook with its outputs <downloads/{stem}.ipynb>` "
            "(`.ipynb`).\n"
            ":::"
        )
        note["id"] = "dp0-download-note"
        page.cells.insert(1, note)
        page.nbformat_minor = max(page.nbformat_minor, 4)
        _write_if_changed(RENDERED / f"{stem}.ipynb", nbformat.writes(page) + "\n")
    for stale in [*RENDERED.glob("*.ipynb"), *DOWNLOADS.glob("*.ipynb")]:
        if stale.stem not in wanted:
            stale.unlink()


def run_sphinx(output: Output) -> int:
    """Run Sphinx: nitpicky, warnings are errors. Returns its exit status."""
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-b",
        "html",
        "-n",
        "-W",
        "--keep-going",
        "-q",
        "-d",
        str(output.doctrees),
        str(DOCS),
        str(output.html),
    ]
    return subprocess.run(command, cwd=DOCS, check=False).returncode  # noqa: S603


def sphinx_inputs_digest(output: Output) -> str:
    """Hash of everything Sphinx reads: the docs sources (generated ones included), the
    locked dependencies and the interpreter. Unchanged inputs mean an unchanged site."""
    digest = hashlib.sha256(sys.version.encode())
    lock = ROOT / "uv.lock"
    if lock.exists():
        digest.update(lock.read_bytes())
    skip = {BUILD, CACHE, output.root}
    for path in sorted(DOCS.rglob("*")):
        if not path.is_file() or any(part in skip for part in path.parents):
            continue
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(DOCS).as_posix().encode() + b"\0")
        digest.update(_sha256_file(path).encode())
    return digest.hexdigest()


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """Serialise builds that share this checkout's build and cache directories."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".build.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def clear_cache(output: Output) -> None:
    """Start cold: remove the notebook cache, the sample data and the Sphinx output."""
    for path in (NOTEBOOK_CACHE, SAMPLE_DB.parent, output.root):
        shutil.rmtree(path, ignore_errors=True)
    for generated in [*RENDERED.glob("*.ipynb"), *DOWNLOADS.glob("*.ipynb")]:
        generated.unlink()


def write_report(report: dict[str, Any], path: Path) -> None:
    """Write the build numbers as JSON (read by benchmarks)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def build(
    jobs: int, timeout: int, clear: bool, sphinx: bool = True, output: Output = Output(BUILD)
) -> int:
    """Run the whole build; returns a process exit status."""
    started = time.monotonic()
    with build_lock():
        if clear:
            clear_cache(output)
        sys.path.insert(0, str(TUTORIALS))
        import dp0_sample

        t0 = time.monotonic()
        os.environ[dp0_sample.DB_ENV_VAR] = str(SAMPLE_DB)
        os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        dp0_sample.ensure_sample_db(SAMPLE_DB)
        sample_seconds = time.monotonic() - t0

        t0 = time.monotonic()
        results = run_notebooks(
            tutorial_notebooks(), jobs, timeout, shared_inputs_digest(SAMPLE_DB)
        )
        notebook_seconds = time.monotonic() - t0
        executed = sum(r.status == "executed" for r in results)
        cached = sum(r.status == "cached" for r in results)
        failed = [r for r in results if r.status == "failed"]
        report: dict[str, Any] = {
            "notebooks": len(results),
            "executed": executed,
            "cached": cached,
            "failed": len(failed),
            "jobs": jobs,
            "seconds": round(notebook_seconds, 3),
            "sample_seconds": round(sample_seconds, 3),
            "sphinx": "not run",
            "sphinx_seconds": None,
            "total_seconds": None,
            "details": [asdict(r) for r in results],
        }
        print(
            f"docs: {len(results)} notebooks: {executed} executed, {cached} from cache, "
            f"{len(failed)} failed ({notebook_seconds:.1f} s, {jobs} job(s))",
            flush=True,
        )
        if failed:
            for result in failed:
                print(f"\ndocs: notebook {result.notebook} failed: {result.error}", file=sys.stderr)
            report["total_seconds"] = round(time.monotonic() - started, 3)
            write_report(report, output.report)
            return 1
        stage_for_sphinx(results)
        status = 0
        if sphinx:
            t0 = time.monotonic()
            inputs = sphinx_inputs_digest(output)
            up_to_date = (
                (output.html / "index.html").exists()
                and output.sphinx_stamp.exists()
                and output.sphinx_stamp.read_text() == inputs
            )
            if up_to_date:
                report["sphinx"] = "up to date"
                print("docs: no source changed since the last build; Sphinx not run", flush=True)
            else:
                output.sphinx_stamp.unlink(missing_ok=True)
                status = run_sphinx(output)
                report["sphinx"] = "failed" if status else "ran"
                if status:
                    print("docs: Sphinx failed (warnings are errors)", file=sys.stderr)
                else:
                    # Sphinx may have written generated pages: stamp what it actually read.
                    output.sphinx_stamp.write_text(sphinx_inputs_digest(output))
            report["sphinx_seconds"] = round(time.monotonic() - t0, 3)
        report["total_seconds"] = round(time.monotonic() - started, 3)
        write_report(report, output.report)
        print(
            f"docs: built {_display_name(output.html)} in {report['total_seconds']:.1f} s",
            flush=True,
        )
        return status


def keep_bytecode() -> None:
    """Cache compiled bytecode under docs/_cache, for this process and its children.

    Without it (PYTHONDONTWRITEBYTECODE set) every Sphinx run and every kernel compiles
    all of Sphinx, pandas and matplotlib from source again, which costs seconds each time.
    The prefix keeps the bytecode out of the source tree and the virtualenv.
    """
    prefix = str(CACHE / "pycache")
    sys.dont_write_bytecode = False
    sys.pycache_prefix = prefix
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = prefix


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (``make docs`` runs this)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=os.cpu_count() or 1,
        help="notebooks executed at once, one kernel each (default: number of cores; 1 = serial)",
    )
    parser.add_argument(
        "--clear-cache",
        action="store_true",
        help="start cold: delete cached notebook results, sample data and earlier Sphinx output",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_TIMEOUT,
        help=f"seconds one notebook may run (default {DEFAULT_TIMEOUT})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=BUILD,
        help="folder for the site, its doctrees and the build report (default docs/_build; "
        "another folder goes outside docs/, which Sphinx reads); the notebook cache is shared",
    )
    parser.add_argument(
        "--no-sphinx",
        action="store_true",
        help="only generate the sample data and execute the notebooks",
    )
    args = parser.parse_args(argv)
    keep_bytecode()
    return build(
        max(1, args.jobs),
        args.timeout,
        args.clear_cache,
        sphinx=not args.no_sphinx,
        output=Output(args.out.resolve()),
    )


if __name__ == "__main__":
    raise SystemExit(main())
