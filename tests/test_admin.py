"""Admin pages: staff accounts and tiers, and the guard on the last admin."""

from __future__ import annotations

from sqlalchemy import select

from portal.auth.models import User
from portal.core.roles import Role
from portal.extensions import db
from tests.conftest import deliver_outbox


def _user(app, email: str) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        db.session.expunge(user)
        return user


def test_admin_invites_staff_who_sets_a_password(app, client, make_user, login, mailbox):
    admin = login(make_user(Role.ADMIN))
    response = admin.submit(
        "/admin/users/new",
        {"full_name": "Tier Two", "email": "t2@example.org", "role": "staff", "tier": "2"},
    )
    assert response.status_code == 302
    invited = _user(app, "t2@example.org")
    assert invited.role == "staff"
    assert invited.support_tier == 2
    assert invited.password_hash is None
    deliver_outbox(app)
    (message,) = mailbox.to("t2@example.org")
    assert "Tier 2: service desk" in mailbox.text(message)
    link = mailbox.last_link_to("t2@example.org", "/auth/reset/")
    path = link.removeprefix("http://portal.test")
    assert (
        client.submit(
            path, {"password": "a staff passphrase", "confirm": "a staff passphrase"}
        ).status_code
        == 302
    )
    client.sign_in("t2@example.org", "a staff passphrase")


def test_invite_form_keeps_input_on_error(make_user, login):
    existing = make_user(Role.DELEGATE)
    admin = login(make_user(Role.ADMIN))
    response = admin.submit(
        "/admin/users/new",
        {"full_name": "Dup Person", "email": existing.email, "role": "staff", "tier": "1"},
    )
    assert response.status_code == 422
    assert b"already has an account" in response.data
    assert b'value="Dup Person"' in response.data


def test_admin_changes_role_and_tier_and_deactivates(app, make_user, login):
    delegate = make_user(Role.DELEGATE)
    admin = login(make_user(Role.ADMIN))
    signed_in_delegate = login(delegate)
    response = admin.submit(
        f"/admin/users/{delegate.id}", {"role": "staff", "tier": "3", "active": "y"}
    )
    assert response.status_code == 302
    changed = _user(app, delegate.email)
    assert (changed.role, changed.support_tier) == ("staff", 3)
    admin.submit(f"/admin/users/{delegate.id}", {"role": "staff", "tier": "3"})
    assert _user(app, delegate.email).active is False
    assert signed_in_delegate.get("/account/").status_code == 302


def test_tier_is_dropped_for_non_staff(app, make_user, login):
    user = make_user(Role.STAFF, tier=1)
    admin = login(make_user(Role.ADMIN))
    admin.submit(f"/admin/users/{user.id}", {"role": "delegate", "tier": "1", "active": "y"})
    assert _user(app, user.email).support_tier is None


def test_the_last_admin_cannot_be_demoted_or_deactivated(app, make_user, login):
    only_admin = make_user(Role.ADMIN)
    client = login(only_admin)
    demote = client.submit(
        f"/admin/users/{only_admin.id}", {"role": "staff", "tier": "", "active": "y"}
    )
    assert demote.status_code == 422
    assert b"This is the only admin" in demote.data
    deactivate = client.submit(f"/admin/users/{only_admin.id}", {"role": "admin", "tier": "3"})
    assert deactivate.status_code == 422
    assert _user(app, only_admin.email).active is True


def test_user_list_filters(make_user, login):
    make_user(Role.STAFF, tier=1, name="Findable Staffer")
    make_user(Role.DELEGATE, name="Other Delegate")
    admin = login(make_user(Role.ADMIN))
    page = admin.get("/admin/users?q=findable").data
    assert b"Findable Staffer" in page
    assert b"Other Delegate" not in page
    page = admin.get("/admin/users?role=delegate").data
    assert b"Other Delegate" in page
    assert b"Findable Staffer" not in page
