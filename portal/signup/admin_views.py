"""Programme settings of sign-up: programmes, their waves, soft targets and privacy notice (for
admins and programme staff; only admins create programmes)."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Flask, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from portal.core.forms import form_page, pressed_button
from portal.core.security import admin_required, programme_staff_required
from portal.core.templating import portal_zone, to_local
from portal.extensions import db
from portal.signup import privacy, programmes
from portal.signup.attributes import ATTRIBUTES
from portal.signup.errors import SignupError
from portal.signup.forms import (
    PrivacyNoticeForm,
    ProgrammeForm,
    TargetsForm,
    WaveForm,
    target_field_name,
    weight_field_name,
)
from portal.signup.models import AdmissionMode, Programme, Wave
from portal.signup.reports import plus_one_counts, programme_counts, wave_counts

bp = Blueprint("signup_admin", __name__, url_prefix="/admin/signup", template_folder="templates")


def _local_naive(value: datetime | None) -> datetime | None:
    """A stored UTC time as the portal-time value a datetime-local input shows."""
    local = to_local(value)
    return local.replace(tzinfo=None) if local is not None else None


def _from_local(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=portal_zone()) if value is not None else None


@bp.route("/")
@programme_staff_required
def index() -> ResponseReturnValue:
    return render_template(
        "signup/admin/index.html",
        programmes=programmes.all_programmes(),
        programme_counts=programme_counts,
        plus_one_counts=plus_one_counts,
        wave_counts=wave_counts,
    )


def _programme_values(form: ProgrammeForm) -> programmes.ProgrammeFields:
    return programmes.ProgrammeFields(
        slug=form.slug.data or "",
        name=form.name.data or "",
        total_capacity=form.total_capacity.data or 0,
        plus_one_capacity=form.plus_one_capacity.data or 0,
        guidelines_url=form.guidelines_url.data or "",
        guidelines_text=form.guidelines_text.data or "",
        offer_lifetime_hours=(form.offer_lifetime_days.data or 7) * 24,
        accepting_applications=bool(form.accepting_applications.data),
        cohort_attributes_required=bool(form.cohort_attributes_required.data),
    )


def _save_programme(programme: Programme | None, form: ProgrammeForm) -> ResponseReturnValue:
    if form.validate_on_submit():
        try:
            saved = programmes.save_programme(
                programme.id if programme else None, _programme_values(form)
            )
        except SignupError as exc:
            form.show_refusal(exc)
        else:
            flash(f"{saved.name} is saved.", "success")
            return redirect(url_for("signup_admin.index"))
    return form_page("signup/admin/programme_form.html", form, programme=programme)


@bp.route("/programmes/new", methods=["GET", "POST"])
@admin_required
def new_programme() -> ResponseReturnValue:
    return _save_programme(None, ProgrammeForm(offer_lifetime_days=7, accepting_applications=True))


@bp.route("/programmes/<int:programme_id>", methods=["GET", "POST"])
@programme_staff_required
def edit_programme(programme_id: int) -> ResponseReturnValue:
    programme = db.get_or_404(Programme, programme_id)
    form = ProgrammeForm(obj=programme, offer_lifetime_days=programme.offer_lifetime_hours // 24)
    return _save_programme(programme, form)


def _save_wave(programme: Programme, wave: Wave | None, form: WaveForm) -> ResponseReturnValue:
    if form.validate_on_submit():
        opens_at = _from_local(form.opens_at.data)
        assert opens_at is not None
        values = programmes.WaveFields(
            slug=form.slug.data or "",
            name=form.name.data or "",
            opens_at=opens_at,
            closes_at=_from_local(form.closes_at.data),
            capacity=form.capacity.data or 0,
            mode=form.mode.data or AdmissionMode.REVIEWED,
            carry_over_waitlist=bool(form.carry_over_waitlist.data),
        )
        try:
            saved = programmes.save_wave(programme.id, wave.id if wave else None, values)
        except SignupError as exc:
            form.show_refusal(exc)
        else:
            flash(f"{saved.name} is saved.", "success")
            return redirect(url_for("signup_admin.index"))
    return form_page("signup/admin/wave_form.html", form, programme=programme, wave=wave)


@bp.route("/programmes/<int:programme_id>/waves/new", methods=["GET", "POST"])
@programme_staff_required
def new_wave(programme_id: int) -> ResponseReturnValue:
    programme = db.get_or_404(Programme, programme_id)
    form = WaveForm(mode=AdmissionMode.REVIEWED.value, carry_over_waitlist=True)
    return _save_wave(programme, None, form)


@bp.route("/waves/<int:wave_id>", methods=["GET", "POST"])
@programme_staff_required
def edit_wave(wave_id: int) -> ResponseReturnValue:
    wave = db.get_or_404(Wave, wave_id)
    # Shown in the portal's timezone, as the datetime-local inputs expect.
    form = WaveForm(
        data={
            **vars(programmes.wave_fields(wave)),
            "opens_at": _local_naive(wave.opens_at),
            "closes_at": _local_naive(wave.closes_at),
        }
    )
    return _save_wave(wave.programme, wave, form)


@bp.route("/programmes/<int:programme_id>/targets", methods=["GET", "POST"])
@programme_staff_required
def targets(programme_id: int) -> ResponseReturnValue:
    programme = db.get_or_404(Programme, programme_id)
    current = {(t.attribute, t.value): t.fraction * 100 for t in programme.targets}
    defaults = {target_field_name(a, v): round(f, 2) for (a, v), f in current.items()}
    defaults.update({weight_field_name(a): programme.weight_of(a) for a in ATTRIBUTES})
    form = TargetsForm(data=defaults)
    if form.validate_on_submit():
        fractions = {
            (name, value): (form[target_field_name(name, value)].data or 0) / 100
            for name, attribute in ATTRIBUTES.items()
            for value, _ in attribute.values
            if form[target_field_name(name, value)].data
        }
        weights = {name: float(form[weight_field_name(name)].data) for name in ATTRIBUTES}
        try:
            programmes.save_targets(programme.id, fractions, weights)
        except SignupError as exc:
            form.show_refusal(exc)
        else:
            flash(f"The targets of {programme.name} are saved.", "success")
            return redirect(url_for("signup_admin.index"))
    return form_page("signup/admin/targets.html", form, programme=programme, attributes=ATTRIBUTES)


def _notice_values(form: PrivacyNoticeForm) -> privacy.NoticeFields:
    return privacy.NoticeFields(
        body=form.body.data or "",
        purposes={p.value: form[f"purpose_{p.value}"].data or "" for p in privacy.DataPurpose},
        changes=form.changes.data or "",
    )


@bp.route("/programmes/<int:programme_id>/privacy", methods=["GET", "POST"])
@programme_staff_required
def privacy_notice(programme_id: int) -> ResponseReturnValue:
    """Edit the draft of the next version of the privacy notice, and publish it."""
    programme = db.get_or_404(Programme, programme_id)
    current = programmes.notice_in_force(programme.id)
    draft = privacy.draft_notice(programme.id)
    start = draft or current
    form = PrivacyNoticeForm(
        data={
            "body": start.body,
            "changes": draft.changes if draft else "",
            **{f"purpose_{p.value}": start.purposes.get(p.value, "") for p in privacy.DataPurpose},
        }
    )
    if form.validate_on_submit():
        publish = pressed_button("save", "publish", default="save") == "publish"
        try:
            saved = privacy.save_notice(programme.id, _notice_values(form), publish=publish)
        except SignupError as exc:
            form.show_refusal(exc)
        else:
            flash(
                f"Version {saved.version} is published: applicants accept it from now on, and "
                "everyone with a live application is shown what changed at their next visit."
                if publish
                else f"The draft of version {saved.version} is saved; nobody sees it until it "
                "is published.",
                "success",
            )
            return redirect(url_for("signup_admin.privacy_notice", programme_id=programme.id))
    return form_page(
        "signup/admin/privacy.html",
        form,
        programme=programme,
        current=current,
        draft=draft,
        versions=privacy.published_versions(programme.id),
        placeholders=privacy.retention_days(),
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
