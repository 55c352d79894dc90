"""The help desk for staff: queues, a ticket's page and its actions, the numbers, canned
replies and tier settings."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.auth.forms import ConfirmForm
from portal.auth.models import User
from portal.core.db import utcnow
from portal.core.forms import choices
from portal.core.roles import SupportTier
from portal.core.security import admin_required, staff_required
from portal.extensions import db
from portal.helpdesk import attachments, dashboard, queries, services, sla
from portal.helpdesk.business_hours import WEEKDAYS, format_day_hours
from portal.helpdesk.forms import (
    TIER_PAIRS,
    AssignForm,
    CannedReplyForm,
    DeescalateForm,
    EscalateForm,
    PropertiesForm,
    QueueFilterForm,
    StaffReplyForm,
    StateForm,
    TierSettingsForm,
    sla_field_name,
)
from portal.helpdesk.models import (
    CannedReply,
    Priority,
    SlaTarget,
    Ticket,
    TicketAttachment,
    TicketState,
)

bp = Blueprint("helpdesk_staff", __name__, url_prefix="/staff/tickets", template_folder="templates")

FAILURE_STATUS: dict[type[services.HelpdeskError], int] = {
    services.NotAllowed: 403,
    services.InvalidTransition: 409,
}


def _describe_staff(user: User) -> str:
    return f"{user.full_name} ({f'tier {user.support_tier}' if user.support_tier else user.role})"


def _staff_choices() -> list[tuple[str, str]]:
    return [(str(u.id), _describe_staff(u)) for u in services.active_staff()]


# --- the queue ----------------------------------------------------------------------------------


@bp.route("/")
@staff_required
def queue() -> ResponseReturnValue:
    form = QueueFilterForm(request.args, staff=_staff_choices())
    if not form.validate():
        return render_template(
            "helpdesk/queue.html",
            form=form,
            page=None,
            counts={},
            now=utcnow(),
            views=queries.QueueView,
        ), 400
    wanted = queries.QueueFilter(
        view=queries.QueueView(form.view.data),
        state=form.state.data or queries.ANY_OPEN,
        tier=int(form.tier.data) if form.tier.data else None,
        category=form.category.data or "",
        priority=form.priority.data or "",
        assignee=form.assignee.data or "",
        q=form.q.data or "",
        sort=queries.Sort(form.sort.data),
    )
    now = utcnow()
    page = queries.paginate(
        queries.staff_queue(current_user, wanted, now), request.args.get("page", 1, type=int) or 1
    )
    return render_template(
        "helpdesk/queue.html",
        form=form,
        page=page,
        counts=queries.queue_counts(current_user, now),
        now=now,
        views=queries.QueueView,
    )


# --- one ticket ---------------------------------------------------------------------------------


def _ticket_or_404(number: int) -> Ticket:
    ticket = services.staff_ticket(current_user, number)
    if ticket is None:
        abort(404)
    return ticket


def _canned_choices() -> list[tuple[str, str]]:
    return [
        (str(r.id), f"{r.title} ({r.tier_label})")
        for r in services.canned_replies_for(current_user)
    ]


def _render_ticket(
    ticket: Ticket, status: int = 200, *, error_for: tuple[str, str] | None = None, **forms: Any
) -> ResponseReturnValue:
    """The ticket page; `forms` replace the blank forms (to show what was sent), `error_for`
    puts a message beside one form."""
    loaded = services.ticket_for_page(ticket.id)
    if loaded is None:
        abort(404)
    staff = [(str(u.id), _describe_staff(u)) for u in services.assignable_staff(loaded)]
    defaults: dict[str, Any] = {
        "reply_form": StaffReplyForm(formdata=None, canned=_canned_choices()),
        "assign_form": AssignForm(
            formdata=None, staff=staff, data={"assignee": str(loaded.assignee_id or "")}
        ),
        "state_form": StateForm(formdata=None, data={"state": loaded.state}),
        "escalate_form": EscalateForm(formdata=None),
        "deescalate_form": DeescalateForm(formdata=None),
        "properties_form": PropertiesForm(
            formdata=None, data={"priority": loaded.priority, "category": loaded.category}
        ),
    }
    defaults.update(forms)
    defaults["deescalate_form"].tier.choices = choices(TIER_PAIRS[: max(loaded.tier - 1, 0)])
    if error_for is not None:
        name, message = error_for
        defaults[name].form_errors.append(message)
    return render_template(
        "helpdesk/staff_ticket.html",
        ticket=loaded,
        can_work=services.can_work_on(current_user, loaded),
        confirm=ConfirmForm(),
        now=utcnow(),
        transitions=services.STAFF_TRANSITIONS[loaded.state_enum],
        canned_replies=services.canned_replies_for(current_user),
        requester_label=services.requester_label,
        **defaults,
    ), status


def _failed(
    ticket: Ticket, exc: services.HelpdeskError, form_name: str, form: Any = None
) -> ResponseReturnValue:
    """Show the ticket again with the reason beside the form that was sent (403 for what the
    account may not do, 409 for what the ticket's state does not allow, 422 otherwise)."""
    if isinstance(exc, services.TicketNotFound):
        abort(404)
    forms = {form_name: form} if form is not None else {}
    return _render_ticket(
        ticket, FAILURE_STATUS.get(type(exc), 422), error_for=(form_name, exc.message), **forms
    )


@bp.route("/<int:number>")
@staff_required
def ticket(number: int) -> ResponseReturnValue:
    return _render_ticket(_ticket_or_404(number))


@bp.route("/<int:number>/reply", methods=["POST"])
@staff_required
def reply(number: int) -> ResponseReturnValue:
    ticket = _ticket_or_404(number)
    form = StaffReplyForm(canned=_canned_choices())
    action = request.form.get("action", "reply")
    if action == "canned":
        # Without JavaScript, "Insert" puts the chosen canned text into the message box.
        chosen = (
            db.session.get(CannedReply, int(form.canned.data))
            if (form.canned.data or "").isdigit()
            else None
        )
        if chosen is not None and str(chosen.id) in dict(_canned_choices()):
            form.body.data = "\n\n".join(
                p for p in (form.body.data or "", chosen.body) if p.strip()
            )
        form.canned.data = ""
        return _render_ticket(ticket, reply_form=form)
    if form.validate_on_submit():
        if not (form.body.data or "").strip():
            form.body.errors = [*form.body.errors, "Write a message."]
            return _render_ticket(ticket, 422, reply_form=form)
        internal = action == "note"
        try:
            services.add_staff_message(
                current_user,
                number,
                body=form.body.data or "",
                internal=internal,
                new_state=form.new_state.data or None,
                uploads=form.attachments.uploads,
            )
        except services.HelpdeskError as exc:
            return _failed(ticket, exc, "reply_form", form)
        flash("Internal note added." if internal else "Reply sent to the requester.", "success")
        return redirect(url_for("helpdesk_staff.ticket", number=number, _anchor="conversation-end"))
    return _render_ticket(ticket, 422, reply_form=form)


@bp.route("/<int:number>/claim", methods=["POST"])
@staff_required
def claim(number: int) -> ResponseReturnValue:
    ticket = _ticket_or_404(number)
    ConfirmForm()
    try:
        services.claim_ticket(current_user, number)
    except services.HelpdeskError as exc:
        return _failed(ticket, exc, "assign_form")
    flash(f"Ticket #{number} is yours.", "success")
    return redirect(url_for("helpdesk_staff.ticket", number=number))


@bp.route("/<int:number>/assign", methods=["POST"])
@staff_required
def assign(number: int) -> ResponseReturnValue:
    ticket = _ticket_or_404(number)
    form = AssignForm(staff=_staff_choices())
    if form.validate_on_submit():
        try:
            services.assign_ticket(
                current_user, number, int(form.assignee.data) if form.assignee.data else None
            )
        except services.HelpdeskError as exc:
            return _failed(ticket, exc, "assign_form", form)
        flash("Assignment saved.", "success")
        return redirect(url_for("helpdesk_staff.ticket", number=number))
    return _render_ticket(ticket, 422, assign_form=form)


@bp.route("/<int:number>/state", methods=["POST"])
@staff_required
def state(number: int) -> ResponseReturnValue:
    ticket = _ticket_or_404(number)
    form = StateForm()
    if form.validate_on_submit():
        try:
            services.change_state(
                current_user, number, form.state.data or "", reason=form.reason.data or ""
            )
        except services.HelpdeskError as exc:
            return _failed(ticket, exc, "state_form", form)
        flash(f"The ticket is now {TicketState(form.state.data).label.lower()}.", "success")
        return redirect(url_for("helpdesk_staff.ticket", number=number))
    return _render_ticket(ticket, 422, state_form=form)


@bp.route("/<int:number>/escalate", methods=["POST"])
@staff_required
def escalate(number: int) -> ResponseReturnValue:
    ticket = _ticket_or_404(number)
    form = EscalateForm()
    if form.validate_on_submit():
        try:
            escalated = services.escalate_ticket(current_user, number, form.reason.data or "")
        except services.HelpdeskError as exc:
            return _failed(ticket, exc, "escalate_form", form)
        flash(f"Escalated to {escalated.tier_enum.label}.", "success")
        return redirect(url_for("helpdesk_staff.ticket", number=number))
    return _render_ticket(ticket, 422, escalate_form=form)


@bp.route("/<int:number>/deescalate", methods=["POST"])
@staff_required
def deescalate(number: int) -> ResponseReturnValue:
    ticket = _ticket_or_404(number)
    form = DeescalateForm()
    if form.validate_on_submit():
        try:
            moved = services.deescalate_ticket(
                current_user, number, int(form.tier.data or 0), form.reason.data or ""
            )
        except services.HelpdeskError as exc:
            return _failed(ticket, exc, "deescalate_form", form)
        flash(f"Moved back to {moved.tier_enum.label}.", "success")
        return redirect(url_for("helpdesk_staff.ticket", number=number))
    return _render_ticket(ticket, 422, deescalate_form=form)


@bp.route("/<int:number>/properties", methods=["POST"])
@staff_required
def properties(number: int) -> ResponseReturnValue:
    ticket = _ticket_or_404(number)
    form = PropertiesForm()
    if form.validate_on_submit():
        try:
            services.update_properties(
                current_user,
                number,
                priority=form.priority.data or "",
                category=form.category.data or "",
            )
        except services.HelpdeskError as exc:
            return _failed(ticket, exc, "properties_form", form)
        flash("Saved.", "success")
        return redirect(url_for("helpdesk_staff.ticket", number=number))
    return _render_ticket(ticket, 422, properties_form=form)


@bp.route("/<int:number>/attachments/<int:attachment_id>")
@staff_required
def attachment(number: int, attachment_id: int) -> ResponseReturnValue:
    ticket = _ticket_or_404(number)
    found = db.session.get(TicketAttachment, attachment_id)
    if found is None or found.ticket_id != ticket.id:
        abort(404)
    return attachments.send_download(found)


# --- numbers ------------------------------------------------------------------------------------


@bp.route("/dashboard")
@staff_required
def numbers() -> ResponseReturnValue:
    weeks = request.args.get("weeks", "8")
    weeks_count = int(weeks) if weeks in {"4", "8", "12", "26"} else 8
    return render_template(
        "helpdesk/dashboard.html", stats=dashboard.compute(utcnow(), weeks_count)
    )


# --- canned replies -----------------------------------------------------------------------------


def _canned_tier_choices() -> list[tuple[str, str]]:
    if current_user.is_admin:
        return [("", "Every tier")] + [(str(int(t)), t.label) for t in SupportTier]
    if current_user.support_tier:
        return [(str(current_user.support_tier), SupportTier(current_user.support_tier).label)]
    return []


@bp.route("/canned")
@staff_required
def canned_replies() -> ResponseReturnValue:
    return render_template(
        "helpdesk/canned_list.html",
        replies=services.canned_replies_for(current_user),
        can_edit=lambda reply: services.can_edit_canned(current_user, reply, reply.tier),
        can_add=bool(_canned_tier_choices()),
        confirm=ConfirmForm(),
    )


@bp.route("/canned/new", methods=["GET", "POST"])
@bp.route("/canned/<int:reply_id>", methods=["GET", "POST"])
@staff_required
def edit_canned(reply_id: int | None = None) -> ResponseReturnValue:
    reply = db.session.get(CannedReply, reply_id) if reply_id is not None else None
    if reply_id is not None and reply is None:
        abort(404)
    tiers = _canned_tier_choices()
    if not tiers or (
        reply is not None and not services.can_edit_canned(current_user, reply, reply.tier)
    ):
        abort(403)
    form = CannedReplyForm(
        obj=reply, tiers=tiers, data={"tier": str(reply.tier or "")} if reply else None
    )
    if form.validate_on_submit():
        try:
            services.save_canned_reply(
                current_user,
                reply_id,
                tier=int(form.tier.data) if form.tier.data else None,
                title=form.title.data or "",
                body=form.body.data or "",
            )
        except services.HelpdeskError as exc:
            form.form_errors.append(exc.message)
        else:
            flash("Canned reply saved.", "success")
            return redirect(url_for("helpdesk_staff.canned_replies"))
    return render_template("helpdesk/canned_edit.html", form=form, reply=reply), (
        422 if form.errors or form.form_errors else 200
    )


@bp.route("/canned/<int:reply_id>/delete", methods=["POST"])
@staff_required
def delete_canned(reply_id: int) -> ResponseReturnValue:
    ConfirmForm()
    try:
        services.delete_canned_reply(current_user, reply_id)
    except services.TicketNotFound:
        abort(404)
    except services.NotAllowed:
        abort(403)
    flash("Canned reply deleted.", "success")
    return redirect(url_for("helpdesk_staff.canned_replies"))


# --- tier settings ------------------------------------------------------------------------------


@bp.route("/tiers")
@staff_required
def tiers() -> ResponseReturnValue:
    return render_template(
        "helpdesk/tiers.html",
        tiers=sla.all_tier_settings(),
        weekdays=WEEKDAYS,
        format_day_hours=format_day_hours,
        priorities=list(Priority),
        targets=list(SlaTarget),
    )


@bp.route("/tiers/<int:tier>", methods=["GET", "POST"])
@admin_required
def edit_tier(tier: int) -> ResponseReturnValue:
    if tier not in (1, 2, 3):
        abort(404)
    settings = sla.tier_settings(tier)
    data: dict[str, Any] = {
        "slack_channel_id": settings.slack_channel_id or "",
        "timezone": settings.timezone,
        "holiday_country": settings.holiday_country or "",
        "holiday_subdivision": settings.holiday_subdivision or "",
        "closed_dates": "\n".join(settings.closed_dates or []),
        "warning_minutes": settings.warning_minutes,
    }
    for day, hours in zip(WEEKDAYS, settings.weekly_hours, strict=True):
        data[day.lower()] = format_day_hours([(s, e) for s, e in hours])
    for priority in Priority:
        for target in SlaTarget:
            data[sla_field_name(priority, target)] = settings.target_minutes(priority, target)
    form = TierSettingsForm(data=data)
    if form.validate_on_submit():
        try:
            services.save_tier_settings(
                current_user,
                tier,
                slack_channel_id=(form.slack_channel_id.data or "").strip() or None,
                timezone=(form.timezone.data or "").strip(),
                weekly_hours=[[list(r) for r in f.ranges] for f in form.day_fields()],
                holiday_country=(form.holiday_country.data or "").strip().upper() or None,
                holiday_subdivision=(form.holiday_subdivision.data or "").strip().upper() or None,
                closed_dates=sorted(set((form.closed_dates.data or "").split())),
                sla_minutes={
                    p.value: {t.value: int(form[sla_field_name(p, t)].data) for t in SlaTarget}
                    for p in Priority
                },
                warning_minutes=int(form.warning_minutes.data or 0),
            )
        except services.HelpdeskError as exc:
            form.form_errors.append(exc.message)
        else:
            flash(f"Settings of {SupportTier(tier).label} saved.", "success")
            return redirect(url_for("helpdesk_staff.tiers"))
    return render_template(
        "helpdesk/tier_edit.html",
        form=form,
        settings=settings,
        priorities=list(Priority),
        targets=list(SlaTarget),
        sla_field_name=sla_field_name,
    ), 422 if form.errors or form.form_errors else 200
