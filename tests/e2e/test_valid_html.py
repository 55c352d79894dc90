"""The Nu Html Checker on the server's HTML of every page the journeys visited (run once over
all of them at the end, since the checker's JVM is slow to start)."""

from __future__ import annotations

import json
import shutil
import subprocess

from tests.e2e.audit import ROOT, Auditor

VNU = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"


def test_every_visited_page_is_valid_html(auditor: Auditor) -> None:
    assert auditor.pages, "no pages were visited: run the journeys in the same session"
    java = shutil.which("java")
    assert java is not None, "the Nu Html Checker needs Java"
    result = subprocess.run(
        [java, "-jar", str(VNU), "--errors-only", "--format", "json"]
        + [str(page.html_file) for page in auditor.pages],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    messages = json.loads(result.stderr or result.stdout)["messages"]
    names = {str(page.html_file): f"{page.name} ({page.url})" for page in auditor.pages}
    errors = []
    for message in messages:
        if message.get("type") in ("error", "non-document-error"):
            url = message.get("url", "")
            page = names.get(url.removeprefix("file:"), url)
            errors.append(f"{page} line {message.get('lastLine')}: {message['message']}")
    print(f"Nu Html Checker: {len(auditor.pages)} pages, {len(errors)} errors")
    assert not errors, f"{len(errors)} HTML errors:\n  " + "\n  ".join(errors)
