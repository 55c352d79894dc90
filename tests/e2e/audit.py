"""Checks run on every page a journey visits: axe-core at WCAG 2.1 AA, layout at a phone's and a
laptop's width (no sideways scrolling, no overlapping controls), and the server's HTML kept for
the Nu Html Checker; plus the named screenshots the guides show."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag

from playwright.sync_api import Page, Response

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
WIDTHS = (390, 1280)
VIEWPORT_HEIGHT = 900

RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags},
                                          resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " : " + n.failureSummary),
  }));
}"""

# Controls a person can see and reach; two of them sharing pixels is an overlap. Inline links
# are compared line box by line box, so a link wrapping onto the next line is not a clash.
LAYOUT = """async (settle) => {
  // Let transitions that the new width started (off-canvas sidebars) settle first; with
  // JavaScript off the page runs no frame callbacks, and has no such scripts anyway.
  if (settle) {
    await Promise.all(document.getAnimations().map(a => a.finished.catch(() => null)));
    await new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  }
  const selector = "a[href], button, input:not([type=hidden]), select, textarea, summary";
  const width = window.innerWidth;
  const boxes = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!el.checkVisibility({opacityProperty: true, visibilityProperty: true})) continue;
    for (const r of el.getClientRects()) {
      if (r.width < 2 || r.height < 2 || r.right <= 0 || r.left >= width) continue;
      boxes.push({el, r});
    }
  }
  const describe = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + " '" +
    (el.innerText || el.value || el.getAttribute("aria-label") || "").trim().slice(0, 40) + "'";
  const overlaps = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.el === b.el || a.el.contains(b.el) || b.el.contains(a.el)) continue;
      const w = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
      const h = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
      if (w > 1 && h > 1) overlaps.push(describe(a.el) + " overlaps " + describe(b.el));
    }
  }
  const root = document.documentElement;
  return {scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
          overlaps: [...new Set(overlaps)].slice(0, 10)};
}"""


@dataclass
class VisitedPage:
    name: str
    url: str
    html_file: Path


@dataclass
class Auditor:
    pages: list[VisitedPage] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    axe_runs: int = 0
    width_checks: int = 0
    _responses: dict[int, Response] = field(default_factory=dict)
    _without_javascript: set[int] = field(default_factory=set)

    def start_test(self) -> None:
        self.problems = []

    def watch(self, page: Page, *, javascript: bool = True) -> None:
        """Remember the server's answer for each page the tab shows (its raw HTML)."""
        if not javascript:
            self._without_javascript.add(id(page))

        def _on_response(response: Response) -> None:
            request = response.request
            if (
                request.resource_type == "document"
                and response.frame == page.main_frame
                and not 300 <= response.status < 400
            ):
                self._responses[id(page)] = response

        page.on("response", _on_response)

    def check(self, page: Page, name: str) -> None:
        """Check the page the tab shows now, and keep its HTML for the HTML checker."""
        page.wait_for_load_state("load")
        self._keep_html(page, name)
        # Injected scripts do not run with JavaScript off; those pages are the ones the
        # journeys check with it on.
        if id(page) not in self._without_javascript:
            self._axe(page, name)
        self._widths(page, name)

    def _keep_html(self, page: Page, name: str) -> None:
        response = self._responses.get(id(page))
        current = urldefrag(page.url).url
        assert response is not None, f"{name}: no document response for {page.url}"
        assert urldefrag(response.url).url == current, f"{name}: {response.url} is not {current}"
        directory = ARTIFACTS / "html"
        directory.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        path = directory / f"{len(self.pages) + 1:03d}-{slug}.html"
        path.write_bytes(response.body())
        self.pages.append(VisitedPage(name, page.url, path))

    def _axe(self, page: Page, name: str) -> None:
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.add_script_tag(path=str(AXE_SCRIPT))
        violations: list[dict[str, Any]] = page.evaluate(RUN_AXE, AXE_TAGS)
        self.axe_runs += 1
        for violation in violations:
            nodes = "\n      ".join(violation["nodes"])
            self.problems.append(
                f"axe {name} ({page.url}): {violation['id']} [{violation['impact']}] "
                f"{violation['help']}\n      {nodes}"
            )

    def _widths(self, page: Page, name: str) -> None:
        original = page.viewport_size
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        directory = ARTIFACTS / "widths"
        directory.mkdir(parents=True, exist_ok=True)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": VIEWPORT_HEIGHT})
            layout = page.evaluate(LAYOUT, id(page) not in self._without_javascript)
            self.width_checks += 1
            if layout["scrollWidth"] > layout["clientWidth"]:
                self.problems.append(
                    f"width {width}px {name} ({page.url}): scrolls sideways "
                    f"({layout['scrollWidth']} > {layout['clientWidth']})"
                )
            for overlap in layout["overlaps"]:
                self.problems.append(f"width {width}px {name} ({page.url}): {overlap}")
            page.screenshot(
                path=directory / f"{len(self.pages):03d}-{slug}-{width}.png", full_page=True
            )
        if original is not None:
            page.set_viewport_size(original)

    def assert_clean(self) -> None:
        problems, self.problems = self.problems, []
        assert not problems, f"{len(problems)} page problems:\n  " + "\n  ".join(problems)


class Screenshots:
    """Named PNGs for the guides, written only when `make screenshots` asks for them."""

    def __init__(self, directory: str | None) -> None:
        self.directory = Path(directory) if directory else None

    def take(self, page: Page, name: str, *, full_page: bool = False) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=self.directory / f"{name}.png", full_page=full_page)
