"""The audit log: each audited action leaves one entry (who, when, what, before and after, from
where) when driven through the real pages, and admins filter, page through and export it."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.audit import AuditAction, purge_audit_before, record_audit
from portal.audit.models import AuditEntry
from portal.auth import services as auth_services
from portal.auth.models import User
from portal.core.db import transaction, utcnow
from portal.core.roles import Role
from portal.core.templating import to_local
from portal.extensions import db
from portal.outbox import enqueue
from portal.signup.attributes import ATTRIBUTES
from tests.conftest import deliver_outbox

A = AuditAction


def _wave_form(app, opens_at: datetime, **overrides: str) -> dict[str, str]:
    """The wave form as the admin page shows it for make_programme's first wave."""
    with app.app_context():
        local = to_local(opens_at)
    assert local is not None
    return {
        "name": "Wave 1",
        "slug": "wave-1",
        "opens_at": local.strftime("%Y-%m-%dT%H:%M"),
        "closes_at": "",
        "capacity": "3",
        "mode": "reviewed",
        "carry_over_waitlist": "y",
        **overrides,
    }


def test_a_role_change_on_the_admin_user_page_is_recorded_with_before_and_after(
    app, make_user, login, entries
):
    delegate = make_user(Role.DELEGATE)
    admin_user = make_user(Role.ADMIN)
    admin = login(admin_user)
    url = f"/admin/users/{delegate.id}"

    assert admin.submit(url, {"role": "staff", "tier": "2", "active": "y"}).status_code == 302
    (entry,) = entries(A.ROLE_CHANGED)
    assert entry.target == f"user:{delegate.id}"
    assert entry.actor_id == admin_user.id
    assert entry.remote_addr == "127.0.0.1"
    assert entry.before == {"role": "delegate", "support_tier": None}
    assert entry.after == {"role": "staff", "support_tier": 2}
    assert abs(entry.at - utcnow()) < timedelta(minutes=1)

    # Saving the page unchanged changes nothing, so it records nothing.
    admin.submit(url, {"role": "staff", "tier": "2", "active": "y"})
    assert len(entries(A.ROLE_CHANGED)) == 1

    admin.submit(url, {"role": "staff", "tier": "3"})
    (tier_change,) = entries(A.ROLE_CHANGED)[1:]
    assert (tier_change.before, tier_change.after) == ({"support_tier": 2}, {"support_tier": 3})
    (deactivated,) = entries(A.ACCOUNT_DEACTIVATED)
    assert (deactivated.before, deactivated.after) == ({"active": True}, {"active": False})
    admin.submit(url, {"role": "staff", "tier": "3", "active": "y"})
    (activated,) = entries(A.ACCOUNT_ACTIVATED)
    assert activated.target == f"user:{delegate.id}"


def test_a_refused_change_leaves_no_entry(app, make_user, login, entries):
    only_admin = make_user(Role.ADMIN)
    admin = login(only_admin)
    response = admin.submit(f"/admin/users/{only_admin.id}", {"role": "staff", "active": "y"})
    assert response.status_code == 422
    assert entries(A.ROLE_CHANGED) == []


def test_inviting_staff_is_recorded(app, make_user, login, entries):
    admin_user = make_user(Role.ADMIN)
    admin = login(admin_user)
    admin.submit(
        "/admin/users/new",
        {"full_name": "Tier Two", "email": "t2@example.org", "role": "staff", "tier": "2"},
    )
    invited = entries(A.ACCOUNT_CREATED)[-1]
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.email == "t2@example.org"))
    assert invited.target == f"user:{user_id}"
    assert invited.actor_id == admin_user.id
    assert invited.before is None
    assert invited.after == {"role": "staff", "support_tier": 2}


def test_programme_wave_and_target_changes_on_the_admin_pages_are_recorded(
    app, make_user, login, make_programme, apply_confirmed, entries
):
    opens = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
    programme = make_programme(capacity=3, mode="reviewed", opens=opens)
    admin_user = make_user(Role.ADMIN)
    admin = login(admin_user)
    made = entries(A.WAVE_CREATED)[-1]
    assert made.actor_id is None  # made by a fixture, outside any request
    assert made.after["capacity"] == 3
    assert made.after["opens_at"] == "2026-03-02T17:00:00+00:00"

    wave_url = f"/admin/signup/waves/{programme.wave_id}"
    response = admin.submit(wave_url, _wave_form(app, opens, capacity="10"))
    assert response.status_code == 302
    (changed,) = entries(A.WAVE_CHANGED)
    assert changed.target == f"wave:{programme.wave_id}"
    assert changed.actor_id == admin_user.id
    # Only what changed: the opening time went through the form and came back the same.
    assert (changed.before, changed.after) == ({"capacity": 3}, {"capacity": 10})

    # Below the seats already taken the page refuses, and the log stays as it was.
    ids = [apply_confirmed(programme, n) for n in (1, 2)]
    admin.submit(
        f"/staff/signup/applications?programme={programme.id}",
        {"ids": [str(i) for i in ids], "action": "admit", "reason": "Round 1"},
    )
    refused = admin.submit(wave_url, _wave_form(app, opens, capacity="1"))
    assert refused.status_code == 422
    assert len(entries(A.WAVE_CHANGED)) == 1

    programme_url = f"/admin/signup/programmes/{programme.id}"
    admin.submit(
        programme_url,
        {
            "name": "<b>DP0</b> & friends",
            "slug": programme.slug,
            "total_capacity": "250",
            "plus_one_capacity": "2",
            "guidelines_url": "",
            "guidelines_text": "",
            "offer_lifetime_days": "7",
            "accepting_applications": "y",
        },
    )
    (programme_change,) = entries(A.PROGRAMME_CHANGED)
    assert programme_change.before == {"name": "Programme 1", "total_capacity": 300}
    assert programme_change.after == {"name": "<b>DP0</b> & friends", "total_capacity": 250}

    weights = {f"weight__{name}": "1" for name in ATTRIBUTES}
    admin.submit(
        f"/admin/signup/programmes/{programme.id}/targets",
        {**weights, "target__career_stage__graduate": "60", "weight__career_stage": "2"},
    )
    (targets,) = entries(A.TARGETS_CHANGED)
    assert targets.target == f"programme:{programme.id}"
    assert targets.before == {"targets": {}, "weights": {}}
    assert targets.after == {
        "targets": {"career_stage=graduate": 0.6},
        "weights": {"career_stage": 2.0},
    }


def test_bulk_decisions_and_closing_the_waitlist_are_recorded(
    app, make_user, login, make_programme, apply_confirmed, entries
):
    programme = make_programme(capacity=2, mode="reviewed")
    ids = [apply_confirmed(programme, n) for n in range(1, 5)]
    admin_user = make_user(Role.ADMIN)
    admin = login(admin_user)
    url = f"/staff/signup/applications?programme={programme.id}&sort=verified"
    admin.submit(url, {"ids": [str(i) for i in ids[:3]], "action": "admit", "reason": "Round 1"})

    (decision,) = entries(A.BULK_DECISION)
    assert decision.target == f"programme:{programme.id}"
    assert decision.actor_id == admin_user.id
    assert decision.before == {"states": {str(ids[0]): "pending", str(ids[1]): "pending"}}
    assert decision.after == {
        "action": "admit",
        "states": {str(ids[0]): "admitted", str(ids[1]): "admitted"},
        "not_fitted": [ids[2]],
        "skipped": [],
    }

    admin.submit(url, {"ids": [str(i) for i in ids[2:]], "action": "waitlist", "reason": "Later"})
    admin.submit(url, {"ids": [str(ids[0])], "action": "undo", "reason": "Oops"})
    waitlisted, undone = entries(A.BULK_DECISION)[1:]
    assert waitlisted.after["states"] == {str(ids[2]): "waitlisted", str(ids[3]): "waitlisted"}
    assert undone.before == {"states": {str(ids[0]): "admitted"}}
    assert undone.after["action"] == "undo"

    dashboard = f"/staff/signup/?programme={programme.id}"
    admin.submit(
        f"/staff/signup/programmes/{programme.id}/close-waitlist",
        {"reason": "The programme is full", "confirm": "y"},
        form_url=dashboard,
    )
    (closed,) = entries(A.WAITLIST_CLOSED)
    assert closed.before == {"waitlisted": sorted(ids[2:])}
    assert closed.after == {"rejected": 2}
    # The free text (the reason) stays with the applications' own trail, not in the log.
    assert "Round 1" not in json.dumps([decision.before, decision.after])


def test_every_export_of_delegates_is_recorded(
    app, make_user, login, make_programme, apply_confirmed, client, entries
):
    programme = make_programme(capacity=5, mode="fcfs")
    apply_confirmed(programme, 1)
    apply_confirmed(programme, 2)
    staff_user = make_user(Role.ADMIN)
    staff = login(staff_user)
    assert staff.get(f"/staff/signup/programmes/{programme.id}/delegates.csv").status_code == 200
    assert staff.get(f"/staff/signup/programmes/{programme.id}/delegates.json").status_code == 200
    with app.app_context():
        token = auth_services.create_api_token(db.session.get(User, staff_user.id), "export")
    headers = {"Authorization": f"Bearer {token}"}
    api = client.get(f"/api/v1/signup/programmes/{programme.id}/delegates", headers=headers)
    assert api.status_code == 200
    listed = client.get(f"/api/v1/signup/programmes/{programme.id}/applications", headers=headers)
    assert listed.status_code == 200

    exports = entries(A.DELEGATES_EXPORTED)
    assert [e.after for e in exports] == [
        {"format": "csv", "delegates": 2},
        {"format": "json", "delegates": 2},
        {"format": "api", "delegates": 2},
    ]
    assert {e.target for e in exports} == {f"programme:{programme.id}"}
    # The API is signed in by token: its owner is the actor.
    assert {e.actor_id for e in exports} == {staff_user.id}
    (page_read,) = entries(A.APPLICATIONS_EXPORTED)
    assert page_read.actor_id == staff_user.id
    assert page_read.after == {"page": 1, "per_page": 50, "applications": 2}


def test_tier_settings_saved_on_the_admin_page_are_recorded(app, make_user, login, entries):
    admin_user = make_user(Role.ADMIN)
    admin = login(admin_user)
    form = {
        "slack_channel_id": "C0SERVICE",
        "timezone": "Europe/Paris",
        "holiday_country": "",
        "holiday_subdivision": "",
        "closed_dates": "",
        "warning_minutes": "45",
        **dict.fromkeys(("monday", "tuesday", "wednesday", "thursday", "friday"), "09:00-17:00"),
        "saturday": "",
        "sunday": "",
    }
    for priority in ("low", "normal", "high", "urgent"):
        for target in ("first_response", "update", "resolution"):
            form[f"sla_{priority}_{target}"] = "120"
    assert admin.submit("/staff/tickets/tiers/2", form).status_code == 302
    (saved,) = entries(A.TIER_SETTINGS_CHANGED)
    assert saved.target == "tier:2"
    assert saved.actor_id == admin_user.id
    assert saved.after["slack_channel_id"] == "C0SERVICE"
    assert saved.before["slack_channel_id"] is None
    assert saved.after["timezone"] == "Europe/Paris"
    assert saved.before["timezone"] != "Europe/Paris"
    assert saved.after["warning_minutes"] == 45
    assert saved.after["weekly_hours"][0] == [[540, 1020]]
    assert saved.after["sla_minutes"]["urgent"]["resolution"] == 120

    assert admin.submit("/staff/tickets/tiers/2", form).status_code == 302
    assert len(entries(A.TIER_SETTINGS_CHANGED)) == 1


def test_retrying_a_dead_outbox_message_is_recorded(app, make_user, login, entries):
    with app.app_context(), transaction():
        message = enqueue("email", "send", {"to": "x@example.org", "subject": "s"})
        message.state = "dead"
        message.attempts = 8
        message_id = message.id
    admin_user = make_user(Role.ADMIN)
    admin = login(admin_user)
    response = admin.submit(f"/admin/outbox/{message_id}/retry", form_url="/admin/outbox")
    assert response.status_code == 302
    (retried,) = entries(A.OUTBOX_RETRIED)
    assert retried.target == f"outbox_message:{message_id}"
    assert retried.actor_id == admin_user.id
    assert retried.before == {"state": "dead", "attempts": 8}
    assert retried.after == {"state": "pending", "also_queued": []}
    deliver_outbox(app)


@pytest.mark.parametrize("app_config", [{"PORTAL_PROXY_HOPS": 1}])
def test_behind_a_proxy_the_clients_own_address_is_recorded(app, make_user, login, entries):
    delegate = make_user(Role.DELEGATE)
    admin = login(make_user(Role.ADMIN))
    admin.submit(
        f"/admin/users/{delegate.id}",
        {"role": "staff", "active": "y"},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    (entry,) = entries(A.ROLE_CHANGED)
    assert entry.remote_addr == "203.0.113.9"


# --- the admins' page ----------------------------------------------------------------------------


def test_admins_filter_the_log_by_action_actor_target_and_dates(app, make_user, login):
    first = make_user(Role.ADMIN, email="ada@example.org")
    second = make_user(Role.ADMIN, email="grace@example.org")
    admin = login(first)
    delegate = make_user(Role.DELEGATE)
    admin.submit(f"/admin/users/{delegate.id}", {"role": "staff", "active": "y"})
    admin.submit(f"/admin/users/{delegate.id}", {"role": "staff"})
    with app.app_context(), transaction() as session:
        deactivation = session.scalars(
            select(AuditEntry).where(AuditEntry.action == A.ACCOUNT_DEACTIVATED)
        ).one()
        deactivation.at = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
        deactivation.actor_id = second.id

    everything = admin.get("/admin/audit/").data.decode()
    assert "Role or tier changed" in everything
    assert "Account deactivated" in everything
    assert f"user:{delegate.id}" in everything
    assert delegate.email in everything  # the target account, named
    assert "ada@example.org" in everything  # who acted

    def shown(query: str) -> set[str]:
        response = admin.get("/admin/audit/?" + query)
        assert response.status_code == 200, response.data[:500]
        body = response.data.decode()
        return {action.label for action in A if f'<td data-label="Action">{action.label}' in body}

    assert shown("action=user.deactivated") == {"Account deactivated"}
    assert shown("actor=grace") == {"Account deactivated"}
    assert shown("actor=ADA@example") >= {"Role or tier changed"}
    assert "Account deactivated" not in shown("actor=ada")
    assert shown(f"target=user:{delegate.id}") == {"Role or tier changed", "Account deactivated"}
    assert shown("target=wave:") == set()
    assert shown("since=2026-01-10&until=2026-01-10") == {"Account deactivated"}
    assert shown("until=2026-01-09") == set()
    assert "Account deactivated" not in shown("since=2026-01-11")

    backwards = admin.get("/admin/audit/?since=2026-02-01&until=2026-01-01")
    assert backwards.status_code == 422
    assert b"The end date is before the start date." in backwards.data
    assert b'value="2026-02-01"' in backwards.data
    assert admin.get("/admin/audit/?action=user.nothing").status_code == 422
    assert admin.get("/admin/audit/?since=yesterday").status_code == 422


def test_the_log_is_paginated_within_the_request_limits(app, make_user, login):
    admin_user = make_user(Role.ADMIN)
    with app.app_context(), transaction() as session:
        session.add_all(
            AuditEntry(at=utcnow(), action=A.WAVE_CHANGED, target=f"wave:{n}") for n in range(60)
        )
    admin = login(admin_user)
    first = admin.get("/admin/audit/?action=wave.changed").data.decode()
    assert "60 entries" in first
    assert "wave:59" in first
    assert "wave:0<" not in first
    second = admin.get("/admin/audit/?action=wave.changed&page=2").data.decode()
    assert "wave:0<" in second
    assert "wave:59" not in second
    assert "No entries match." in admin.get("/admin/audit/?page=3").data.decode()
    assert admin.get("/admin/audit/?page=9223372036854775807").status_code == 404
    assert admin.get("/admin/audit/?target=a%00b").status_code == 400


def test_recorded_values_are_escaped_on_the_page(app, make_user, login, make_programme):
    programme = make_programme()
    admin = login(make_user(Role.ADMIN))
    with app.app_context(), transaction():
        record_audit(
            A.PROGRAMME_CHANGED,
            target=f"programme:{programme.id}",
            before={"name": "<script>alert(1)</script>"},
            after={"name": "<img src=x onerror=alert(2)>"},
        )
    body = admin.get("/admin/audit/").data.decode()
    assert "<script>alert(1)" not in body
    assert "<img src=x" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&lt;img src=x onerror=alert(2)&gt;" in body
    assert f'href="/admin/signup/programmes/{programme.id}"' in body


def test_the_log_exports_as_csv_with_a_bom_and_as_json_and_the_export_is_recorded(
    app, make_user, login, entries
):
    admin_user = make_user(Role.ADMIN, email="ada@example.org")
    admin = login(admin_user)
    delegate = make_user(Role.DELEGATE)
    admin.submit(f"/admin/users/{delegate.id}", {"role": "staff", "tier": "1", "active": "y"})
    with app.app_context(), transaction() as session:
        session.add(AuditEntry(at=utcnow(), action="=cmd|' /C calc'!A0", target="@evil"))

    response = admin.get("/admin/audit/export.csv?action=user.role")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="audit-log-')
    assert response.data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    (row,) = rows
    assert row["action"] == "user.role"
    assert row["target"] == f"user:{delegate.id}"
    assert row["actor"] == "ada@example.org"
    assert row["actor_id"] == str(admin_user.id)
    assert row["address"] == "127.0.0.1"
    assert json.loads(row["before"]) == {"role": "delegate", "support_tier": None}
    assert json.loads(row["after"]) == {"role": "staff", "support_tier": 1}

    so_far = len(entries())
    everything = admin.get("/admin/audit/export.csv").data.decode("utf-8-sig")
    odd = next(r for r in csv.DictReader(io.StringIO(everything)) if "calc" in r["action"])
    assert odd["action"].startswith("'=")  # a spreadsheet shows it, does not run it
    assert odd["target"] == "'@evil"
    assert odd["actor"] == "system (worker or command line)"

    exported = admin.get("/admin/audit/export.json?action=user.role")
    assert exported.status_code == 200
    assert "attachment" in exported.headers["Content-Disposition"]
    (item,) = exported.get_json()["entries"]
    assert item["after"] == {"role": "staff", "support_tier": 1}
    assert item["actor"] == "ada@example.org"

    recorded = entries(A.AUDIT_EXPORTED)
    assert [(e.after["format"], e.after["entries"]) for e in recorded] == [
        ("csv", 1),
        ("csv", so_far),
        ("json", 1),
    ]
    assert recorded[0].after["filters"]["action"] == "user.role"
    by_actor = admin.get("/admin/audit/export.json?actor=ADA@example.org")
    assert {e["action"] for e in by_actor.get_json()["entries"]} == {"user.role", "export.audit"}
    # What was typed to find the actor is kept as the accounts it matched, not as text.
    assert entries(A.AUDIT_EXPORTED)[-1].after["filters"]["actor"] == [admin_user.id]
    assert {e.actor_id for e in recorded} == {admin_user.id}
    backwards = admin.get("/admin/audit/export.json?until=2020-01-01&since=2021-01-01")
    assert backwards.status_code == 422


def test_an_erased_or_renamed_actor_is_named_as_the_account_is_now(app, make_user, login):
    admin_user = make_user(Role.ADMIN, email="ada@example.org")
    admin = login(admin_user)
    delegate = make_user(Role.DELEGATE)
    admin.submit(f"/admin/users/{delegate.id}", {"role": "staff", "active": "y"})
    with app.app_context(), transaction() as session:
        account = session.get(User, admin_user.id)
        assert account is not None
        account.email = "erased-7f3a@erased.invalid"
        stored = session.execute(select(AuditEntry.before, AuditEntry.after)).all()
    body = admin.get("/admin/audit/?action=user.role").data.decode()
    assert "erased-7f3a@erased.invalid" in body
    assert "ada@example.org" not in body
    # The log itself holds no email address to erase.
    assert "ada@example.org" not in json.dumps([list(row) for row in stored])


def test_purging_removes_only_entries_older_than_the_cutoff(app, entries):
    with app.app_context(), transaction() as session:
        for days in (400, 200, 10):
            session.add(
                AuditEntry(
                    at=utcnow() - timedelta(days=days), action=A.WAVE_CHANGED, target=f"wave:{days}"
                )
            )
    with app.app_context():
        assert purge_audit_before(utcnow() - timedelta(days=180)) == 2
        assert purge_audit_before(utcnow() - timedelta(days=180)) == 0
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 1
    assert [e.target for e in entries()] == ["wave:10"]
