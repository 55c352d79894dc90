"""The admins' audit log: the entries, filtered and paginated, and their CSV and JSON exports."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from portal.audit import service
from portal.audit.forms import AuditFilterForm
from portal.audit.models import AuditAction, AuditEntry
from portal.core.csv_files import csv_text
from portal.core.db import utcnow
from portal.core.forms import form_page
from portal.core.security import admin_required
from portal.extensions import db

bp = Blueprint("audit", __name__, url_prefix="/admin/audit", template_folder="templates")

PER_PAGE = 50
# Where a target of each kind is shown, and the name its id goes by, when that page exists.
TARGET_PAGES = {
    "user": ("admin.edit_user", "user_id"),
    "programme": ("signup_admin.edit_programme", "programme_id"),
    "wave": ("signup_admin.edit_wave", "wave_id"),
    "tier": ("helpdesk_staff.edit_tier", "tier"),
}


def target_url(target: str) -> str | None:
    """The page of the thing an entry names, if it has one."""
    kind, _, key = target.partition(":")
    page = TARGET_PAGES.get(kind)
    if page is None or not key.isdigit() or page[0] not in current_app.view_functions:
        return None
    endpoint, argument = page
    values: dict[str, Any] = {argument: int(key)}
    return url_for(endpoint, **values)


def as_json(value: Any) -> str:
    """A recorded value as JSON text (the template escapes it like any other text)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def changes(entry: AuditEntry) -> list[tuple[str, str | None, str | None]]:
    """(field, before, after) as JSON text for each field an entry recorded; None for a side
    that does not have the field (a new record has no before)."""
    before, after = entry.before or {}, entry.after or {}
    keys = [*before, *(key for key in after if key not in before)]
    return [
        (
            key,
            as_json(before[key]) if key in before else None,
            as_json(after[key]) if key in after else None,
        )
        for key in keys
    ]


@bp.route("/")
@admin_required
def index() -> ResponseReturnValue:
    form = AuditFilterForm(request.args)
    page = None
    labels: dict[int, str] = {}
    if form.validate():
        page = db.paginate(
            service.entry_query(form.to_filters()), per_page=PER_PAGE, error_out=False
        )
        labels = service.account_labels(page.items)
    return form_page(
        "audit/index.html",
        form,
        page=page,
        labels=labels,
        actor_label=service.actor_label,
        action_label=AuditAction.label_of,
        target_url=target_url,
        changes=changes,
    )


def _export(file_format: str) -> ResponseReturnValue:
    """The entries the filters in the query string select, as a file to download."""
    form = AuditFilterForm(request.args)
    if not form.validate():
        return form_page("audit/index.html", form, page=None)
    rows = service.export_entries(form.to_filters(), file_format)
    if file_format == "csv":
        body = csv_text(service.EXPORT_FIELDS, service.rows_as_csv_cells(rows), bom=True)
        response = Response(body, mimetype="text/csv")
    else:
        response = jsonify(entries=rows)
    name = f"audit-log-{utcnow():%Y%m%d-%H%M%S}.{file_format}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.route("/export.csv")
@admin_required
def export_csv() -> ResponseReturnValue:
    return _export("csv")


@bp.route("/export.json")
@admin_required
def export_json() -> ResponseReturnValue:
    return _export("json")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
