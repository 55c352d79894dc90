"""The home page, the health check, and the built documentation site served under /docs/."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    abort,
    g,
    jsonify,
    render_template,
    send_from_directory,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from werkzeug.security import safe_join

from portal.core.docs_site import docs_root
from portal.core.security import public
from portal.core.templating import add_nav_item
from portal.core.urls import external_url
from portal.extensions import db

bp = Blueprint("pages", __name__, template_folder="templates")

# Pages of the documentation site the portal links to, relative to /docs/.
DOCS_PAGES = {
    "getting_started": "delegates/getting-started.html",
    "guidelines": "delegates/guidelines.html",
    "support": "delegates/support.html",
    "tutorials": "tutorials/index.html",
}


def docs_url(page: str, *, external: bool = False) -> str:
    """A link to one of the documentation pages in DOCS_PAGES (absolute for emails)."""
    if external:
        return external_url("pages.docs", path=DOCS_PAGES[page])
    return url_for("pages.docs", path=DOCS_PAGES[page])


_INLINE_SCRIPT = re.compile(
    rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE
)


@bp.route("/")
@public
def home() -> ResponseReturnValue:
    return render_template("pages/home.html")


@bp.route("/healthz")
@public
def healthz() -> ResponseReturnValue:
    """For load balancers and uptime checks: the app answers and the database does too."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:
        db.session.rollback()
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok")


@lru_cache(maxsize=512)
def _inline_script_hashes(path: str, _mtime: float) -> tuple[str, ...]:
    """CSP hashes of a built page's inline scripts (the theme has a few), so the policy can stay
    strict while the docs keep working."""
    content = Path(path).read_bytes()
    return tuple(
        "sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode()
        for body in _INLINE_SCRIPT.findall(content)
    )


@bp.route("/docs/", defaults={"path": "index.html"})
@bp.route("/docs/<path:path>")
@public
def docs(path: str) -> ResponseReturnValue:
    root = docs_root()
    if not (root / "index.html").exists():
        return render_template("pages/docs_missing.html"), 503
    full = safe_join(str(root), path)
    if full is None:
        abort(404)
    target = Path(full)
    if target.is_dir():
        path = path.rstrip("/") + "/index.html"
        target = target / "index.html"
    if not target.is_file():
        abort(404)
    if target.suffix == ".html":
        g.csp_script_hashes = list(_inline_script_hashes(str(target), target.stat().st_mtime))
        g.csp_inline_styles = True
    response = send_from_directory(root, path, max_age=300)
    if target.suffix == ".ipynb":
        response.headers["Content-Disposition"] = f'attachment; filename="{target.name}"'
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["docs_url"] = docs_url
    add_nav_item(app, "pages.docs", "Documentation", None, order=40)
