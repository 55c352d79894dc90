"""Sphinx extension: write one page per table of each felis schema before Sphinx reads sources."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from felis.datamodel import Column, Schema, Table
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

# Characters that Markdown (MyST, with dollar math) would interpret in running text.
_MARKDOWN_SPECIAL = re.compile(r"([\\*_\[\]<>|$~#{}])")
_INLINE_CODE = re.compile(r"(``?)(.+?)\1")


def escape_markdown(text: str) -> str:
    """Escape Markdown syntax in text, keeping ``code`` spans as code."""
    parts = []
    last = 0
    for match in _INLINE_CODE.finditer(text):
        parts.append(_MARKDOWN_SPECIAL.sub(r"\\\1", text[last : match.start()]))
        parts.append(f"``{match.group(2)}``")
        last = match.end()
    parts.append(_MARKDOWN_SPECIAL.sub(r"\\\1", text[last:]))
    return " ".join("".join(parts).split())


def load_schema(path: Path) -> Schema:
    """Read and validate a felis schema file."""
    with path.open(encoding="utf-8") as stream:
        data = yaml.safe_load(stream)
    return Schema.model_validate(data)


def column_type(column: Column) -> str:
    """Felis datatype with its length, e.g. ``char(3)``."""
    datatype = str(column.datatype.value if hasattr(column.datatype, "value") else column.datatype)
    if column.length is not None:
        datatype = f"{datatype}({column.length})"
    return datatype


def table_label(schema: Schema, table: Table) -> str:
    """Cross-reference target of a table page."""
    return f"schema-{schema.name}-{table.name}".replace("_", "-").lower()


def render_table_page(
    schema: Schema, table: Table, schema_file: str, title: str = "{table}"
) -> str:
    """Render one table's page as MyST Markdown; ``title`` may use {schema} and {table}."""
    cell = "—"
    lines = [
        "% Generated from the felis schema at build time: edit the YAML file, not this page.",
        "",
        f"({table_label(schema, table)})=",
        "",
        "# " + title.format(schema=schema.name, table=table.name),
        "",
    ]
    lines += [
        escape_markdown(table.description or ""),
        "",
        ":::{list-table}",
        ":class: dp0-facts",
        "",
        "* - Schema",
        f"  - `{schema.name}`",
        "* - Table",
        f"  - `{table.name}`",
        "* - Columns listed",
        f"  - {len(table.columns)}",
    ]
    if table.primary_key:
        keys = table.primary_key if isinstance(table.primary_key, list) else [table.primary_key]
        names = ", ".join(f"`{schema[key].name}`" for key in keys)
        lines += ["* - Primary key", f"  - {names}"]
    principal = [c.name for c in table.columns if c.tap_principal]
    if principal:
        lines += ["* - Principal columns", "  - " + ", ".join(f"`{n}`" for n in principal)]
    lines += [
        "* - Source",
        f"  - {{download}}`{Path(schema_file).name} <{schema_file}>` (felis YAML)",
        ":::",
        "",
        "## Columns",
        "",
        "Select a column heading to sort the table by that column.",
        "",
        ":::{list-table}",
        ":header-rows: 1",
        ":class: dp0-sortable dp0-schema-table",
        ":widths: 20 11 8 21 40",
        "",
        "* - Name",
        "  - Type",
        "  - Unit",
        "  - UCD",
        "  - Description",
    ]
    for column in table.columns:
        unit = column.ivoa_unit or column.fits_tunit
        lines += [
            f"* - `{column.name}`",
            f"  - {column_type(column)}{'' if column.nullable else ', not null'}",
            f"  - {f'`{unit}`' if unit else cell}",
            f"  - {f'`{column.ivoa_ucd}`' if column.ivoa_ucd else cell}",
            f"  - {escape_markdown(column.description or '') or cell}",
        ]
    lines += [":::", ""]
    return "\n".join(lines)


def _write_if_changed(path: Path, content: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return True


def generate_pages(app: Sphinx) -> None:
    """Write the table pages of every configured schema; remove pages of dropped tables.

    ``dp0_schema_pages`` maps a schema file (relative to the source directory) to a dict
    with ``dir``, the folder for its pages, and optionally ``title``, a format string
    for page titles using ``{schema}`` and ``{table}``.
    """
    srcdir = Path(app.srcdir)
    pages: dict[str, dict[str, str]] = app.config.dp0_schema_pages
    for schema_file, options in pages.items():
        path = srcdir / schema_file
        try:
            schema = load_schema(path)
        except (OSError, ValueError) as exc:
            raise ExtensionError(f"cannot load felis schema {schema_file}: {exc}") from exc
        out_dir = options["dir"]
        title = options.get("title", "{table}")
        target = srcdir / out_dir
        depth = len(Path(out_dir).parts)
        relative_schema = "/".join([".."] * depth + [schema_file])
        written = set()
        for table in schema.tables:
            page = target / f"{table.name}.md"
            content = render_table_page(schema, table, relative_schema, title)
            if _write_if_changed(page, content):
                logger.info("dp0_schema_pages: wrote %s", page.relative_to(srcdir))
            written.add(page.name)
        for stale in target.glob("*.md"):
            if stale.name not in written:
                stale.unlink()


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the extension."""
    app.add_config_value("dp0_schema_pages", {}, "env", dict)
    app.connect("builder-inited", generate_pages)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
