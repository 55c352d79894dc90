"""Self-service pages of the privacy feature: ask for a copy of one's data (signed in, or by an
applicant's status link) and download it by the emailed link. `init_app` also registers the
admin pages, the worker's jobs, the GitHub delivery hook and the commands."""

from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.core.limits import mail_limit
from portal.core.security import public, signed_in_required
from portal.core.tokens import InvalidToken
from portal.extensions import limiter
from portal.outbox import on_delivered
from portal.outbox.worker import register_job
from portal.privacy import admin_views, cli, erasure, export, retention
from portal.privacy.forms import ExportRequestForm

bp = Blueprint("privacy", __name__, url_prefix="/privacy", template_folder="templates")

ASKED = (
    "We are preparing a copy of your data. In a few minutes we email a download link to "
    "{email}; it works for {hours} hours."
)


def _asked(email: str) -> None:
    flash(ASKED.format(email=email, hours=current_app.config["PRIVACY_EXPORT_LINK_HOURS"]), "info")


@bp.route("/export", methods=["POST"])
# Asking sends an email: limited per client address like the other forms that send mail.
@limiter.limit(mail_limit, methods=["POST"])
@signed_in_required
def request_export() -> ResponseReturnValue:
    if ExportRequestForm().validate_on_submit():
        requested = export.request_own_export(current_user._get_current_object())
        _asked(requested.email)
    return redirect(url_for("account.profile"))


@bp.route("/export/status/<token>", methods=["POST"])
@limiter.limit(mail_limit, methods=["POST"])
@public
def request_export_by_status(token: str) -> ResponseReturnValue:
    if ExportRequestForm().validate_on_submit():
        try:
            requested = export.request_export_by_status_link(token)
        except InvalidToken as exc:
            return render_template("privacy/link_problem.html", reason=exc.reason), 400
        _asked(requested.email)
    return redirect(url_for("signup.status", token=token))


@bp.route("/download/<token>")
@public
def download(token: str) -> ResponseReturnValue:
    try:
        path, name = export.open_download(token)
    except InvalidToken as exc:
        return render_template("privacy/link_problem.html", reason=exc.reason), 400
    return send_file(
        path, mimetype="application/json", as_attachment=True, download_name=name, max_age=0
    )


def init_app(app: Flask) -> None:
    """Register the feature's pages, its worker jobs, its delivery hook and its commands."""
    app.register_blueprint(bp)
    admin_views.init_app(app)
    register_job(app, "privacy.exports", 60, export.run_export_jobs)
    register_job(app, "privacy.retention", 3600, retention.run_retention)
    # After provisioning's own hook, which copies a call's error onto the application.
    on_delivered(app, "github", erasure.replace_username_after_delivery)
    app.cli.add_command(cli.privacy_cli)
