"""Public pages of sign-up: the application form, email confirmation, the status page and its
actions (withdraw, answer an offer, confirm a Plus One), and a signed-in person's applications.
`init_app` also registers the staff, admin and API pages, the worker job, the outbox delivery
hook and the commands."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from portal.auth.forms import ConfirmForm
from portal.auth.models import User
from portal.cli import register_bootstrap_step, register_demo_seeder
from portal.core.db import utcnow
from portal.core.forms import form_page
from portal.core.limits import mail_recipient_limit
from portal.core.security import public, signed_in_required
from portal.core.templating import add_nav_item
from portal.core.tokens import InvalidToken
from portal.extensions import limiter
from portal.outbox import on_delivered
from portal.outbox.worker import register_job
from portal.signup import (
    admin_views,
    api,
    applying,
    cli,
    demo,
    jobs,
    links,
    privacy,
    privacy_views,
    programmes,
    provisioning,
    queries,
    staff_views,
)
from portal.signup.attributes import ATTRIBUTES, label_of, overall_experience
from portal.signup.countries import country_name, region_of
from portal.signup.errors import NotAllowed, SignupError
from portal.signup.forms import (
    ApplicationForm,
    EmailLookupForm,
    StatusNoticeSeenForm,
    WithdrawForm,
)
from portal.signup.models import Application, ApplicationState, Programme, WaveStatus
from portal.signup.seats import free_seats

bp = Blueprint("signup", __name__, url_prefix="/signup", template_folder="templates")

STATE_MESSAGES = {
    ApplicationState.PENDING: "Thank you: your email is confirmed and your application is in.",
    ApplicationState.ADMITTED: "Thank you: your email is confirmed and you are admitted.",
    ApplicationState.WAITLISTED: "Thank you: your email is confirmed. You are on the waitlist.",
}


def _signed_in() -> User | None:
    return current_user._get_current_object() if current_user.is_authenticated else None


def _programme_for_form() -> Programme | None:
    """The programme named in the link, or the newest one taking applications."""
    slug = request.args.get("programme")
    if slug:
        programme = queries.programme_by_slug(slug)
        if programme is None:
            abort(404)
        return programme
    accepting = queries.programmes_accepting()
    if accepting:
        return accepting[0]
    return queries.newest_programme()


def _prefill() -> MultiDict[str, str] | None:
    """Values a link puts in the form (`?institution=...&science_collaborations=desc`)."""
    pairs = [
        (key, value)
        for key, value in request.args.items(multi=True)
        if key in ApplicationForm.PREFILLABLE
    ]
    return MultiDict(pairs) if pairs else None


def _input(form: ApplicationForm) -> applying.ApplicationInput:
    return applying.ApplicationInput(
        full_name=form.full_name.data or "",
        email=form.email.data or "",
        institution=form.institution.data or "",
        institution_type=form.institution_type.data or "",
        country=form.country.data or "",
        career_stage=form.career_stage.data or "",
        data_rights=form.data_rights.data or "",
        data_rights_basis=form.data_rights_basis.data or "",
        science_collaborations=list(form.science_collaborations.data or []),
        github_username=form.github_username.data or "",
        experience_python=form.experience_python.data or "",
        experience_jupyter=form.experience_jupyter.data or "",
        experience_sql=form.experience_sql.data or "",
        contribution=form.contribution.data or "",
        preferred_language=form.preferred_language.data or "en",
        sponsor_email=form.plus_one_sponsor.data or "",
        accepted_guidelines=bool(form.accept_guidelines.data),
        privacy_notice_version=form.shown_notice_version,
    )


@bp.route("/", methods=["GET", "POST"])
@limiter.limit("60 per hour", methods=["POST"])
@mail_recipient_limit
@public
def apply() -> ResponseReturnValue:
    programme = _programme_for_form()
    now = utcnow()
    wave = queries.wave_for_new_applications(programme, now) if programme else None
    if programme is None or wave is None:
        return render_template("signup/apply_closed.html", programme=programme)
    user = _signed_in()
    required = programme.cohort_attributes_required
    form = (
        ApplicationForm(cohort_required=required)
        if request.method == "POST"
        else ApplicationForm(formdata=_prefill(), cohort_required=required)
    )
    if request.method == "GET" and user is not None:
        form.full_name.data = form.full_name.data or user.full_name
        form.email.data = form.email.data or user.email
    github_locked = bool(user is not None and user.github_username)
    if user is not None and user.github_username:
        # Verified by GitHub sign-in: the form shows it and nothing typed replaces it.
        form.github_username.data = user.github_username
    if form.validate_on_submit():
        try:
            result = applying.submit_application(programme.id, _input(form), user)
        except SignupError as exc:
            form.show_refusal(exc)
        else:
            if result.application is None or result.needs_verification:
                return render_template(
                    "signup/check_email.html", email=result.email, programme=programme
                )
            flash(STATE_MESSAGES.get(result.application.state, "Thank you."), "success")
            return redirect(url_for("signup.status", token=links.status_token(result.application)))
    notice = programmes.notice_in_force(programme.id)
    if form.shown_notice_version != notice.version:
        # What is accepted is the notice on the page: one that changed must be accepted anew.
        form.accept_privacy.data = False
        form.privacy_notice_version.data = str(notice.version)
    wave_status = wave.status(now)
    return form_page(
        "signup/apply.html",
        form,
        programme=programme,
        notice=notice,
        wave=wave,
        wave_status=wave_status,
        upcoming=queries.next_wave(programme, now) if wave_status == WaveStatus.OPEN else None,
        free=free_seats(programme, wave),
        github_locked=github_locked,
        others=[p for p in queries.programmes_accepting() if p.id != programme.id],
    )


@bp.errorhandler(InvalidToken)
def _link_problem(exc: InvalidToken) -> ResponseReturnValue:
    """A damaged, foreign or expired link in any of these pages: why, and how to get a new one."""
    return (
        render_template("signup/link_problem.html", reason=exc.reason, form=EmailLookupForm()),
        400,
    )


@bp.route("/verify/<token>")
@public
def verify(token: str) -> ResponseReturnValue:
    application = applying.verify_application(token)
    flash(STATE_MESSAGES.get(application.state, "Your email is confirmed."), "success")
    return redirect(url_for("signup.status", token=links.status_token(application)))


@bp.route("/status", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"])
@mail_recipient_limit
@public
def find_status() -> ResponseReturnValue:
    form = EmailLookupForm()
    if form.validate_on_submit():
        applying.send_status_links(form.email.data or "")
        return render_template("signup/check_email.html", email=form.email.data, lookup=True)
    return form_page("signup/status_lookup.html", form)


def _status_page(application: Application, token: str, **extra: object) -> str:
    offer = application.open_offer
    return render_template(
        "signup/status.html",
        application=application,
        token=token,
        position=queries.waitlist_position(application),
        offer=offer,
        offer_token=links.offer_token(offer) if offer is not None else None,
        offer_expired=offer is not None and offer.expires_at <= utcnow(),
        sponsored=queries.plus_ones_of(application),
        live=application.is_live,
        changed_notice=privacy.pending_for_application(application),
        notice_form=StatusNoticeSeenForm(formdata=None),
        withdraw_form=extra.pop("withdraw_form", None) or WithdrawForm(formdata=None),
        **extra,
    )


@bp.route("/status/<token>")
@public
def status(token: str) -> ResponseReturnValue:
    application = links.application_for_status_token(token)
    return _status_page(application, token)


@bp.route("/status/<token>/withdraw", methods=["POST"])
@public
def withdraw(token: str) -> ResponseReturnValue:
    application = links.application_for_status_token(token)
    form = WithdrawForm()
    if not form.validate_on_submit():
        return _status_page(application, token, withdraw_form=form), 422
    try:
        applying.withdraw(application.id, form.reason.data or "")
    except NotAllowed as exc:
        flash(exc.message, "error")
    else:
        flash("Your application is withdrawn. We have sent you a confirmation.", "success")
    return redirect(url_for("signup.status", token=token))


@bp.route("/status/<token>/privacy", methods=["POST"])
@public
def notice_seen(token: str) -> ResponseReturnValue:
    """The holder of the status link has read the changed privacy notice shown there."""
    application = links.application_for_status_token(token)
    form = StatusNoticeSeenForm()
    if form.validate_on_submit() and privacy.acknowledge_for_application(
        application.id, form.version.data or 0
    ):
        flash("Thank you: you have read the new privacy notice.", "success")
    return redirect(url_for("signup.status", token=token))


@bp.route("/offers/<token>/<answer>", methods=["GET", "POST"])
@public
def answer_offer(token: str, answer: str) -> ResponseReturnValue:
    if answer not in ("accept", "decline"):
        abort(404)
    offer = links.offer_for_token(token)
    application = offer.application
    status_url = url_for("signup.status", token=links.status_token(application))
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            applying.answer_offer(token, accept=answer == "accept")
        except NotAllowed as exc:
            flash(exc.message, "error")
        else:
            flash(
                "Welcome: you are admitted. We have emailed you how to get started."
                if answer == "accept"
                else "You have declined the offer; the place goes to the next person waiting.",
                "success",
            )
        return redirect(status_url)
    return render_template(
        "signup/offer.html",
        offer=offer,
        application=application,
        answer=answer,
        form=form,
        status_url=status_url,
        expired=offer.expires_at <= utcnow(),
    )


@bp.route("/sponsor/<token>", methods=["GET", "POST"])
@public
def sponsor(token: str) -> ResponseReturnValue:
    sponsor_application, plus_one = links.sponsorship_for_token(token)
    form = ConfirmForm()
    if form.validate_on_submit():
        answer = request.form.get("answer")
        if answer not in ("confirm", "decline"):
            abort(400, description="Choose to confirm or to decline.")
        try:
            applying.answer_sponsorship(token, confirm=answer == "confirm")
        except NotAllowed as exc:
            flash(exc.message, "error")
        else:
            flash(
                f"Thank you: {plus_one.full_name} is confirmed as your Plus One."
                if answer == "confirm"
                else f"You have declined to sponsor {plus_one.full_name}.",
                "success",
            )
        return redirect(url_for("signup.sponsor", token=token))
    return render_template(
        "signup/sponsor.html",
        sponsor=sponsor_application,
        plus_one=plus_one,
        form=form,
        status_url=url_for("signup.status", token=links.status_token(sponsor_application)),
    )


@bp.route("/mine")
@signed_in_required
def mine() -> ResponseReturnValue:
    applications = queries.applications_of(current_user)
    return render_template(
        "signup/mine.html",
        applications=[(a, links.status_token(a)) for a in applications],
    )


def _template_helpers(app: Flask) -> None:
    """Helpers for the feature's pages and emails (emails render outside any request)."""
    app.jinja_env.globals.update(
        signup_country=country_name,
        signup_region=lambda code: label_of(ATTRIBUTES["region"].values, region_of(code)),
        signup_label=lambda attribute, value: ATTRIBUTES[attribute].value_label(value),
        signup_choice=label_of,
        signup_experience=overall_experience,
        signup_now=utcnow,
        signup_sponsor_token=links.sponsor_token,
        signup_notice_text=privacy.fill_in,
        signup_purpose=privacy.purpose_of,
        signup_purposes=list(privacy.DataPurpose),
        signup_purpose_label=privacy.DataPurpose.label_of,
    )


def init_app(app: Flask) -> None:
    """Register the feature's blueprints, navigation, jobs, delivery hook, seeders and
    commands."""
    app.register_blueprint(bp)
    staff_views.init_app(app)
    admin_views.init_app(app)
    privacy_views.init_app(app)
    api.init_app(app)
    _template_helpers(app)
    add_nav_item(app, "signup.apply", "Apply", None, order=20)
    add_nav_item(app, "signup.mine", "My applications", "applicant", order=25)
    register_job(app, "signup.cycle", 60, jobs.run_signup_cycle)
    on_delivered(app, "github", provisioning.record_delivery)
    register_demo_seeder(app, 20, demo.seed_demo_applications)
    register_bootstrap_step(app, 20, cli.load_default_programme)
    app.cli.add_command(cli.signup_cli)
