"""Configuring programmes: the admin pages, the TOML file and its command, the bootstrap step
and the demo data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.core.roles import Role
from portal.extensions import db
from portal.signup.cli import DEFAULT_PROGRAMME_FILE, load_default_programme
from portal.signup.models import Application, Programme, Target, Wave


@pytest.fixture
def admin_client(make_user, login):
    return login(make_user(Role.ADMIN, tier=3))


def _programme(app, slug: str) -> Programme:
    with app.app_context():
        programme = db.session.scalar(select(Programme).where(Programme.slug == slug))
        assert programme is not None
        programme.waves  # noqa: B018 - loaded before the session closes
        programme.targets  # noqa: B018
        db.session.expunge_all()
        return programme


PROGRAMME_FORM = {
    "name": "DP0.2 delegates",
    "slug": "dp02",
    "total_capacity": "600",
    "plus_one_capacity": "40",
    "offer_lifetime_days": "5",
    "guidelines_url": "",
    "guidelines_text": "Be *kind* to the platform.",
    "accepting_applications": "y",
}


def test_admins_create_and_edit_a_programme(app, admin_client):
    bad = admin_client.submit(
        "/admin/signup/programmes/new", {**PROGRAMME_FORM, "slug": "DP 0.2", "total_capacity": "-1"}
    )
    assert bad.status_code == 422
    assert b'value="DP0.2 delegates"' in bad.data
    assert b"lower-case letters" in bad.data
    created = admin_client.submit("/admin/signup/programmes/new", PROGRAMME_FORM)
    assert created.status_code == 302
    programme = _programme(app, "dp02")
    assert (programme.total_capacity, programme.plus_one_capacity) == (600, 40)
    assert programme.offer_lifetime_hours == 120
    clash = admin_client.submit("/admin/signup/programmes/new", PROGRAMME_FORM)
    assert clash.status_code == 422
    assert b"already uses the short name" in clash.data
    url = f"/admin/signup/programmes/{programme.id}"
    assert b'value="600"' in admin_client.get(url).data
    admin_client.submit(url, {**PROGRAMME_FORM, "total_capacity": "900"})
    assert _programme(app, "dp02").total_capacity == 900


def test_waves_are_set_in_the_portals_timezone(app, admin_client, make_programme):
    app.config["PORTAL_TIMEZONE"] = "America/Santiago"
    programme = make_programme()
    url = f"/admin/signup/programmes/{programme.id}/waves/new"
    form = {
        "name": "Second wave",
        "slug": "second-wave",
        "opens_at": "2021-07-01T09:00",
        "closes_at": "2021-06-30T09:00",
        "capacity": "200",
        "mode": "cohort",
        "carry_over_waitlist": "y",
    }
    backwards = admin_client.submit(url, form)
    assert backwards.status_code == 422
    assert b"must close after it opens" in backwards.data
    assert admin_client.submit(url, {**form, "closes_at": ""}).status_code == 302
    with app.app_context():
        wave = db.session.scalar(select(Wave).where(Wave.slug == "second-wave"))
        # 09:00 in Santiago in July (UTC-4) is 13:00 UTC.
        assert wave.opens_at == datetime(2021, 7, 1, 13, 0, tzinfo=UTC)
        assert wave.closes_at is None
        wave_id = wave.id
    assert b'value="2021-07-01T09:00"' in admin_client.get(f"/admin/signup/waves/{wave_id}").data


def test_capacities_cannot_go_below_the_seats_taken(
    app, admin_client, make_programme, apply_confirmed
):
    programme = make_programme(capacity=3, mode="fcfs", total=10)
    for n in range(3):
        apply_confirmed(programme, n)
    wave_url = f"/admin/signup/waves/{programme.wave_id}"
    page = admin_client.get(wave_url).data.decode()
    assert 'value="3"' in page
    refused = admin_client.submit(
        wave_url,
        {
            "name": "Wave 1",
            "slug": "wave-1",
            "opens_at": "2020-01-01T00:00",
            "capacity": "2",
            "mode": "fcfs",
        },
    )
    assert refused.status_code == 422
    assert b"3 seats are already taken" in refused.data
    programme_url = f"/admin/signup/programmes/{programme.id}"
    refused = admin_client.submit(
        programme_url, {**PROGRAMME_FORM, "slug": programme.slug, "total_capacity": "2"}
    )
    assert refused.status_code == 422
    assert b"total capacity cannot be 2" in refused.data


def test_targets_are_percentages_that_add_up(app, admin_client, make_programme):
    programme = make_programme()
    url = f"/admin/signup/programmes/{programme.id}/targets"
    too_much = admin_client.submit(
        url,
        {
            "target__career_stage__graduate": "60",
            "target__career_stage__postdoc": "50",
            **{f"weight__{a}": "1" for a in ["sc_member", "science_collaboration", "career_stage",
                                             "institution_type", "region", "experience",
                                             "preferred_language", "data_rights"]},
        },
    )  # fmt: skip
    assert too_much.status_code == 422
    assert b"add up to 110%" in too_much.data
    weights = {
        f"weight__{a}": "1"
        for a in ["sc_member", "science_collaboration", "career_stage", "institution_type",
                  "region", "experience", "preferred_language", "data_rights"]
    }  # fmt: skip
    saved = admin_client.submit(
        url,
        {
            **weights,
            "weight__sc_member": "2",
            "target__sc_member__yes": "40",
            "target__science_collaboration__desc": "60",
            "target__science_collaboration__tvs": "60",  # several values: may pass 100 %
        },
    )
    assert saved.status_code == 302
    programme_row = _programme(app, programme.slug)
    assert {(t.attribute, t.value, t.fraction) for t in programme_row.targets} == {
        ("sc_member", "yes", 0.4),
        ("science_collaboration", "desc", 0.6),
        ("science_collaboration", "tvs", 0.6),
    }
    assert programme_row.target_weights == {"sc_member": 2.0}
    assert b'value="40.0"' in admin_client.get(url).data


def test_the_shipped_dp0_file_loads_and_loading_again_changes_nothing(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["signup", "load-config", str(DEFAULT_PROGRAMME_FILE)])
    assert first.exit_code == 0, first.output
    assert "created programme dp0" in first.output
    again = runner.invoke(args=["signup", "load-config", str(DEFAULT_PROGRAMME_FILE)])
    assert again.exit_code == 0, again.output
    assert "updated programme dp0" in again.output
    programme = _programme(app, "dp0")
    assert programme.total_capacity == 300
    assert [(w.slug, w.capacity, w.mode) for w in programme.waves] == [
        ("first-wave", 100, "cohort")
    ]
    assert programme.offer_lifetime_hours == 7 * 24
    assert ("sc_member", "yes", 0.4) in {
        (t.attribute, t.value, t.fraction) for t in programme.targets
    }
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Target)) == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("this is not toml = = =", "not valid TOML"),
        ("[other]\nx = 1\n", "needs a [programme] table"),
        ('[programme]\nslug = "p"\n', "total_capacity is missing"),
        ('[programme]\nslug = "p"\ntotal_capacity = "many"\n', "whole number"),
        (
            '[programme]\nslug = "p"\ntotal_capacity = 5\n[[waves]]\nslug = "w"\ncapacity = 1\n'
            'mode = "lottery"\n',
            "Unknown admission mode",
        ),
        ('[programme]\nslug = "p"\ntotal_capacity = 5\n[targets.region]\nmars = 0.5\n', "mars"),
    ],
)
def test_a_bad_programme_file_is_refused_with_a_reason(app, tmp_path: Path, text, message):
    path = tmp_path / "programme.toml"
    path.write_text(text)
    result = app.test_cli_runner().invoke(args=["signup", "load-config", str(path)])
    assert result.exit_code != 0
    assert message in result.output
    with app.app_context():
        assert db.session.scalar(select(Programme.id)) is None


def test_bootstrap_loads_dp0_only_into_a_portal_without_a_programme(app):
    with app.app_context():
        lines = load_default_programme()
        assert lines[0] == "sign-up: created programme dp0 (Data Preview 0 delegates)"
        assert load_default_programme() == []


def test_demo_data_fills_every_state_once(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["portal", "seed-demo"])
    assert first.exit_code == 0, first.output
    assert "demo applications in Data Preview 0 delegates" in first.output
    with app.app_context():
        made = db.session.scalar(select(func.count()).select_from(Application))
        used = set(db.session.scalars(select(Application.state)))
        programme = db.session.scalar(select(Programme).where(Programme.slug == "dp0"))
        assert [w.slug for w in programme.waves] == ["first-wave", "second-wave"]
    assert made > 300
    assert used == {
        "unverified", "pending", "waitlisted", "offered", "admitted", "declined",
        "offer_expired", "rejected", "withdrawn",
    }  # fmt: skip
    second = runner.invoke(args=["portal", "seed-demo"])
    assert second.exit_code == 0, second.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Application)) == made
    # The demo is consistent with the rules: the worker finds nothing to fix.
    result = runner.invoke(args=["signup", "run-jobs"])
    assert result.exit_code == 0
    assert "offered: 0" in result.output
    assert "expired: 0" in result.output
