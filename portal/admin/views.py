"""Admin pages: accounts and tiers, the development mailbox, and the delivery outbox."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.admin.forms import EditUserForm, InviteStaffForm, UserFilterForm
from portal.auth import services as auth_services
from portal.auth.forms import ConfirmForm
from portal.auth.models import User
from portal.core.forms import form_page
from portal.core.roles import Role
from portal.core.security import admin_required
from portal.core.templating import add_nav_item
from portal.extensions import db
from portal.outbox import service as outbox_service
from portal.outbox.models import MessageState

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")


@bp.route("/")
@admin_required
def index() -> ResponseReturnValue:
    return render_template(
        "admin/index.html",
        outbox_counts=outbox_service.messages_by_state(),
        message_states=list(MessageState),
        role_counts=auth_services.accounts_by_role(),
    )


@bp.route("/users")
@admin_required
def users() -> ResponseReturnValue:
    form = UserFilterForm(request.args)
    valid = form.validate()
    query = auth_services.account_search(
        form.q.data if valid else None, form.role.data if valid else None
    )
    page = db.paginate(query, per_page=50, error_out=False)
    return render_template("admin/users.html", page=page, form=form)


@bp.route("/users/new", methods=["GET", "POST"])
@admin_required
def invite_staff() -> ResponseReturnValue:
    form = InviteStaffForm()
    if form.validate_on_submit():
        try:
            user = auth_services.invite_staff(
                email=form.email.data or "",
                full_name=form.full_name.data or "",
                role=Role(form.role.data),
                tier=form.tier.data,
            )
        except auth_services.AuthError as exc:
            form.show_refusal(exc, field="email")
        else:
            flash(
                f"{user.email} is invited; they will receive a link to set a password.", "success"
            )
            return redirect(url_for("admin.users"))
    return form_page("admin/invite.html", form)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_required
def edit_user(user_id: int) -> ResponseReturnValue:
    user = db.get_or_404(User, user_id)
    form = EditUserForm(obj=user, tier=user.support_tier)
    if form.validate_on_submit():
        try:
            auth_services.set_role(user, Role(form.role.data), form.tier.data)
            auth_services.set_programme_staff(user, bool(form.programme_staff.data))
            if bool(form.active.data) != user.active:
                auth_services.set_active(user, bool(form.active.data))
        except auth_services.AuthError as exc:
            form.show_refusal(exc)
        else:
            flash(f"Saved {user.email}.", "success")
            return redirect(url_for("admin.users"))
    return form_page("admin/edit_user.html", form, user=user)


def _mail_dir() -> Path:
    return Path(current_app.config["MAIL_DIR"])


@bp.route("/mail")
@admin_required
def mail() -> ResponseReturnValue:
    """The development mailbox: messages written as .eml files when no SMTP server is set."""
    directory = _mail_dir()
    files = sorted(directory.glob("*.eml"), reverse=True)[:200] if directory.exists() else []
    messages = []
    for path in files:
        with path.open("rb") as handle:
            parsed = email.message_from_binary_file(handle, policy=email.policy.default)
        messages.append(
            {
                "name": path.name,
                "to": parsed["To"],
                "subject": parsed["Subject"],
                "date": parsed["Date"],
            }
        )
    return render_template(
        "admin/mail.html", messages=messages, smtp=bool(current_app.config["MAIL_SERVER"])
    )


@bp.route("/mail/<name>")
@admin_required
def mail_message(name: str) -> ResponseReturnValue:
    directory = _mail_dir()
    path = directory / name
    if "/" in name or not name.endswith(".eml") or not path.is_file():
        abort(404)
    with path.open("rb") as handle:
        parsed = email.message_from_binary_file(handle, policy=email.policy.default)
    body = parsed.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    return render_template("admin/mail_message.html", message=parsed, text=text, name=name)


@bp.route("/outbox")
@admin_required
def outbox() -> ResponseReturnValue:
    state = request.args.get("state", "")
    page = db.paginate(outbox_service.message_search(state), per_page=50, error_out=False)
    return render_template(
        "admin/outbox.html",
        page=page,
        state=state,
        states=list(MessageState),
        confirm=ConfirmForm(),
    )


@bp.route("/outbox/<int:message_id>/retry", methods=["POST"])
@admin_required
def retry_message(message_id: int) -> ResponseReturnValue:
    ConfirmForm()
    message = outbox_service.retry_dead_message(message_id)
    if message is None:
        abort(404)
    flash(f"Message {message_id} is queued again.", "success")
    current_app.logger.info("outbox retry by %s", current_user.email)
    return redirect(url_for("admin.outbox", state="dead"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav_item(app, "admin.index", "Admin", "admin", order=80)
