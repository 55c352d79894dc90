"""The help desk for staff: queues, a ticket's page and its actions, the numbers, canned
replies and tier settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.auth.forms import ConfirmForm
from portal.core.db import utcnow
from portal.core.errors import UserError
from portal.core.forms import PortalForm, choices, form_page, pressed_button
from portal.core.request_input import as_id
from portal.core.roles import SupportTier
from portal.core.security import admin_required, staff_required
from portal.helpdesk import attachments, dashboard, queries, settings, sla, staff, tickets
from portal.helpdesk.business_hours import WEEKDAYS, format_day_hours
from portal.helpdesk.forms import (
    AssignForm,
    CannedReplyForm,
    DeescalateForm,
    EscalateForm,
    PropertiesForm,
    QueueFilterForm,
    StaffReplyForm,
    StateForm,
    TierSettingsForm,
    canned_tier_choices,
    lower_tier_choices,
    sla_field_name,
    staff_choices,
)
from portal.helpdesk.models import OPEN_STATES, Priority, SlaTarget, Ticket, TierSettings

bp = Blueprint("helpdesk_staff", __name__, url_prefix="/staff/tickets", template_folder="templates")


# --- the queue ----------------------------------------------------------------------------------


@bp.route("/")
@staff_required
def queue() -> ResponseReturnValue:
    form = QueueFilterForm(request.args, staff=staff_choices(tickets.active_staff()))
    now = utcnow()
    page = None
    if form.validate():
        page = queries.paginate(
            queries.staff_queue(current_user, form.to_filter(), now),
            request.args.get("page", 1, type=int) or 1,
        )
    return render_template(
        "helpdesk/queue.html",
        form=form,
        page=page,
        counts=queries.queue_counts(current_user, now) if page is not None else {},
        now=now,
        views=queries.QueueView,
    ), 200 if page is not None else 400


# --- one ticket ---------------------------------------------------------------------------------


def _ticket_or_404(number: int) -> Ticket:
    ticket = tickets.staff_ticket(current_user, number)
    if ticket is None:
        abort(404)
    return ticket


def _canned_choices() -> list[tuple[str, str]]:
    return [
        (str(r.id), f"{r.title} ({r.tier_label})")
        for r in settings.canned_replies_for(current_user)
    ]


def _render_ticket(
    ticket: Ticket,
    status: int = 200,
    *,
    refused: tuple[str, UserError] | None = None,
    **forms: PortalForm,
) -> ResponseReturnValue:
    """The ticket page; `forms` replace the blank forms (to show what was sent), `refused`
    puts a service's refusal beside one of them."""
    loaded = tickets.ticket_for_page(ticket.id)
    if loaded is None:
        abort(404)
    defaults: dict[str, PortalForm] = {
        "reply_form": StaffReplyForm(formdata=None, canned=_canned_choices()),
        "assign_form": AssignForm(
            formdata=None,
            staff=staff_choices(tickets.assignable_staff(loaded)),
            data={"assignee": str(loaded.assignee_id or "")},
        ),
        "state_form": StateForm(formdata=None, data={"state": loaded.state}),
        "escalate_form": EscalateForm(formdata=None),
        "deescalate_form": DeescalateForm(formdata=None),
        "properties_form": PropertiesForm(
            formdata=None, data={"priority": loaded.priority, "category": loaded.category}
        ),
    }
    defaults.update(forms)
    defaults["deescalate_form"].tier.choices = choices(lower_tier_choices(loaded.tier))
    if refused is not None:
        form_name, refusal = refused
        defaults[form_name].show_refusal(refusal)
    return render_template(
        "helpdesk/staff_ticket.html",
        ticket=loaded,
        can_work=tickets.can_work_on(current_user, loaded),
        confirm=ConfirmForm(),
        now=utcnow(),
        transitions=tickets.STAFF_TRANSITIONS[loaded.state],
        canned_replies=settings.canned_replies_for(current_user),
        **defaults,
    ), status


def _act(
    number: int,
    form_name: str,
    action: Callable[[], str],
    form: PortalForm | None = None,
    *,
    anchor: str | None = None,
) -> ResponseReturnValue:
    """Run one of the ticket page's actions: when the form (or, for a bare button, its CSRF
    token) is valid and the service agrees, flash what `action` returns and go back to the
    ticket; otherwise show the page again with the form as sent and the reason beside it, with
    the refusal's own status (403 for what the account may not do, 409 for what the ticket's
    state does not allow, 422 otherwise)."""
    ticket = _ticket_or_404(number)
    sent = {form_name: form} if form is not None else {}
    if not (form if form is not None else ConfirmForm()).validate_on_submit():
        return _render_ticket(ticket, 422, **sent)
    try:
        done = action()
    except UserError as refusal:
        return _render_ticket(ticket, refusal.status, refused=(form_name, refusal), **sent)
    flash(done, "success")
    return redirect(url_for("helpdesk_staff.ticket", number=number, _anchor=anchor))


@bp.route("/<int:number>")
@staff_required
def ticket(number: int) -> ResponseReturnValue:
    return _render_ticket(_ticket_or_404(number))


@bp.route("/<int:number>/reply", methods=["POST"])
@staff_required
def reply(number: int) -> ResponseReturnValue:
    form = StaffReplyForm(canned=_canned_choices())
    action = pressed_button("reply", "note", "canned", default="reply")
    if action == "canned":
        # Without JavaScript, "Insert" puts the chosen canned text into the message box.
        ticket = _ticket_or_404(number)
        canned_id = as_id(form.canned.data)
        chosen = settings.canned_reply_for(current_user, canned_id) if canned_id else None
        if chosen is not None:
            form.body.data = "\n\n".join(
                p for p in (form.body.data or "", chosen.body) if p.strip()
            )
        form.canned.data = ""
        return _render_ticket(ticket, reply_form=form)
    internal = action == "note"

    def send() -> str:
        staff.add_staff_message(
            current_user,
            number,
            body=form.body.data or "",
            internal=internal,
            new_state=form.new_state.data or None,
            uploads=form.attachments.uploads,
        )
        return "Internal note added." if internal else "Reply sent to the requester."

    return _act(number, "reply_form", send, form, anchor="conversation-end")


@bp.route("/<int:number>/claim", methods=["POST"])
@staff_required
def claim(number: int) -> ResponseReturnValue:
    def take() -> str:
        staff.claim_ticket(current_user, number)
        return f"Ticket #{number} is yours."

    # A bare button: a refusal is shown beside the assignment form.
    return _act(number, "assign_form", take)


@bp.route("/<int:number>/assign", methods=["POST"])
@staff_required
def assign(number: int) -> ResponseReturnValue:
    form = AssignForm(staff=staff_choices(tickets.active_staff()))

    def give() -> str:
        assignee = int(form.assignee.data) if form.assignee.data else None
        staff.assign_ticket(current_user, number, assignee)
        return "Assignment saved."

    return _act(number, "assign_form", give, form)


@bp.route("/<int:number>/state", methods=["POST"])
@staff_required
def state(number: int) -> ResponseReturnValue:
    form = StateForm()

    def move() -> str:
        moved = staff.change_state(
            current_user, number, form.state.data or "", reason=form.reason.data or ""
        )
        return f"The ticket is now {moved.state.label.lower()}."

    return _act(number, "state_form", move, form)


@bp.route("/<int:number>/escalate", methods=["POST"])
@staff_required
def escalate(number: int) -> ResponseReturnValue:
    form = EscalateForm()

    def hand_on() -> str:
        escalated = staff.escalate_ticket(current_user, number, form.reason.data or "")
        return f"Escalated to {escalated.tier_enum.label}."

    return _act(number, "escalate_form", hand_on, form)


@bp.route("/<int:number>/deescalate", methods=["POST"])
@staff_required
def deescalate(number: int) -> ResponseReturnValue:
    form = DeescalateForm()

    def hand_back() -> str:
        to_tier = int(form.tier.data or 0)
        moved = staff.deescalate_ticket(current_user, number, to_tier, form.reason.data or "")
        return f"Moved back to {moved.tier_enum.label}."

    return _act(number, "deescalate_form", hand_back, form)


@bp.route("/<int:number>/properties", methods=["POST"])
@staff_required
def properties(number: int) -> ResponseReturnValue:
    form = PropertiesForm()

    def save() -> str:
        staff.update_properties(
            current_user,
            number,
            priority=form.priority.data or "",
            category=form.category.data or "",
        )
        return "Saved."

    return _act(number, "properties_form", save, form)


@bp.route("/<int:number>/attachments/<int:attachment_id>")
@staff_required
def attachment(number: int, attachment_id: int) -> ResponseReturnValue:
    found = tickets.ticket_attachment(_ticket_or_404(number), attachment_id, for_requester=False)
    if found is None:
        abort(404)
    return attachments.send_download(found)


# --- numbers ------------------------------------------------------------------------------------


@bp.route("/dashboard")
@staff_required
def numbers() -> ResponseReturnValue:
    weeks = request.args.get("weeks", 8, type=int)
    period = dashboard.Period.ending(utcnow(), weeks if weeks in dashboard.WEEK_CHOICES else 8)
    return render_template(
        "helpdesk/dashboard.html",
        stats=dashboard.numbers(period),
        week_choices=dashboard.WEEK_CHOICES,
        open_states=OPEN_STATES,
        targets=list(SlaTarget),
    )


# --- canned replies -----------------------------------------------------------------------------


@bp.route("/canned")
@staff_required
def canned_replies() -> ResponseReturnValue:
    return render_template(
        "helpdesk/canned_list.html",
        replies=settings.canned_replies_for(current_user),
        can_edit=lambda reply: settings.can_edit_canned(current_user, reply, reply.tier),
        can_add=bool(canned_tier_choices(current_user)),
        confirm=ConfirmForm(),
    )


@bp.route("/canned/new", methods=["GET", "POST"])
@bp.route("/canned/<int:reply_id>", methods=["GET", "POST"])
@staff_required
def edit_canned(reply_id: int | None = None) -> ResponseReturnValue:
    reply = settings.editable_canned_reply(current_user, reply_id) if reply_id is not None else None
    tiers = canned_tier_choices(current_user)
    if not tiers:
        abort(403)
    form = CannedReplyForm(
        obj=reply, tiers=tiers, data={"tier": str(reply.tier or "")} if reply else None
    )
    if form.validate_on_submit():
        try:
            settings.save_canned_reply(
                current_user,
                reply_id,
                tier=SupportTier.from_form(form.tier.data),
                title=form.title.data or "",
                body=form.body.data or "",
            )
        except UserError as refusal:
            form.show_refusal(refusal)
        else:
            flash("Canned reply saved.", "success")
            return redirect(url_for("helpdesk_staff.canned_replies"))
    return form_page("helpdesk/canned_edit.html", form, reply=reply)


@bp.route("/canned/<int:reply_id>/delete", methods=["POST"])
@staff_required
def delete_canned(reply_id: int) -> ResponseReturnValue:
    ConfirmForm()
    settings.delete_canned_reply(current_user, reply_id)
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
    if tier not in SupportTier:
        abort(404)
    saved = sla.tier_settings(tier)
    form = TierSettingsForm(data=_tier_form_data(saved))
    if form.validate_on_submit():
        try:
            settings.save_tier_settings(
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
        except UserError as refusal:
            form.show_refusal(refusal)
        else:
            flash(f"Settings of {SupportTier(tier).label} saved.", "success")
            return redirect(url_for("helpdesk_staff.tiers"))
    return form_page(
        "helpdesk/tier_edit.html",
        form,
        settings=saved,
        priorities=list(Priority),
        targets=list(SlaTarget),
        sla_field_name=sla_field_name,
    )


def _tier_form_data(saved: TierSettings) -> dict[str, Any]:
    """The tier settings form filled in with a tier's saved settings."""
    data: dict[str, Any] = {
        "slack_channel_id": saved.slack_channel_id or "",
        "timezone": saved.timezone,
        "holiday_country": saved.holiday_country or "",
        "holiday_subdivision": saved.holiday_subdivision or "",
        "closed_dates": "\n".join(saved.closed_dates or []),
        "warning_minutes": saved.warning_minutes,
    }
    for day, hours in zip(WEEKDAYS, saved.weekly_hours, strict=True):
        data[day.lower()] = format_day_hours([(s, e) for s, e in hours])
    for priority in Priority:
        for target in SlaTarget:
            data[sla_field_name(priority, target)] = saved.target_minutes(priority, target)
    return data
