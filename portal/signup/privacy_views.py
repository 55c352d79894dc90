"""Privacy pages of sign-up: a programme's notice and its earlier versions, and the changed notice
a signed-in applicant or delegate is sent to, from any page, until they have read it."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.core.forms import form_page
from portal.core.security import public, signed_in_required
from portal.core.urls import is_safe_next
from portal.signup import links, privacy, programmes, queries
from portal.signup.forms import NoticeSeenForm
from portal.signup.models import Programme

bp = Blueprint(
    "signup_privacy", __name__, url_prefix="/signup/privacy", template_folder="templates"
)

# Pages a person with a changed notice still reaches: the notice itself, signing out, and their
# application's page with its withdrawal (nobody has to agree to a notice in order to leave).
REACHABLE_BEFORE_READING = {
    "signup_privacy.changes",
    "signup_privacy.notice",
    "signup_privacy.notice_version",
    "auth.logout",
    "signup.status",
    "signup.withdraw",
    "signup.notice_seen",
    # A copy of one's data is one's own whether or not a new notice has been read.
    "privacy.request_export",
    "privacy.request_export_by_status",
    "privacy.download",
}


def _programme(slug: str) -> Programme:
    programme = queries.programme_by_slug(slug)
    if programme is None:
        abort(404)
    return programme


@bp.route("/<slug>")
@public
def notice(slug: str) -> ResponseReturnValue:
    programme = _programme(slug)
    return render_template(
        "signup/privacy/notice.html",
        programme=programme,
        notice=programmes.notice_in_force(programme.id),
        versions=privacy.published_versions(programme.id),
    )


@bp.route("/<slug>/<int:version>")
@public
def notice_version(slug: str, version: int) -> ResponseReturnValue:
    programme = _programme(slug)
    found = privacy.published_version(programme.id, version)
    if found is None:
        abort(404)
    return render_template(
        "signup/privacy/notice.html",
        programme=programme,
        notice=found,
        versions=privacy.published_versions(programme.id),
    )


def _next_page() -> str:
    target = request.args.get("next")
    return target if is_safe_next(target) else url_for("signup.mine")


@bp.route("/changes", methods=["GET", "POST"])
@signed_in_required
def changes() -> ResponseReturnValue:
    """The changed notices of the person's programmes, until they say they have read them."""
    form = NoticeSeenForm()
    if form.validate_on_submit():
        privacy.acknowledge_for_user(current_user, form.notices.data)
    pending = privacy.pending_for_user(current_user)
    if not pending:
        return redirect(_next_page())
    return form_page(
        "signup/privacy/changes.html",
        form,
        pending=[(p, links.status_token(p.application)) for p in pending],
        next_page=_next_page(),
    )


def _send_to_changed_notice() -> ResponseReturnValue | None:
    """Send a signed-in person whose programme's notice changed to read it first (pages only:
    the API and Slack answer scripts, and static files are no page)."""
    endpoint = request.endpoint or ""
    if (
        not endpoint
        or endpoint in REACHABLE_BEFORE_READING
        or endpoint.endswith("static")
        or request.path.startswith(("/api/", "/slack/"))
        or not current_user.is_authenticated
        or not privacy.pending_for_user(current_user)
    ):
        return None
    here = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("signup_privacy.changes", next=here))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.before_request(_send_to_changed_notice)
