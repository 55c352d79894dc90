"""The DP0 community portal: application factory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.config import load_config


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the portal: configuration, extensions, features, error pages, logging, CLI."""
    overrides = test_config or {}
    instance_path = (
        overrides.get("INSTANCE_PATH")
        or os.environ.get("PORTAL_INSTANCE_PATH")
        or str(Path(__file__).resolve().parent.parent / "instance")
    )
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    app.config.update(
        load_config(
            Path(app.instance_path), overrides.get("PORTAL_ENV"), overrides.get("SECRET_KEY")
        )
    )
    if test_config:
        app.config.update(test_config)
    app.testing = app.config["PORTAL_ENV"] == "testing"
    hops = app.config["PORTAL_PROXY_HOPS"]
    if hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    from portal import cli
    from portal.admin import views as admin_views
    from portal.audit import views as audit_views
    from portal.auth import models as _auth_models  # noqa: F401 - register the tables
    from portal.auth import views as auth_views
    from portal.auth.services import user_for_api_token
    from portal.core import api, errors, logging, request_input, security, templating
    from portal.core.db import configure_engine
    from portal.extensions import csrf, db, limiter, login_manager, migrate
    from portal.helpdesk import views as helpdesk_views
    from portal.outbox import models as _outbox_models  # noqa: F401 - register the tables
    from portal.pages import views as pages_views
    from portal.privacy import views as privacy_views
    from portal.signup import views as signup_views

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    with app.app_context():
        configure_engine(db.engine)

    logging.configure_logging(app)
    request_input.init_request_input(app)
    security.init_security_headers(app)
    errors.init_error_handlers(app)
    templating.init_templating(app)
    pages_views.init_app(app)
    auth_views.init_app(app)
    admin_views.init_app(app)
    audit_views.init_app(app)
    api.init_app(app, user_for_api_token)
    signup_views.init_app(app)
    helpdesk_views.init_app(app)
    # After sign-up: its delivery hook for GitHub calls runs before privacy's.
    privacy_views.init_app(app)
    cli.init_app(app)
    return app
