"""Sphinx configuration for the DP0 delegate documentation (documenteer's guide preset)."""

import subprocess
import sys
from pathlib import Path

from documenteer.conf.guide import *  # noqa: F403

_HERE = Path(__file__).parent.resolve()
sys.path.insert(0, str(_HERE / "_ext"))


def _usable_git_history(path: Path) -> bool:
    """Tell whether ``path`` is inside a Git work tree with its full history."""
    try:
        inside = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree", "--is-shallow-repository"],  # noqa: S607
            cwd=path,
            capture_output=True,
            text=True,
            check=False,
        )
        head = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "HEAD"],  # noqa: S607
            cwd=path,
            capture_output=True,
            check=False,
        )
    except OSError:
        return False
    return (
        inside.returncode == 0
        and inside.stdout.split() == ["true", "false"]
        and head.returncode == 0
    )


# The portal serves this site under a strict Content-Security-Policy (script-src 'self'):
# no third-party analytics script, and the navbar link leads back to the portal itself.
html_theme_options["analytics"] = {}  # noqa: F405
html_theme_options["external_links"] = [{"name": "Portal", "url": "/"}]  # noqa: F405

# The site is served by the portal on whatever host it runs on: there is no fixed base URL,
# so no sitemap (sphinx-sitemap needs one) and no canonical link.
suppress_warnings = ["sitemap.configuration"]

# "Last updated" dates come from Git. Outside a Git checkout (a source tarball) or in a
# shallow clone there is no usable history: drop the dates rather than warn (-W fails
# the build on any warning).
if not _usable_git_history(_HERE):
    documenteer_last_modified_enabled = False
    html_theme_options.pop("article_footer_items", None)  # noqa: F405
    sitemap_show_lastmod = False
    html_js_files = [f for f in html_js_files if f != "rubin-last-modified.js"]  # noqa: F405
    suppress_warnings += ["git.subprocess_error", "git.too_shallow", "git.command_not_found"]

# Local additions: CSS and the sortable-table script (a static file, never inline), and a
# layout without documenteer's web-font links (the fonts are in _static/fonts instead).
templates_path.insert(0, "_templates")  # noqa: F405
html_static_path.append("_static")  # noqa: F405
html_css_files.append("dp0-docs.css")  # noqa: F405

# Tutorials are executed by docs/build.py before Sphinx runs (with a cache); Sphinx only
# renders the executed notebooks.
nb_execution_mode = "off"
nb_merge_streams = True

# The staff API's reference (guides/portal/api.md): sphinxcontrib-openapi's current renderer,
# which lists the JSON bodies' fields and shows examples built from the schemas.
openapi_default_renderer = "httpdomain"

# Pages generated from the felis schemas (see _ext/dp0_schema_pages.py).
dp0_schema_pages = {
    "schemas/dp01_dc2_catalogs.yaml": {"dir": "data-products/dp01", "title": "{table}"},
    "schemas/dp0_sample.yaml": {"dir": "data-products/sample", "title": "{table} (sample)"},
}
# Wide tables: no "On this page" sidebar on the table pages and the milestones page.
# ("*" does not match across "/", so the patterns do not overlap.)
_page_sidebar = ["page-toc", "edit-this-page", "sourcelink"]
html_theme_options["secondary_sidebar_items"] = {  # noqa: F405
    "*": _page_sidebar,
    "*/*": _page_sidebar,
    "data-products/dp01/*": [],
    "data-products/sample/*": [],
    "about/timeline": [],
}

# Sortable tables: a static script (tables opt in with the "dp0-sortable" class).
html_js_files.append(("dp0-sortable-tables.js", {"defer": "defer"}))

# No generated social-card images (they cost build time and the site has no public URL).
ogp_social_cards = {"enable": False}

# Links into the portal that serves this site: [Sign up](portal:signup/) becomes a
# root-relative link (/signup/) on the same host.
myst_url_schemes = {
    "http": None,
    "https": None,
    "mailto": None,
    "portal": {"url": "/{{path}}"},
}
