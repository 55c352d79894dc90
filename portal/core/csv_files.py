"""CSV downloads that spreadsheets open safely: no cell runs as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Excel reads a CSV as UTF-8 only when the file starts with this mark.
UTF8_BOM = "\ufeff"


def csv_safe(value: Any) -> str:
    """A cell's text that a spreadsheet will not run as a formula (booleans as true/false,
    nothing as empty)."""
    if value is None:
        return ""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_text(
    fieldnames: Sequence[str], rows: Iterable[Mapping[str, Any]], *, bom: bool = False
) -> str:
    """A CSV document with a header row, CRLF line ends and every cell made safe."""
    buffer = io.StringIO()
    if bom:
        buffer.write(UTF8_BOM)
    writer = csv.DictWriter(buffer, fieldnames=list(fieldnames), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: csv_safe(row[key]) for key in fieldnames})
    return buffer.getvalue()
