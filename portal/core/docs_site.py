"""Where the built documentation site lives, for the pages that serve it and the features that
read it (the help desk's suggestions read its search index)."""

from __future__ import annotations

from pathlib import Path

from flask import current_app


def docs_root() -> Path:
    """The folder of the built Sphinx site (PORTAL_DOCS_DIR, relative to the checkout)."""
    root = Path(current_app.config["PORTAL_DOCS_DIR"])
    return root if root.is_absolute() else Path(current_app.root_path).parent / root
