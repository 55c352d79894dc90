"""Per-staff API tokens: created on the account page, shown once, revocable."""

from __future__ import annotations

import re

from portal.core.roles import Role


def test_staff_create_use_and_revoke_a_token(make_user, login):
    staff = make_user(Role.STAFF, tier=1)
    client = login(staff)
    created = client.submit("/account/tokens", {"name": "weekly report"})
    assert created.status_code == 200
    token = re.search(rb"<code>(dp0_[^<]+)</code>", created.data).group(1).decode()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).json["email"] == staff.email
    # Shown once: the list afterwards has only the prefix.
    listing = client.get("/account/tokens").data.decode()
    assert token not in listing
    assert token[:10] in listing
    token_id = re.search(r"/account/tokens/(\d+)/revoke", listing).group(1)
    client.submit(f"/account/tokens/{token_id}/revoke", form_url="/account/tokens")
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_a_token_stops_working_when_its_owner_is_no_longer_staff(app, make_user, login):
    staff = make_user(Role.STAFF, tier=1)
    token = (
        app.test_cli_runner().invoke(args=["portal", "create-token", staff.email]).output.strip()
    )
    headers = {"Authorization": f"Bearer {token}"}
    admin = login(make_user(Role.ADMIN))
    admin.submit(f"/admin/users/{staff.id}", {"role": "delegate", "tier": "", "active": "y"})
    refused = app.test_client().get("/api/v1/me", headers=headers)
    assert (refused.status_code, refused.json["reason"]) == (403, "This needs a staff account.")
    admin.submit(f"/admin/users/{staff.id}", {"role": "delegate", "tier": ""})
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 401


def test_someone_elses_token_cannot_be_revoked(app, make_user, login):
    owner = make_user(Role.STAFF, tier=1)
    app.test_cli_runner().invoke(args=["portal", "create-token", owner.email])
    other = login(make_user(Role.STAFF, tier=2))
    response = other.submit("/account/tokens/1/revoke", form_url="/account/tokens")
    assert response.status_code == 404
