"""The help desk for requesters: file a ticket (with documentation suggestions), follow it,
reply, mark it solved and rate the help; and the feature's registration."""

from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
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
from portal.cli import register_demo_seeder
from portal.core.api import register_api_blueprint
from portal.core.errors import NotFound, UserError
from portal.core.forms import form_page, pressed_button
from portal.core.roles import Role
from portal.core.security import delegate_required, set_landing_page
from portal.core.templating import add_nav_item
from portal.extensions import limiter
from portal.helpdesk import (
    api,
    attachments,
    demo,
    docs_search,
    present,
    queries,
    requesters,
    slack_views,
    staff_views,
    sweep,
    tickets,
)
from portal.helpdesk.forms import NewTicketForm, RatingForm, ReplyForm
from portal.helpdesk.history import describe_event
from portal.helpdesk.models import Ticket, TicketState
from portal.outbox.worker import register_job

bp = Blueprint("helpdesk", __name__, url_prefix="/tickets", template_folder="templates")

SHOW_CHOICES = {"open": True, "closed": False, "all": None}
FILING_LIMIT = "30 per hour;100 per day"


@bp.route("/")
@delegate_required
def index() -> ResponseReturnValue:
    show = request.args.get("show", "open")
    if show not in SHOW_CHOICES:
        show = "open"
    page = queries.requester_tickets(current_user, show_open=SHOW_CHOICES[show])
    return render_template("helpdesk/my_tickets.html", page=page, show=show)


def _per_account() -> str:
    return f"helpdesk-file:{current_user.get_id()}"


@bp.route("/new", methods=["GET", "POST"])
# Generous for people, tight enough that a runaway script cannot flood the queues.
@limiter.limit(FILING_LIMIT, methods=["POST"], key_func=_per_account)
@delegate_required
def new() -> ResponseReturnValue:
    form = NewTicketForm(allow_urgent=current_user.is_staff)
    if request.method == "GET" and request.args.get("subject"):
        form.subject.data = request.args["subject"][:200]
    # "Search the documentation" (the page's no-JavaScript way to get suggestions) only looks.
    if request.method == "POST" and pressed_button("suggest", "file", default="file") == "suggest":
        return render_template(
            "helpdesk/new_ticket.html",
            form=form,
            suggestions=docs_search.suggest(form.subject.data or ""),
            searched=True,
        )
    if form.validate_on_submit():
        try:
            ticket = requesters.create_ticket(
                current_user, **form.ticket(), uploads=form.attachments.uploads
            )
        except UserError as refusal:
            form.show_refusal(refusal)
        else:
            flash(
                f"Ticket #{ticket.id} is filed. We will email you when the help desk answers.",
                "success",
            )
            return redirect(url_for("helpdesk.ticket", number=ticket.id))
    submitted = form.is_submitted()
    return form_page(
        "helpdesk/new_ticket.html",
        form,
        suggestions=docs_search.suggest(form.subject.data or "") if submitted else [],
        searched=submitted,
    )


@bp.route("/suggest")
@delegate_required
def suggest() -> ResponseReturnValue:
    """Documentation pages for what the delegate is typing (the new-ticket page's script)."""
    text = request.args.get("q", "")[:200]
    results = [{"title": s.title, "url": s.url} for s in docs_search.suggest(text)]
    return jsonify(query=text, results=results)


def _own_ticket(number: int) -> Ticket:
    ticket = tickets.requester_ticket(current_user, number)
    if ticket is None:
        abort(404)
    return ticket


def _render_ticket(
    ticket: Ticket,
    *,
    reply_form: ReplyForm | None = None,
    rating_form: RatingForm | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    loaded = tickets.ticket_for_page(ticket.id)
    if loaded is None:
        abort(404)
    rating = rating_form or RatingForm(
        formdata=None, data={"rating": str(ticket.rating) if ticket.rating else None}
    )
    if rating_form is None and ticket.rating_comment:
        rating.comment.data = ticket.rating_comment
    return render_template(
        "helpdesk/ticket.html",
        ticket=loaded,
        reply_form=reply_form or ReplyForm(formdata=None),
        rating_form=rating,
        confirm=ConfirmForm(),
        can_reopen=requesters.requester_can_reply(loaded),
        suggestions=(
            docs_search.suggest(ticket.subject, limit=3) if ticket.state is TicketState.NEW else []
        ),
    ), status


@bp.route("/<int:number>")
@delegate_required
def ticket(number: int) -> ResponseReturnValue:
    return _render_ticket(_own_ticket(number))


@bp.route("/<int:number>/reply", methods=["POST"])
@delegate_required
def reply(number: int) -> ResponseReturnValue:
    ticket = _own_ticket(number)
    form = ReplyForm()
    if form.validate_on_submit():
        try:
            requesters.add_requester_reply(
                current_user, number, form.body.data or "", form.attachments.uploads
            )
        except UserError as refusal:
            form.show_refusal(refusal)
        else:
            flash("Your reply is added; the help desk has been told.", "success")
            return redirect(url_for("helpdesk.ticket", number=number, _anchor="conversation-end"))
    return _render_ticket(ticket, reply_form=form, status=422)


@bp.route("/<int:number>/solved", methods=["POST"])
@delegate_required
def solved(number: int) -> ResponseReturnValue:
    _own_ticket(number)
    ConfirmForm()
    try:
        requesters.mark_solved(current_user, number)
    except NotFound:
        raise
    except UserError as refusal:
        flash(refusal.message, "error")
        return redirect(url_for("helpdesk.ticket", number=number))
    flash("Thank you: the ticket is marked solved. You can rate the help below.", "success")
    return redirect(url_for("helpdesk.ticket", number=number, _anchor="rate"))


@bp.route("/<int:number>/rate", methods=["POST"])
@delegate_required
def rate(number: int) -> ResponseReturnValue:
    ticket = _own_ticket(number)
    form = RatingForm()
    if form.validate_on_submit():
        try:
            requesters.rate_ticket(
                current_user, number, int(form.rating.data or 0), form.comment.data or ""
            )
        except UserError as refusal:
            form.show_refusal(refusal)
        else:
            flash("Thank you for rating the help.", "success")
            return redirect(url_for("helpdesk.ticket", number=number))
    return _render_ticket(ticket, rating_form=form, status=422)


@bp.route("/<int:number>/attachments/<int:attachment_id>")
@delegate_required
def attachment(number: int, attachment_id: int) -> ResponseReturnValue:
    found = tickets.ticket_attachment(_own_ticket(number), attachment_id, for_requester=True)
    if found is None:
        abort(404)
    return attachments.send_download(found)


def init_app(app: Flask) -> None:
    """Register the feature's blueprints, navigation, jobs, seeders and commands."""
    app.register_blueprint(bp)
    app.register_blueprint(staff_views.bp)
    app.jinja_env.filters["ticket_event"] = describe_event
    app.jinja_env.filters["due_badge"] = present.due_badge
    app.jinja_env.globals.update(
        state_tones=present.STATE_TONES, priority_tones=present.PRIORITY_TONES
    )
    slack_views.init_app(app)
    register_api_blueprint(app, api.bp)
    add_nav_item(app, "helpdesk.index", "Help desk", "delegate", order=60)
    add_nav_item(app, "helpdesk_staff.queue", "Ticket queue", "staff", order=65)
    set_landing_page(app, Role.STAFF, "helpdesk_staff.queue")
    register_job(app, "helpdesk.sla_sweep", 30, sweep.run_sla_sweep)
    register_job(app, "helpdesk.close_resolved", 900, sweep.close_resolved_tickets)
    register_demo_seeder(app, 30, demo.seed_demo_tickets)
