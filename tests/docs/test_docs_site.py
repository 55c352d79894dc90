"""Tests of the built site: Table 3, schema pages, internal links, portal links, scripts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from tests.docs.conftest import DOCS, BuildRun

# Paths of the portal that serves the site at /docs/; the docs may link to these.
PORTAL_ROUTES = {"/", "/signup/", "/tickets/new", "/tickets/", "/auth/login"}

# Table 3 (Appendix B) of "Data Preview 0: Definition and planning" (2021-07): dataset types
# in the Butler Gen3 registry for DP0.1 and their counts, transcribed independently of the
# CSV file the page is built from.
TABLE3 = [
    ("skyMap", 1),
    ("raw", 3652567),
    ("icSrc", 3651927),
    ("calexp", 3651777),
    ("calexpBackground", 3651777),
    ("src", 3651777),
    ("srcMatch", 3651777),
    ("skyCorr", 3650625),
    ("deepCoadd", 42206),
    ("deepCoadd_calexp", 42206),
    ("deepCoadd_calexp_background", 42206),
    ("deepCoadd_deblendedFlux", 42206),
    ("deepCoadd_det", 42206),
    ("deepCoadd_forced_src", 42206),
    ("deepCoadd_mcalmax_deblended", 7042),
    ("deepCoadd_meas", 42206),
    ("deepCoadd_measMatch", 42206),
    ("deepCoadd_measMatchFull", 42206),
    ("deepCoadd_mergeDet", 7043),
    ("deepCoadd_ngmix_deblended", 7005),
    ("deepCoadd_nImage", 42206),
    ("deepCoadd_ref", 7043),
    ("icSrc_schema", 1),
    ("src_schema", 1),
    ("deepCoadd_meas_schema", 1),
    ("deepCoadd_mergeDet_schema", 1),
    ("deepCoadd_ngmix_deblended_schema", 1),
    ("deepCoadd_peak_schema", 1),
    ("deepCoadd_ref_schema", 1),
    ("deepCoadd_forced_src_schema", 1),
    ("deepCoadd_deblendedFlux_schema", 1),
    ("deepCoadd_deblendedModel_schema", 1),
    ("deepCoadd_det_schema", 3),
    ("deepCoadd_mcalmax_deblended_schema", 1),
    ("camera", 1),
    ("bias", 189),
    ("dark", 189),
    ("flat", 1134),
    ("cal_ref_cat_2_2", 1213),
    ("packages", 4),
]
RERUNS = {
    "run2.2i-calexp-v1": "2.2i/runs/DP0.1/calexp/v1",
    "run2.2i-coadd-wfd-dr6-v1-u": "2.2i/runs/DP0.1/coadd/wfd/dr6/v1/u",
    "run2.2i-coadd-wfd-dr6-v1-grizy": "2.2i/runs/DP0.1/coadd/wfd/dr6/v1/grizy",
    "run2.2i-coadd-wfd-dr6-v1": "2.2i/runs/DP0.1/coadd/wfd/dr6/v1",
}


class Page(HTMLParser):
    """The parts of an HTML page these tests look at."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []  # (tag, url)
        self.scripts: list[dict[str, str | None]] = []
        self.inline_scripts: list[str] = []
        self.tables: list[tuple[set[str], list[list[str]]]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._script: list[str] | None = None
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for key in ("id", "name"):
            if attributes.get(key) and (key == "id" or tag == "a"):
                self.ids.add(str(attributes[key]))
        for key in ("href", "src"):
            if attributes.get(key) and tag in {"a", "link", "script", "img", "source"}:
                self.links.append((tag, str(attributes[key])))
        if tag == "script":
            self.scripts.append(attributes)
            if not attributes.get("src"):
                self._script = []
        elif tag == "table":
            self.tables.append((set((attributes.get("class") or "").split()), []))
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in {"td", "th"} and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.inline_scripts.append("".join(self._script))
            self._script = None
        elif tag in {"td", "th"} and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1][1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)
        if self._cell is not None:
            self._cell.append(data)
        self.text.append(data)


@pytest.fixture(scope="module")
def pages(html_pages: dict[str, str]) -> dict[str, Page]:
    return {path: Page(html) for path, html in html_pages.items()}


def test_the_sections_are_built(pages: dict[str, Page]) -> None:
    for page in (
        "index.html",
        "about/index.html",
        "about/timeline.html",
        "about/offered.html",
        "about/caveats.html",
        "data-products/index.html",
        "data-products/dp01-catalogs.html",
        "data-products/butler-datasets.html",
        "data-products/reruns.html",
        "data-products/dp02-plans.html",
        "data-products/sample-data.html",
        "data-access/portal.html",
        "data-access/notebook.html",
        "data-access/api-tap.html",
        "data-access/sample-vs-services.html",
        "tutorials/index.html",
        "delegates/getting-started.html",
        "delegates/guidelines.html",
        "delegates/support.html",
        "delegates/glossary.html",
    ):
        assert page in pages, page


def test_data_products_page_lists_every_dataset_type_and_count_of_table3(
    pages: dict[str, Page],
) -> None:
    page = pages["data-products/butler-datasets.html"]
    (table,) = [rows for classes, rows in page.tables if "dp0-sortable" in classes]
    header, *body = table
    assert header == ["Order in Table 3", "Dataset type", "Count"]
    assert [(name, int(count)) for _, name, count in body] == TABLE3


def test_reruns_page_gives_the_gen3_collections(pages: dict[str, Page]) -> None:
    (table,) = [rows for _, rows in pages["data-products/reruns.html"].tables]
    assert {row[0]: row[1] for row in table[1:]} == RERUNS


@pytest.mark.parametrize(
    ("schema_file", "folder"),
    [("dp01_dc2_catalogs.yaml", "dp01"), ("dp0_sample.yaml", "sample")],
)
def test_each_schema_table_has_a_page_with_its_columns(
    pages: dict[str, Page], schema_file: str, folder: str
) -> None:
    schema = yaml.safe_load((DOCS / "schemas" / schema_file).read_text())
    for table in schema["tables"]:
        page = pages[f"data-products/{folder}/{table['name']}.html"]
        (rows,) = [rows for classes, rows in page.tables if "dp0-schema-table" in classes]
        assert rows[0] == ["Name", "Type", "Unit", "UCD", "Description"]
        assert [row[0] for row in rows[1:]] == [c["name"] for c in table["columns"]]
        for row, column in zip(rows[1:], table["columns"], strict=True):
            assert row[2] == column.get("ivoa:unit", "—")
            assert row[3] == column.get("ivoa:ucd", "—")
            assert row[1].startswith(column["datatype"])


def test_internal_links_resolve(built_site: BuildRun, pages: dict[str, Page]) -> None:
    html = built_site.html
    broken = []
    for path, page in pages.items():
        base = html / path
        for tag, url in page.links:
            parts = urlsplit(url)
            if parts.scheme or url.startswith("//"):
                continue  # external sites are not checked offline
            if url.startswith("/"):
                if parts.path not in PORTAL_ROUTES:
                    broken.append((path, url, "not a portal route"))
                continue
            target = base if not parts.path else (base.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file() or html.resolve() not in (target.resolve(), *target.parents):
                broken.append((path, url, "missing file"))
                continue
            if parts.fragment and target.suffix == ".html":
                key = target.resolve().relative_to(html.resolve()).as_posix()
                if key in pages and unquote(parts.fragment) not in pages[key].ids:
                    broken.append((path, url, "missing anchor"))
            del tag
    assert not broken, broken


def test_links_into_the_portal(pages: dict[str, Page]) -> None:
    support = {url for _, url in pages["delegates/support.html"].links}
    assert {"/tickets/new", "/tickets/", "/auth/login"} <= support
    start = {url for _, url in pages["delegates/getting-started.html"].links}
    assert {"/signup/", "/auth/login", "/tickets/new"} <= start


def test_no_third_party_scripts_styles_or_fonts(pages: dict[str, Page]) -> None:
    for path, page in pages.items():
        for tag, url in page.links:
            if tag in {"script", "link", "img", "source"}:
                assert not urlsplit(url).scheme, (path, url)
                assert not url.startswith("//"), (path, url)


def test_sortable_tables_use_the_static_script_only(
    built_site: BuildRun, pages: dict[str, Page]
) -> None:
    page = pages["data-products/butler-datasets.html"]
    sources = [str(s.get("src")) for s in page.scripts if s.get("src")]
    assert any("_static/dp0-sortable-tables.js" in src for src in sources)
    assert (built_site.html / "_static" / "dp0-sortable-tables.js").is_file()
    for path, parsed in pages.items():
        for body in parsed.inline_scripts:
            assert "sortable" not in body.lower(), (path, body[:80])


def test_tutorial_pages_offer_the_executed_notebook(
    built_site: BuildRun, pages: dict[str, Page]
) -> None:
    for path, page in pages.items():
        if not (path.startswith("tutorials/0") and path.endswith(".html")):
            continue
        stem = Path(path).stem
        downloads = [url for tag, url in page.links if tag == "a" and url.endswith(f"{stem}.ipynb")]
        assert downloads, path
        executed = (built_site.html / "tutorials" / downloads[0]).resolve()
        assert '"output_type"' in executed.read_text(encoding="utf-8")


@pytest.mark.slow
def test_sphinx_builds_outside_a_git_checkout(built_site: BuildRun, tmp_path: Path) -> None:
    """The "last updated" dates come from Git; a copy without Git must still build cleanly."""
    source = tmp_path / "docs"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build", "_cache"))
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-n", "-W", "-q", ".", "_build/html"],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr
    assert (source / "_build" / "html" / "index.html").is_file()
