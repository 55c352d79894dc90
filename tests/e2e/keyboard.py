"""Moving through a page with the keyboard alone, checking at every stop that the focused
control looks different from how it looks unfocused."""

from __future__ import annotations

from dataclasses import dataclass, field

from playwright.sync_api import Locator, Page

# The focused element's outline and shadow, then the same without focus (blur, measure, and
# focus again: the browser keeps showing keyboard focus because the last input was a key).
FOCUS_STYLES = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const look = () => {
    const s = getComputedStyle(el);
    return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow].join(" | ");
  };
  const focused = look();
  const keyboardFocus = el.matches(":focus-visible");
  el.blur();
  const plain = look();
  el.focus({preventScroll: true});
  const label = (el.getAttribute("aria-label") || el.innerText || el.value || el.id || "");
  return {element: el.tagName.toLowerCase() + " '" + label.trim().slice(0, 40) + "'",
          focused, plain, keyboardFocus, restored: document.activeElement === el};
}"""

MAX_STOPS = 150


@dataclass
class Keyboard:
    """Tab, Shift-Tab, Enter and Space (and typing into fields), nothing else."""

    page: Page
    stops: int = 0
    invisible: list[str] = field(default_factory=list)

    def _check_focus(self) -> None:
        styles = self.page.evaluate(FOCUS_STYLES)
        if styles is None:
            return
        self.stops += 1
        assert styles["restored"], f"focus could not be restored to {styles['element']}"
        if not styles["keyboardFocus"] or styles["focused"] == styles["plain"]:
            self.invisible.append(
                f"{self.page.url}: {styles['element']} ({styles['focused']} unfocused "
                f"{styles['plain']})"
            )

    def press(self, key: str) -> None:
        assert key in ("Tab", "Shift+Tab", "Enter", "Space"), key
        self.page.keyboard.press(key)
        if key in ("Tab", "Shift+Tab"):
            self._check_focus()

    def tab_to(self, target: Locator, *, backwards: bool = False) -> None:
        """Press Tab (or Shift-Tab) until `target` has the focus."""
        for _ in range(MAX_STOPS):
            self.press("Shift+Tab" if backwards else "Tab")
            if target.evaluate("el => el === document.activeElement"):
                return
        raise AssertionError(f"{target} was not reached with the keyboard")

    def type(self, text: str) -> None:
        """Type into the focused field (a select takes typed letters as a choice)."""
        self.page.keyboard.type(text, delay=20)

    def clear_and_type(self, text: str) -> None:
        self.page.keyboard.press("Control+a")
        self.page.keyboard.type(text, delay=20)

    def assert_focus_always_visible(self) -> None:
        assert self.stops > 0, "no focus stops were checked"
        assert not self.invisible, "focus not visible on:\n  " + "\n  ".join(self.invisible)
