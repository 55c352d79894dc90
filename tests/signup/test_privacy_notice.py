"""The privacy notice: what the form says beside each group of fields, the version an applicant
accepts, optional cohort questions, editing and publishing versions (in the portal and from the
programme file), and a changed notice shown to delegates and applicants until they have read
it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.core.roles import Role
from portal.extensions import db
from portal.signup import applying, privacy, programmes, queries
from portal.signup.cli import load_default_programme
from portal.signup.errors import InvalidConfig, NotAllowed
from portal.signup.models import Application, ApplicationEvent, EventKind, PrivacyNotice
from portal.signup.privacy import NoticeFields
from tests.signup.conftest import application_input, form_data, status_token

PURPOSES = {
    "admission": "Read by reviewers; answers erased {applicant_retention_days} days after.",
    "cohort": "Only for a balanced cohort.",
    "provisioning": "Your GitHub account joins the team.",
    "support": "To answer your tickets.",
}


def _application(app, email: str) -> Application:
    with app.app_context():
        found = db.session.scalar(select(Application).where(Application.email == email))
        assert found is not None
        db.session.expunge(found)
        return found


def _publish(app, programme_id: int, body: str, changes: str, **purposes: str) -> int:
    with app.app_context():
        notice = privacy.save_notice(
            programme_id,
            NoticeFields(body=body, purposes={**PURPOSES, **purposes}, changes=changes),
            publish=True,
        )
        return notice.version


def _words(body: bytes | str) -> str:
    """A page's text with runs of white space made one space (Markdown keeps line breaks)."""
    text = body.decode() if isinstance(body, bytes) else body
    return " ".join(text.split())


def _hidden_version(body: str) -> str:
    match = re.search(r'name="privacy_notice_version" type="hidden" value="(\d+)"', body)
    assert match, "the form carries the notice version it shows"
    return match.group(1)


@pytest.fixture
def programme_staff(make_user, login):
    return login(make_user(Role.STAFF, email="runner@example.org"))


# --- the form -----------------------------------------------------------------------------------


def test_the_form_says_what_each_group_is_for_and_records_the_accepted_version(
    app, client, make_programme
):
    programme = make_programme(mode="reviewed")
    page = client.get("/signup/").data.decode()
    # The shipped notice's texts, beside their groups, with the configured retention period.
    assert "Used only to choose a balanced cohort" in _words(page)
    assert "erased 180 days after the programme closes" in _words(page)
    assert "{applicant_retention_days}" not in page
    assert "Your GitHub account is added to the DP0 team" in _words(page)
    assert "let us write to you and answer your help-desk" in _words(page)
    assert f'href="/signup/privacy/{programme.slug}"' in page
    assert _hidden_version(page) == "1"

    refused = client.submit("/signup/", form_data(1, accept_privacy=""))
    assert refused.status_code == 422
    assert b"Please accept the privacy notice to apply." in refused.data
    assert b'value="Person 1"' in refused.data

    assert client.submit("/signup/", form_data(1, privacy_notice_version="1")).status_code == 200
    application = _application(app, "person1@example.org")
    assert application.privacy_notice_version == 1
    assert application.privacy_accepted_at is not None
    status = client.get(f"/signup/status/{status_token(app, application.id)}").data.decode()
    assert f'href="/signup/privacy/{programme.slug}/1">Version 1</a>, accepted' in status


def test_the_notice_says_the_retention_periods_the_portal_is_configured_with(
    app, client, make_programme
):
    programme = make_programme()
    app.config.update(
        PRIVACY_RETENTION_APPLICANT_DAYS=90,
        PRIVACY_RETENTION_ATTACHMENT_DAYS=400,
        PRIVACY_RETENTION_OUTBOX_BODY_DAYS=14,
    )
    notice = _words(client.get(f"/signup/privacy/{programme.slug}").data)
    assert "erased 90 days after the programme closes" in notice
    assert "deleted 400 days after the ticket is closed" in notice
    assert "deleted 14 days after it is delivered" in notice
    assert "erased 90 days after the programme closes" in _words(client.get("/signup/").data)


def test_a_notice_published_while_the_form_was_open_is_accepted_anew(app, client, make_programme):
    programme = make_programme(mode="reviewed")
    shown = _hidden_version(client.get("/signup/").data.decode())
    assert _publish(app, programme.id, "We now also keep X.", "We keep X now.") == 2
    stale = client.submit("/signup/", form_data(1, privacy_notice_version=shown))
    assert stale.status_code == 422
    body = stale.data.decode()
    assert "The privacy notice changed while you filled in the form" in body
    assert _hidden_version(body) == "2"
    assert not re.search(r'id="accept_privacy"[^>]*checked', body)
    assert 'value="Person 1"' in body
    assert client.submit("/signup/", form_data(1, privacy_notice_version="2")).status_code == 200
    assert _application(app, "person1@example.org").privacy_notice_version == 2


def test_cohort_questions_are_optional_unless_the_programme_requires_them(
    app, client, make_programme, programme_staff
):
    programme = make_programme(mode="reviewed")
    page = client.get("/signup/").data.decode()
    for label in ["Type of institution", "Country where you work", "Career stage"]:
        assert f"{label} (optional)" in page
    assert "are optional: leaving them out does not count against you" in page
    unanswered = {"institution_type": "", "country": "", "career_stage": ""}
    assert client.submit("/signup/", form_data(1, **unanswered)).status_code == 200
    application = _application(app, "person1@example.org")
    assert (application.institution_type, application.country, application.career_stage) == (
        "",
        "",
        "",
    )

    required_by = programme_staff.submit(
        f"/admin/signup/programmes/{programme.id}",
        {
            "name": "Programme 1",
            "slug": programme.slug,
            "total_capacity": "300",
            "plus_one_capacity": "2",
            "offer_lifetime_days": "7",
            "accepting_applications": "y",
            "cohort_attributes_required": "y",
        },
    )
    assert required_by.status_code == 302
    required = client.get("/signup/").data.decode()
    for label in ["Type of institution", "Country where you work", "Career stage"]:
        assert f"{label} (optional)" not in required
    assert "are optional: leaving them out" not in required
    refused = client.submit("/signup/", form_data(2, **unanswered))
    assert refused.status_code == 422
    for name in unanswered:
        assert f'id="{name}-error"' in refused.data.decode()
    # The service itself holds the rule, for callers that show no form.
    with app.app_context(), pytest.raises(NotAllowed) as refusal:
        applying.submit_application(programme.id, application_input(3, country=""), None)
    assert refusal.value.field == "country"


def test_an_application_without_cohort_answers_shows_on_every_staff_page(
    app, client, make_programme, apply_confirmed, make_user, login
):
    programme = make_programme(mode="cohort", targets={("region", "africa"): 0.5})
    apply_confirmed(programme, 1, institution_type="", country="", career_stage="")
    staff = login(make_user(Role.STAFF))
    with app.app_context():
        application_id = db.session.scalar(select(Application.id))
    for path in [
        f"/staff/signup/?programme={programme.id}",
        f"/staff/signup/applications?programme={programme.id}",
        f"/staff/signup/applications/{application_id}",
        f"/staff/signup/waves/{programme.wave_id}/cohort",
    ]:
        response = staff.get(path)
        assert response.status_code == 200, path
    detail = staff.get(f"/staff/signup/applications/{application_id}").data.decode()
    assert "not given" in detail


# --- editing and publishing ---------------------------------------------------------------------


def test_programme_staff_draft_and_publish_a_new_version(
    app, client, make_programme, programme_staff
):
    programme = make_programme()
    url = f"/admin/signup/programmes/{programme.id}/privacy"
    page = programme_staff.get(url)
    assert page.status_code == 200
    assert "Version 1 is in force" in page.data.decode()
    fields = {
        "body": "## New\n\nWe keep <script>alert(1)</script> **less**.",
        **{f"purpose_{name}": text for name, text in PURPOSES.items()},
        "changes": "",
    }
    saved = programme_staff.submit(url, {**fields, "action": "save"})
    assert saved.status_code == 302
    # A draft is nobody's notice yet.
    assert b"We keep" not in client.get(f"/signup/privacy/{programme.slug}").data
    assert _hidden_version(client.get("/signup/").data.decode()) == "1"

    no_changes = programme_staff.submit(url, {**fields, "action": "publish"})
    assert no_changes.status_code == 422
    assert b"Say what changed" in no_changes.data
    assert b"&lt;script&gt;" in no_changes.data  # what was typed, kept and escaped

    published = programme_staff.submit(
        url, {**fields, "changes": "We keep *less*.", "action": "publish"}
    )
    assert published.status_code == 302
    public = client.get(f"/signup/privacy/{programme.slug}").data.decode()
    assert "Version 2, published" in public
    assert "<strong>less</strong>" in public
    assert "<em>less</em>" in public
    assert "<script>" not in public
    assert "Read by reviewers; answers erased 180 days after." in public
    assert client.get(f"/signup/privacy/{programme.slug}/1").status_code == 200
    assert _hidden_version(client.get("/signup/").data.decode()) == "2"

    again = programme_staff.submit(
        url, {**fields, "changes": "Nothing, really.", "action": "publish"}
    )
    assert again.status_code == 422
    assert b"says the same as version 2" in again.data
    with app.app_context():
        entries = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "privacy.notice")
        ).all()
        assert [(e.target, e.before, e.after) for e in entries] == [
            (f"programme:{programme.id}", None, {"version": 1}),
            (f"programme:{programme.id}", {"version": 1}, {"version": 2}),
        ]


def test_a_purpose_left_empty_is_refused_beside_its_field(app, make_programme, programme_staff):
    programme = make_programme()
    url = f"/admin/signup/programmes/{programme.id}/privacy"
    fields = {
        "body": "Notice.",
        **{f"purpose_{name}": text for name, text in PURPOSES.items()},
        "purpose_cohort": "   ",
        "changes": "Shorter.",
        "action": "publish",
    }
    refused = programme_staff.submit(url, fields)
    assert refused.status_code == 422
    assert 'id="purpose_cohort-error"' in refused.data.decode()


def _programme_file(tmp_path: Path, notice: str, changes: str = "") -> Path:
    purposes = "\n".join(f'{name} = "{text}"' for name, text in PURPOSES.items())
    path = tmp_path / "programme.toml"
    path.write_text(
        f"""
[programme]
slug = "filed"
name = "Filed programme"
total_capacity = 10

[privacy]
changes = "{changes}"
notice = \"\"\"{notice}\"\"\"

[privacy.purposes]
{purposes}
"""
    )
    return path


def test_the_programme_file_sets_the_first_notice_and_publishes_a_changed_one(app, tmp_path):
    with app.app_context():
        first = programmes.load_config(_programme_file(tmp_path, "From the file."))
        programme = queries.programme_by_slug("filed")
        assert programme is not None
        notice = privacy.published_notice(programme.id)
        assert notice is not None
        assert (notice.version, notice.body) == (1, "From the file.\n")
        assert notice.purposes["cohort"] == "Only for a balanced cohort."
        assert len(first) == 1  # the programme; its notice came with it
        again = programmes.load_config(_programme_file(tmp_path, "From the file."))
        assert "privacy notice version 1 unchanged" in again
        with pytest.raises(InvalidConfig, match="say what changed"):
            programmes.load_config(_programme_file(tmp_path, "Changed in the file."))
        changed = programmes.load_config(
            _programme_file(tmp_path, "Changed in the file.", changes="A new paragraph.")
        )
        assert "published privacy notice version 2" in changed
        newest = privacy.published_notice(programme.id)
        assert newest is not None
        assert (newest.version, newest.changes) == (2, "A new paragraph.")


def test_the_shipped_programme_file_carries_a_notice_for_every_purpose(app):
    notice = programmes.default_notice()
    assert set(notice.purposes) == {purpose.value for purpose in privacy.DataPurpose}
    with app.app_context():
        filled = _words(privacy.fill_in(notice.body))
    assert "erased 180 days after the programme closes" in filled
    assert "deleted 365 days after the ticket is closed" in filled
    assert "deleted 30 days after it is delivered" in filled


def test_a_programme_from_before_notices_gets_the_shipped_one_at_bootstrap(app, make_programme):
    programme = make_programme()
    with app.app_context():
        db.session.execute(PrivacyNotice.__table__.delete())
        db.session.commit()
        assert load_default_programme() == [f"sign-up: {programme.slug}: privacy notice version 1"]
        notice = privacy.published_notice(programme.id)
        assert notice is not None
        assert notice.body == programmes.default_notice().body.strip() + "\n"
        assert load_default_programme() == []


# --- a changed notice ---------------------------------------------------------------------------


def _admitted_delegate(app, make_programme, apply_confirmed, make_user) -> tuple[Any, Any, int]:
    programme = make_programme(mode="fcfs")
    delegate = make_user(Role.DELEGATE, email="person1@example.org", name="Person 1")
    application_id = apply_confirmed(programme, 1)
    with app.app_context():
        application = db.session.get(Application, application_id)
        assert application is not None
        assert application.state == "admitted"
        assert application.privacy_notice_version == 1
    return programme, delegate, application_id


def test_a_new_version_is_shown_to_a_delegate_at_next_sign_in_until_read(
    app, make_programme, apply_confirmed, make_user, login, programme_staff
):
    programme, delegate, application_id = _admitted_delegate(
        app, make_programme, apply_confirmed, make_user
    )
    before = login(delegate)
    assert before.get("/account/").status_code == 200  # nothing new to read yet

    url = f"/admin/signup/programmes/{programme.id}/privacy"
    published = programme_staff.submit(
        url,
        {
            "body": "We now keep your *favourite telescope*.",
            **{f"purpose_{name}": text for name, text in PURPOSES.items()},
            "changes": "We now keep your **favourite telescope**.",
            "action": "publish",
        },
    )
    assert published.status_code == 302

    browser = login(delegate)
    sent = browser.get("/account/")
    assert sent.status_code == 302
    assert sent.headers["Location"] == "/signup/privacy/changes?next=/account/"
    for page in ["/tickets/", "/signup/mine", "/"]:
        assert browser.get(page).headers["Location"].startswith("/signup/privacy/changes")
    # The notice, static files, the application's own page and signing out stay reachable.
    assert browser.get(f"/signup/privacy/{programme.slug}").status_code == 200
    static = browser.get("/static/portal.css")
    static.close()
    assert static.status_code == 200
    assert browser.get(f"/signup/status/{status_token(app, application_id)}").status_code == 200
    changes = browser.get(sent.headers["Location"])
    assert changes.status_code == 200
    body = changes.data.decode()
    assert "version 2" in body
    assert "We now keep your <strong>favourite telescope</strong>." in body
    assert "you accepted version 1" in body

    with app.app_context():
        notice_id = db.session.scalar(select(PrivacyNotice.id).where(PrivacyNotice.version == 2))
    read = browser.submit(
        "/signup/privacy/changes?next=/account/",
        {"notices": str(notice_id)},
    )
    assert read.status_code == 302
    assert read.headers["Location"] == "/account/"
    assert browser.get("/account/").status_code == 200
    with app.app_context():
        application = db.session.get(Application, application_id)
        assert application is not None
        assert application.privacy_notice_version == 2
        assert application.privacy_accepted_at is not None
        events = db.session.scalars(
            select(ApplicationEvent).where(
                ApplicationEvent.application_id == application_id,
                ApplicationEvent.kind == EventKind.PRIVACY,
            )
        ).all()
        assert [(e.actor_label, e.reason) for e in events] == [
            ("applicant", "Acknowledged privacy notice version 2")
        ]
    signed_out = login(delegate)
    assert signed_out.submit("/auth/logout", {}, form_url="/account/").status_code == 302


def test_signing_out_stays_possible_before_reading(
    app, make_programme, apply_confirmed, make_user, login
):
    programme, delegate, _ = _admitted_delegate(app, make_programme, apply_confirmed, make_user)
    _publish(app, programme.id, "Changed.", "Changed.")
    browser = login(delegate)
    token = browser.csrf_token(f"/signup/privacy/{programme.slug}")
    out = browser.post("/auth/logout", data={"csrf_token": token})
    assert out.status_code == 302
    assert "/signup/privacy/changes" not in out.headers["Location"]
    assert browser.get("/account/").status_code == 302
    assert "/auth/login" in browser.get("/account/").headers["Location"]


def test_only_live_applications_and_their_owners_are_shown_a_changed_notice(
    app, make_programme, apply_confirmed, make_user, login
):
    programme = make_programme(mode="fcfs")
    leaver = make_user(Role.DELEGATE, email="person1@example.org")
    other = make_user(Role.DELEGATE, email="someone@example.org")
    application_id = apply_confirmed(programme, 1)
    with app.app_context():
        applying.withdraw(application_id)
    _publish(app, programme.id, "Changed.", "Changed.")
    assert login(leaver).get("/account/").status_code == 200
    assert login(other).get("/account/").status_code == 200


def test_the_holder_of_a_status_link_is_shown_the_change_there(
    app, client, make_programme, apply_confirmed
):
    programme = make_programme(mode="reviewed")
    application_id = apply_confirmed(programme, 1)
    page = f"/signup/status/{status_token(app, application_id)}"
    assert b"The privacy notice has changed" not in client.get(page).data
    _publish(app, programme.id, "Kept longer.", "We keep <b>it</b> longer.")
    shown = client.get(page).data.decode()
    assert "The privacy notice has changed" in shown
    assert "We keep &lt;b&gt;it&lt;/b&gt; longer." in shown  # Markdown, no raw HTML
    # Saying so for another version records nothing.
    stale = client.submit(page + "/privacy", {"version": "1"}, form_url=page)
    assert stale.status_code == 302
    assert "The privacy notice has changed" in client.get(page).data.decode()
    read = client.submit(page + "/privacy", {"version": "2"}, form_url=page)
    assert read.status_code == 302
    assert "The privacy notice has changed" not in client.get(page).data.decode()
    assert _application(app, "person1@example.org").privacy_notice_version == 2
