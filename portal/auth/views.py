"""Sign-in, registration, verification, password reset, GitHub sign-in and the account page."""

from __future__ import annotations

from authlib.integrations.flask_client import FlaskOAuth2App, OAuth
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user

from portal.auth import services
from portal.auth.forms import (
    ChangePasswordForm,
    ConfirmForm,
    EmailOnlyForm,
    LoginForm,
    ProfileForm,
    RegisterForm,
    ResetPasswordForm,
    TokenForm,
)
from portal.auth.models import User
from portal.core.forms import form_page
from portal.core.limits import mail_sending_limits
from portal.core.security import landing_page, public, signed_in_required, staff_required
from portal.core.templating import add_nav_item
from portal.core.tokens import InvalidToken
from portal.core.urls import external_url, is_safe_next
from portal.extensions import limiter, login_manager

bp = Blueprint("auth", __name__, url_prefix="/auth", template_folder="templates")
account_bp = Blueprint("account", __name__, url_prefix="/account", template_folder="templates")


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _sign_in_failed(response: Response) -> bool:
    # Only refused sign-ins count against a client address: many people signing in from one
    # address (a workshop behind a campus router) are not an attack.
    return response.status_code == 422


def _start_session(user: User, remember: bool = False) -> None:
    # A fresh session on sign-in: nothing from before (a planted session id) carries over.
    session.clear()
    services.open_session(user)
    login_user(user, remember=remember)
    session.permanent = True


def _github() -> FlaskOAuth2App:
    """This app's GitHub OAuth client (404 when GitHub sign-in is not configured)."""
    client = current_app.extensions.get("portal.github_oauth")
    if client is None:
        abort(404)
    return client


def _landing(user: User, target: str | None) -> ResponseReturnValue:
    """The page asked for (if it is on this site), else the account's landing page."""
    if is_safe_next(target):
        return redirect(target)
    return redirect(landing_page(user) or url_for("pages.home"))


def _redirect_after_login() -> ResponseReturnValue:
    return _landing(current_user, request.args.get("next") or request.form.get("next"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_sign_in_failed)
@public
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return _redirect_after_login()
    form = LoginForm()
    unverified = False
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data or "", form.password.data or "")
        except services.SignInPaused as exc:
            form.show_refusal(exc)
            page, _ = form_page("auth/login.html", form, next=request.args.get("next", ""))
            return page, 429, {"Retry-After": str(exc.seconds)}
        except services.EmailNotVerified as exc:
            form.show_refusal(exc)
            unverified = True
        except services.AuthError as exc:
            form.show_refusal(exc)
        else:
            _start_session(user, bool(form.remember.data))
            services.record_login(user)
            return _redirect_after_login()
    return form_page(
        "auth/login.html", form, unverified=unverified, next=request.args.get("next", "")
    )


@bp.route("/logout", methods=["POST"])
@public
def logout() -> ResponseReturnValue:
    ConfirmForm()  # CSRF is checked globally; the form is only for the template.
    if current_user.is_authenticated:
        services.close_session(current_user._get_current_object())
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("pages.home"))


@bp.route("/register", methods=["GET", "POST"])
@mail_sending_limits
@public
def register() -> ResponseReturnValue:
    form = RegisterForm()
    if form.validate_on_submit():
        services.register_account(
            email=form.email.data or "",
            full_name=form.full_name.data or "",
            password=form.password.data or "",
        )
        return render_template(
            "auth/check_email.html", email=services.normalise_email(form.email.data or "")
        )
    return form_page("auth/register.html", form)


@bp.route("/verify/<token>")
@public
def verify_email(token: str) -> ResponseReturnValue:
    try:
        user = services.verify_email(token)
    except InvalidToken as exc:
        return render_template("auth/token_problem.html", reason=exc.reason), 400
    flash("Thank you: your email address is confirmed.", "success")
    if current_user.is_authenticated and current_user.id == user.id:
        return redirect(url_for("pages.home"))
    return redirect(url_for("auth.login"))


@bp.route("/verify", methods=["GET", "POST"])
@mail_sending_limits
@public
def resend_verification() -> ResponseReturnValue:
    form = EmailOnlyForm()
    if form.validate_on_submit():
        services.resend_verification(form.email.data or "")
        return render_template("auth/check_email.html", email=form.email.data)
    return form_page("auth/resend.html", form)


@bp.route("/reset", methods=["GET", "POST"])
@mail_sending_limits
@public
def request_reset() -> ResponseReturnValue:
    form = EmailOnlyForm()
    if form.validate_on_submit():
        services.request_password_reset(form.email.data or "")
        return render_template("auth/check_email.html", email=form.email.data, reset=True)
    return form_page("auth/reset_request.html", form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@public
def reset_password(token: str) -> ResponseReturnValue:
    try:
        services.user_for_reset_token(token)
    except InvalidToken as exc:
        return render_template("auth/token_problem.html", reason=exc.reason), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            services.reset_password(token, form.password.data or "")
        except InvalidToken as exc:
            return render_template("auth/token_problem.html", reason=exc.reason), 400
        logout_user()
        session.clear()
        flash("Your password is set. Sign in with it now.", "success")
        return redirect(url_for("auth.login"))
    return form_page("auth/reset_password.html", form)


@bp.route("/github/login")
@public
def github_login() -> ResponseReturnValue:
    github = _github()
    target = request.args.get("next")
    session["github_next"] = target if is_safe_next(target) else None
    return github.authorize_redirect(external_url("auth.github_callback"))


@bp.route("/github/callback")
@public
def github_callback() -> ResponseReturnValue:
    github = _github()
    try:
        github.authorize_access_token()
        profile = github.get("user").json()
        emails = github.get("user/emails").json()
    except Exception:  # denied, bad state, GitHub unreachable: all end the same way for the user
        current_app.logger.warning("GitHub sign-in failed", exc_info=True)
        flash("GitHub sign-in did not complete. Please try again.", "error")
        return redirect(url_for("auth.login"))
    verified = [e for e in emails if isinstance(e, dict) and e.get("verified")]
    primary = next((e for e in verified if e.get("primary")), verified[0] if verified else None)
    identity = services.GitHubIdentity(
        id=int(profile["id"]),
        login=str(profile["login"]),
        name=profile.get("name"),
        verified_email=primary["email"] if primary else None,
    )
    signed_in = current_user if current_user.is_authenticated else None
    try:
        user = services.sign_in_with_github(identity, signed_in)
    except services.AuthError as exc:
        flash(exc.message, "error")
        return redirect(url_for("auth.login"))
    target = session.pop("github_next", None)
    if signed_in is None:
        _start_session(user)
    flash(f"Signed in with GitHub as {identity.login}.", "success")
    return _landing(user, target)


@account_bp.route("/", methods=["GET", "POST"])
@signed_in_required
def profile() -> ResponseReturnValue:
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        try:
            services.update_profile(
                current_user,
                full_name=form.full_name.data or "",
                slack_user_id=form.slack_user_id.data,
            )
        except services.AuthError as exc:
            form.show_refusal(exc, field="slack_user_id")
        else:
            flash("Your details are saved.", "success")
            return redirect(url_for("account.profile"))
    return form_page(
        "auth/profile.html", form, password_form=ChangePasswordForm(), confirm=ConfirmForm()
    )


@account_bp.route("/password", methods=["POST"])
@signed_in_required
def change_password() -> ResponseReturnValue:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(
                current_user, form.current.data or "", form.password.data or ""
            )
        except services.AuthError as exc:
            form.show_refusal(exc, field="current")
        else:
            _start_session(current_user._get_current_object())
            flash("Your password is changed; other devices are signed out.", "success")
            return redirect(url_for("account.profile"))
    return render_template(
        "auth/profile.html",
        form=ProfileForm(obj=current_user),
        password_form=form,
        confirm=ConfirmForm(),
    ), 422


@account_bp.route("/tokens", methods=["GET", "POST"])
@staff_required
def tokens() -> ResponseReturnValue:
    form = TokenForm()
    new_token = None
    if form.validate_on_submit():
        new_token = services.create_api_token(current_user, form.name.data or "")
        form = TokenForm(formdata=None)
    return form_page(
        "auth/tokens.html",
        form,
        tokens=services.api_tokens_of(current_user),
        new_token=new_token,
        confirm=ConfirmForm(),
    )


@account_bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@staff_required
def revoke_token(token_id: int) -> ResponseReturnValue:
    ConfirmForm()
    try:
        services.revoke_api_token(current_user, token_id)
    except services.AuthError:
        abort(404)
    flash("The token is revoked.", "success")
    return redirect(url_for("account.tokens"))


@account_bp.route("/sessions/end", methods=["POST"])
@signed_in_required
def sign_out_everywhere() -> ResponseReturnValue:
    ConfirmForm()
    services.close_all_sessions(current_user._get_current_object())
    logout_user()
    session.clear()
    flash("You are signed out on every device, this one included.", "info")
    return redirect(url_for("auth.login"))


login_manager.user_loader(services.user_for_session)


@login_manager.unauthorized_handler
def _unauthorized() -> ResponseReturnValue:
    abort(401)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(account_bp)
    config = app.config
    if config["GITHUB_CLIENT_ID"] and config["GITHUB_CLIENT_SECRET"]:
        # One registry per app: the client keeps the URLs it was created with.
        registry = OAuth(app)
        registry.register(
            name="github",
            client_id=config["GITHUB_CLIENT_ID"],
            client_secret=config["GITHUB_CLIENT_SECRET"],
            access_token_url=f"{config['GITHUB_URL']}/login/oauth/access_token",
            authorize_url=f"{config['GITHUB_URL']}/login/oauth/authorize",
            api_base_url=f"{config['GITHUB_API_URL']}/",
            client_kwargs={"scope": "read:user user:email"},
        )
        app.extensions["portal.github_oauth"] = registry.create_client("github")
    add_nav_item(app, "account.profile", "Account", "applicant", order=90)
    add_nav_item(app, "auth.login", "Sign in", "anonymous", order=95)
