"""Staff pages of sign-up: the dashboard, the review queue with bulk decisions, an application's
detail and audit trail, cohort selection, provisioning status and the delegate exports.

Every staff member sees what a ticket needs (who applied, with their email, GitHub username and
where the application stands) and keeps provisioning going. Applicants' profiles (institution,
country, career stage, collaborations, experience, data rights, answers, staff notes), the
decisions made on them and cohort selection are for programme staff and admins."""

from __future__ import annotations

import secrets
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.auth.forms import ConfirmForm
from portal.core.db import utcnow
from portal.core.forms import form_page, pressed_button
from portal.core.request_input import as_id
from portal.core.security import programme_staff_required, staff_required
from portal.core.templating import add_nav_item
from portal.extensions import db
from portal.signup import decisions, links, provisioning, queries, reports, selection
from portal.signup.errors import NotAllowed
from portal.signup.forms import (
    BulkDecisionForm,
    CloseWaitlistForm,
    CohortAdmitForm,
    CohortForm,
    DecisionForm,
    NoteForm,
    PriorityForm,
    QueueFilterForm,
)
from portal.signup.models import Application, CohortRun, Programme, Wave
from portal.signup.programmes import all_programmes

bp = Blueprint("signup_staff", __name__, url_prefix="/staff/signup", template_folder="templates")

PER_PAGE = 50
VERBS = {
    "admit": "Admitted",
    "waitlist": "Waitlisted",
    "reject": "Not selected",
    "undo": "Undone",
}


def _programme() -> Programme | None:
    """The programme chosen with ?programme=<id>, or the newest one."""
    raw = request.args.get("programme", "")
    if raw:
        programme_id = as_id(raw)
        if programme_id is None:
            abort(404)
        return db.get_or_404(Programme, programme_id)
    return queries.newest_programme()


def _summary(result: decisions.BulkResult, verb: str) -> None:
    """Tell staff what a (bulk) decision did, including who did not fit."""
    if result.changed:
        flash(f"{verb}: {len(result.changed)}.", "success")
    if result.not_fitted:
        names = ", ".join(a.full_name for a, _ in result.not_fitted[:10])
        more = f" and {len(result.not_fitted) - 10} more" if len(result.not_fitted) > 10 else ""
        flash(
            f"Did not fit ({len(result.not_fitted)}): {names}{more}. {result.not_fitted[0][1]}",
            "warning",
        )
    if result.skipped:
        details = "; ".join(f"{a.full_name}: {why}" for a, why in result.skipped[:10])
        flash(f"Skipped ({len(result.skipped)}): {details}.", "warning")
    if not (result.changed or result.not_fitted or result.skipped):
        flash("Nothing changed.", "info")


def _decide(application_ids: list[int], action: str, reason: str) -> None:
    """A staff decision (or undo) on one or more applications, and what it did."""
    if action == "undo":
        result = decisions.undo_last_changes(application_ids, current_user, reason)
    else:
        result = decisions.decide(application_ids, action, current_user, reason)
    _summary(result, VERBS[action])


# --- dashboard ----------------------------------------------------------------------------------


def _dashboard(programme: Programme | None, close_form: CloseWaitlistForm) -> ResponseReturnValue:
    if programme is None:
        return render_template("signup/staff/dashboard.html", programme=None, programmes=[])
    now = utcnow()
    return form_page(
        "signup/staff/dashboard.html",
        close_form,
        programme=programme,
        programmes=all_programmes(),
        stats=reports.programme_stats(programme),
        now=now,
        waves=[(wave, reports.wave_counts(wave)) for wave in programme.waves],
        current=queries.current_wave(programme, now),
        per_day=reports.applications_per_day(programme),
        composition=reports.composition(programme) if current_user.is_programme_staff else None,
        target_label=reports.target_label,
        close_form=close_form,
        github=provisioning.github_team(),
    )


@bp.route("/")
@staff_required
def dashboard() -> ResponseReturnValue:
    return _dashboard(_programme(), CloseWaitlistForm(formdata=None))


@bp.route("/programmes/<int:programme_id>/close-waitlist", methods=["POST"])
@programme_staff_required
def close_waitlist(programme_id: int) -> ResponseReturnValue:
    programme = db.get_or_404(Programme, programme_id)
    form = CloseWaitlistForm()
    if not form.validate_on_submit():
        return _dashboard(programme, form)
    closed = decisions.close_waitlist(programme.id, current_user, form.reason.data or "")
    flash(f"The waitlist is closed; {closed} people were told they were not selected.", "success")
    return redirect(url_for("signup_staff.dashboard", programme=programme.id))


# --- the review queue ---------------------------------------------------------------------------


def _queue(programme: Programme, bulk_form: BulkDecisionForm) -> str:
    form = QueueFilterForm(
        request.args, programme=programme, profiles=current_user.is_programme_staff
    )
    page = db.paginate(
        reports.application_query(form.to_filters()), per_page=PER_PAGE, error_out=False
    )
    return render_template(
        "signup/staff/applications.html",
        programme=programme,
        programmes=all_programmes(),
        form=form,
        page=page,
        bulk_form=bulk_form,
        waitlist_position=queries.waitlist_position,
    )


@bp.route("/applications", methods=["GET"])
@staff_required
def applications() -> ResponseReturnValue:
    programme = _programme()
    if programme is None:
        return redirect(url_for("signup_staff.dashboard"))
    return _queue(programme, BulkDecisionForm(formdata=None))


@bp.route("/applications", methods=["POST"])
@programme_staff_required
def bulk_decide() -> ResponseReturnValue:
    programme = _programme()
    if programme is None:
        abort(404)
    form = BulkDecisionForm()
    if not form.validate_on_submit():
        return _queue(programme, form), 422
    _decide(form.ids.data, form.action.data or "", form.reason.data or "")
    return redirect(request.full_path.rstrip("?"))


# --- one application ----------------------------------------------------------------------------


def _detail(application: Application, **forms: Any) -> str:
    return render_template(
        "signup/staff/application.html",
        application=application,
        position=queries.waitlist_position(application),
        plus_ones=queries.plus_ones_of(application),
        decision_form=forms.get("decision_form") or DecisionForm(formdata=None),
        priority_form=forms.get("priority_form")
        or PriorityForm(formdata=None, priority=application.priority),
        note_form=forms.get("note_form") or NoteForm(formdata=None),
        status_link=links.status_link(application),
    )


def _application(application_id: int) -> Application:
    return db.get_or_404(Application, application_id)


@bp.route("/applications/<int:application_id>")
@staff_required
def application(application_id: int) -> ResponseReturnValue:
    return _detail(_application(application_id))


@bp.route("/applications/<int:application_id>/decision", methods=["POST"])
@programme_staff_required
def decide_one(application_id: int) -> ResponseReturnValue:
    found = _application(application_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        return _detail(found, decision_form=form), 422
    _decide([found.id], form.action.data or "", form.reason.data or "")
    return redirect(url_for("signup_staff.application", application_id=found.id))


@bp.route("/applications/<int:application_id>/priority", methods=["POST"])
@programme_staff_required
def set_priority(application_id: int) -> ResponseReturnValue:
    found = _application(application_id)
    form = PriorityForm()
    if not form.validate_on_submit():
        return _detail(found, priority_form=form), 422
    decisions.set_priority(found.id, form.priority.data or 0, current_user, form.reason.data or "")
    flash("The priority is saved.", "success")
    return redirect(url_for("signup_staff.application", application_id=found.id))


@bp.route("/applications/<int:application_id>/notes", methods=["POST"])
@programme_staff_required
def add_note(application_id: int) -> ResponseReturnValue:
    found = _application(application_id)
    form = NoteForm()
    if not form.validate_on_submit():
        return _detail(found, note_form=form), 422
    decisions.add_note(found.id, current_user, form.body.data or "")
    flash("The note is added.", "success")
    return redirect(url_for("signup_staff.application", application_id=found.id) + "#notes")


# --- cohort selection ---------------------------------------------------------------------------


@bp.route("/waves/<int:wave_id>/cohort", methods=["GET", "POST"])
@programme_staff_required
def cohort(wave_id: int) -> ResponseReturnValue:
    wave = db.get_or_404(Wave, wave_id)
    form = CohortForm(
        size=max(1, selection.suggested_size(wave)), seed=secrets.randbelow(1_000_000)
    )
    if form.validate_on_submit():
        try:
            run = selection.propose(wave.id, form.size.data or 0, form.seed.data or 0, current_user)
        except NotAllowed as exc:
            form.show_refusal(exc)
        else:
            return redirect(url_for("signup_staff.cohort_run", run_id=run.id))
    return form_page(
        "signup/staff/cohort.html",
        form,
        wave=wave,
        runs=selection.runs_of(wave),
        pool_size=len(selection.pool_for(wave)),
        free=selection.suggested_size(wave),
        targets=reports.target_specs(wave.programme),
        target_label=reports.target_label,
    )


@bp.route("/cohort-runs/<int:run_id>", methods=["GET", "POST"])
@programme_staff_required
def cohort_run(run_id: int) -> ResponseReturnValue:
    run = db.get_or_404(CohortRun, run_id)
    form = CohortAdmitForm()
    selected: list[int] | None = None
    if request.method == "POST":
        admit = pressed_button("admit", "compare", default="compare") == "admit"
        if form.validate_on_submit() and admit:
            result = selection.admit_selection(
                run.id, form.ids.data, current_user, form.note.data or ""
            )
            _summary(result, f"Admitted to {run.wave.name}")
            return redirect(url_for("signup_staff.cohort_run", run_id=run.id))
        selected = form.ids.data
    view = selection.describe(run, selected)
    chosen = set(selected if selected is not None else view.comparison("cohort").ids)
    return form_page(
        "signup/staff/cohort_run.html",
        form,
        view=view,
        run=run,
        chosen=chosen,
        target_label=reports.target_label,
    )


# --- provisioning and exports -------------------------------------------------------------------


@bp.route("/programmes/<int:programme_id>/provisioning", methods=["GET", "POST"])
@staff_required
def provisioning_status(programme_id: int) -> ResponseReturnValue:
    programme = db.get_or_404(Programme, programme_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        if pressed_button("retry", "invite", default="") == "retry":
            count = provisioning.retry_failed(programme.id)
            flash(f"Sent {count} failed GitHub calls again.", "success")
        else:
            count = provisioning.invite_missing(programme.id)
            flash(f"Queued {count} invitations.", "success")
        return redirect(url_for("signup_staff.provisioning_status", programme_id=programme.id))
    return render_template(
        "signup/staff/provisioning.html",
        programme=programme,
        page=db.paginate(provisioning.memberships(programme.id), per_page=100, error_out=False),
        github=provisioning.github_team(),
        form=form,
    )


@bp.route("/programmes/<int:programme_id>/delegates.csv")
@staff_required
def delegates_csv(programme_id: int) -> ResponseReturnValue:
    programme = db.get_or_404(Programme, programme_id)
    body = provisioning.delegates_csv(provisioning.export_delegates(programme.id, "csv"))
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{programme.slug}-delegates.csv"'},
    )


@bp.route("/programmes/<int:programme_id>/delegates.json")
@staff_required
def delegates_json(programme_id: int) -> ResponseReturnValue:
    programme = db.get_or_404(Programme, programme_id)
    rows = provisioning.export_delegates(programme.id, "json")
    response = jsonify(programme=programme.slug, delegates=rows)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{programme.slug}-delegates.json"'
    )
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav_item(app, "signup_staff.dashboard", "Sign-up", "staff", order=30)
