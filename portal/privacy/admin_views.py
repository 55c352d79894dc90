"""Admin pages of the privacy feature: erasing a person after a confirmation step, the
erasures done, and the retention schedule's next run before it acts."""

from __future__ import annotations

from flask import Blueprint, Flask, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from portal.auth.forms import ConfirmForm
from portal.core.forms import form_page
from portal.core.security import admin_required
from portal.extensions import db
from portal.privacy import erasure, retention
from portal.privacy.forms import ErasureConfirmForm, ErasureLookupForm
from portal.privacy.models import Erasure

bp = Blueprint("privacy_admin", __name__, url_prefix="/admin/privacy", template_folder="templates")


def _index(form: ErasureLookupForm) -> tuple[str, int]:
    erasures = db.session.scalars(select(Erasure).order_by(Erasure.id.desc()).limit(50)).all()
    return form_page(
        "privacy/admin/index.html",
        form,
        erasures=erasures,
        plan=retention.retention_plan(),
    )


@bp.route("/")
@admin_required
def index() -> ResponseReturnValue:
    return _index(ErasureLookupForm(formdata=None))


@bp.route("/erasure", methods=["POST"])
@admin_required
def erasure_preview() -> ResponseReturnValue:
    """Step one: what erasing this address would touch, and the confirmation form."""
    form = ErasureLookupForm()
    if not form.validate_on_submit():
        return _index(form)
    plan = erasure.plan_erasure(form.email.data or "")
    if plan.records.is_empty:
        form.email.errors = [*form.email.errors, "The portal holds nothing under this address."]
        return _index(form)
    confirm = ErasureConfirmForm(formdata=None, email=plan.records.email)
    return form_page("privacy/admin/erasure.html", confirm, plan=plan)


@bp.route("/erasure/confirm", methods=["POST"])
@admin_required
def erase() -> ResponseReturnValue:
    """Step two: the address typed again; then the erasure."""
    form = ErasureConfirmForm()
    if form.validate_on_submit():
        try:
            done = erasure.erase_person(
                form.email.data or "",
                confirmation=form.confirmation.data or "",
                actor=current_user._get_current_object(),
            )
        except erasure.ErasureRefused as exc:
            form.show_refusal(exc)
        else:
            flash(
                f"The person is erased. Their records that remain carry the pseudonym "
                f"{done.pseudonym}.",
                "success",
            )
            return redirect(url_for("privacy_admin.index"))
    return form_page(
        "privacy/admin/erasure.html", form, plan=erasure.plan_erasure(form.email.data or "")
    )


@bp.route("/retention")
@admin_required
def retention_page() -> ResponseReturnValue:
    return render_template(
        "privacy/admin/retention.html",
        plan=retention.retention_plan(),
        coming_days=retention.COMING_DAYS,
        form=ConfirmForm(),
    )


@bp.route("/retention/run", methods=["POST"])
@admin_required
def run_retention() -> ResponseReturnValue:
    ConfirmForm()  # CSRF is checked globally; the form is only for the template.
    done = retention.run_retention()
    flash(f"The retention schedule ran: {done.total} records erased.", "success")
    return redirect(url_for("privacy_admin.retention_page"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
