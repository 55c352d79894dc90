"""Who sees what of an application: programme staff and admins see the applicant's profile
(institution, country, career stage, collaborations, experience, data rights, answers); other
staff see what a ticket needs (name, email, GitHub username, where the application stands) on
every page, export and API answer they can reach, and none of the profile. Admins give the
permission."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.auth import services as auth_services
from portal.auth.models import User
from portal.core.roles import Role
from portal.extensions import db
from portal.helpdesk import requesters
from portal.signup.models import Application

# One applicant's profile, each value found nowhere else in the portal's pages.
PROFILE = {
    "full_name": "Wanjiru Kamau",
    "institution": "Tangaza Observatory Collective",
    "institution_type": "museum_planetarium",
    "country": "KE",
    "career_stage": "amateur",
    "data_rights": "yes",
    "data_rights_basis": "Affiliated through a Rubin in-kind team in Nairobi",
    "science_collaborations": ["sssc"],
    "contribution": "A zine about comet photometry for amateur clubs",
}
# What the profile looks like on a page (values and their labels).
SECRETS = [
    "Tangaza",
    "Kenya",
    "Nairobi",
    "comet photometry",
    "Amateur astronomer",
    "Museum, planetarium",
    "Solar System",
    "Africa",
]
# The public application form lists every choice to everyone: it tells nothing about anyone.
FORM_PAGES = re.compile(r"^/signup/(\?.*)?$")
NOT_PAGES = ("/static/", "/docs/", "/auth/logout", "/api/")


@pytest.fixture
def profile(app, make_programme, apply_confirmed, make_user) -> dict[str, Any]:
    """An admitted delegate with the profile above, who has filed a ticket; a second applicant
    waits in a cohort wave with targets, so that every staff page has something to show."""
    programme = make_programme(mode="fcfs", targets={("region", "africa"): 0.5})
    account = make_user(Role.DELEGATE, email="person1@example.org", name=PROFILE["full_name"])
    application_id = apply_confirmed(programme, 1, **PROFILE)
    apply_confirmed(programme, 2)
    with app.app_context():
        requester = db.session.get(User, account.id)
        assert requester is not None
        ticket = requesters.create_ticket(
            requester,
            subject="My GitHub invitation did not arrive",
            description="Since yesterday.",
            category="account_access",
            priority="normal",
            uploads=[],
        )
        application = db.session.get(Application, application_id)
        assert application is not None
        assert application.state == "admitted"
        return {"programme": programme, "application_id": application_id, "ticket": ticket.id}


def _links(base: str, body: str) -> list[str]:
    found = []
    for href in re.findall(r'href="([^"#]*)', body):
        url = urlsplit(urljoin(base, unescape(href)))
        if url.netloc and url.netloc != "localhost":
            continue
        path = url.path + (f"?{url.query}" if url.query else "")
        if path and not path.startswith(NOT_PAGES):
            found.append(path)
    return found


def _crawl(client: Any, start: list[str], limit: int = 300) -> dict[str, str]:
    """Every page reachable by following links from `start`, with its text."""
    seen: dict[str, str] = {}
    queue = list(start)
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen:
            continue
        response = client.get(path)
        body = response.get_data(as_text=True)
        response.close()
        seen[path] = body if response.status_code == 200 else ""
        if response.status_code == 200 and response.mimetype == "text/html":
            queue.extend(p for p in _links(path, body) if p not in seen)
    return seen


def test_support_staff_see_no_profile_on_any_page_or_export_they_reach(
    app, profile, make_user, login
):
    programme, application_id = profile["programme"], profile["application_id"]
    support = login(make_user(Role.STAFF, tier=1, programme_staff=False))
    pages = _crawl(
        support,
        [
            "/",
            f"/staff/signup/?programme={programme.id}",
            f"/staff/signup/applications?programme={programme.id}&q=Observatory+Collective",
            f"/staff/signup/applications?programme={programme.id}&attribute=region:africa",
            f"/staff/tickets/{profile['ticket']}",
        ],
    )
    reached = {path for path, body in pages.items() if body}
    assert f"/staff/signup/applications/{application_id}" in reached
    assert f"/staff/signup/programmes/{programme.id}/delegates.csv" in reached
    assert f"/staff/signup/programmes/{programme.id}/provisioning" in reached
    assert f"/staff/tickets/{profile['ticket']}" in reached
    leaks = [
        (path, secret)
        for path, body in pages.items()
        if not FORM_PAGES.match(path)
        for secret in SECRETS
        if secret in body
    ]
    assert not leaks, leaks
    # What a ticket needs is there: who applied and where the application stands.
    detail = pages[f"/staff/signup/applications/{application_id}"]
    assert PROFILE["full_name"] in detail
    assert "person1@example.org" in detail
    assert "Admitted" in detail
    assert "person-1" in detail
    # Neither a search nor an attribute filter tells anything about the profile.
    by_institution = pages[
        f"/staff/signup/applications?programme={programme.id}&q=Observatory+Collective"
    ]
    assert "0 applications" in by_institution
    filtered = pages[f"/staff/signup/applications?programme={programme.id}&attribute=region:africa"]
    assert "2 applications" in filtered


def _token(app: Any, user: User) -> str:
    with app.app_context():
        account = db.session.get(User, user.id)
        assert account is not None
        return auth_services.create_api_token(account, "script")


def test_the_api_gives_support_staff_no_profile(app, client, profile, make_user):
    programme = profile["programme"]
    support = _token(app, make_user(Role.STAFF, tier=2, programme_staff=False))
    runner = _token(app, make_user(Role.STAFF))
    base = f"/api/v1/signup/programmes/{programme.id}"

    def get(path: str, token: str) -> Any:
        return client.get(base + path, headers={"Authorization": f"Bearer {token}"})

    listed = get("/applications", support)
    assert listed.status_code == 200
    items = {item["full_name"]: item for item in listed.get_json()["items"]}
    mine = items[PROFILE["full_name"]]
    assert (mine["email"], mine["state"], mine["github_username"]) == (
        "person1@example.org",
        "admitted",
        "person-1",
    )
    profile_keys = ["institution", "institution_type", "country", "career_stage", "data_rights"]
    for key in [*profile_keys, "science_collaborations", "experience"]:
        assert mine[key] is None, key
    listing = client.get(
        "/api/v1/signup/programmes", headers={"Authorization": f"Bearer {support}"}
    )
    for path, body in [
        *[(path, get(path, support).get_data(as_text=True)) for path in ["", "/delegates"]],
        ("/applications", listed.get_data(as_text=True)),
        ("programmes", listing.get_data(as_text=True)),
    ]:
        assert not [secret for secret in SECRETS if secret in body], path
        assert '"KE"' not in body, path
    assert get("/applications?q=Observatory", support).get_json()["total"] == 0
    assert get("", support).get_json()["composition"] is None
    refused = get("/applications?attribute=region:africa", support)
    assert refused.status_code == 403
    assert "programme-staff permission" in refused.get_json()["reason"]

    full = {i["full_name"]: i for i in get("/applications", runner).get_json()["items"]}
    assert full[PROFILE["full_name"]]["country"] == "KE"
    assert full[PROFILE["full_name"]]["institution"] == PROFILE["institution"]
    assert get("/applications?attribute=region:africa", runner).get_json()["total"] == 1
    assert get("/applications?q=Observatory", runner).get_json()["total"] == 1
    assert get("", runner).get_json()["composition"]["targets"][0]["attribute"] == "region"


@pytest.mark.parametrize(
    "path",
    [
        "/staff/signup/waves/{wave_id}/cohort",
        "/admin/signup/",
        "/admin/signup/programmes/{programme_id}",
        "/admin/signup/programmes/{programme_id}/targets",
        "/admin/signup/programmes/{programme_id}/privacy",
    ],
)
def test_support_staff_cannot_open_cohorts_or_programme_settings(
    app, profile, make_user, login, path
):
    programme = profile["programme"]
    support = login(make_user(Role.STAFF, tier=2, programme_staff=False))
    url = path.format(wave_id=programme.wave_id, programme_id=programme.id)
    assert support.get(url).status_code == 403


def test_support_staff_cannot_decide(app, profile, make_user, login):
    support = login(make_user(Role.STAFF, tier=3, programme_staff=False))
    url = f"/staff/signup/applications/{profile['application_id']}/decision"
    refused = support.submit(
        url,
        {"action": "reject", "reason": "x"},
        form_url=f"/staff/signup/applications/{profile['application_id']}",
    )
    assert refused.status_code == 403
    with app.app_context():
        application = db.session.get(Application, profile["application_id"])
        assert application is not None
        assert application.state == "admitted"


@pytest.mark.parametrize("role", ["programme", "admin"])
def test_programme_staff_and_admins_see_the_profile(app, profile, make_user, login, role):
    programme, application_id = profile["programme"], profile["application_id"]
    user = make_user(Role.ADMIN) if role == "admin" else make_user(Role.STAFF)
    browser = login(user)
    detail = browser.get(f"/staff/signup/applications/{application_id}").data.decode()
    for secret in ["Tangaza", "Kenya", "Nairobi", "comet photometry", "Amateur astronomer"]:
        assert secret in detail
    queue = browser.get(
        f"/staff/signup/applications?programme={programme.id}&q=Observatory+Collective"
    )
    assert "1 applications" in queue.data.decode()
    filtered = browser.get(
        f"/staff/signup/applications?programme={programme.id}&attribute=region:africa"
    ).data.decode()
    assert "1 applications" in filtered
    dashboard = browser.get(f"/staff/signup/?programme={programme.id}").data.decode()
    assert "Composition against targets" in dashboard
    assert "Region: Africa" in dashboard
    assert browser.get("/admin/signup/").status_code == 200
    assert browser.get(f"/staff/signup/waves/{programme.wave_id}/cohort").status_code == 200


def test_admins_give_and_take_the_programme_staff_permission(app, make_user, login):
    admin = login(make_user(Role.ADMIN))
    colleague = make_user(Role.STAFF, tier=2, programme_staff=False)
    delegate = make_user(Role.DELEGATE)
    page = f"/admin/users/{colleague.id}"
    assert "Programme staff" in admin.get(page).data.decode()
    assert login(colleague).get("/admin/signup/").status_code == 403
    given = admin.submit(
        page, {"role": "staff", "tier": "2", "programme_staff": "y", "active": "y"}
    )
    assert given.status_code == 302
    assert login(colleague).get("/admin/signup/").status_code == 200
    taken = admin.submit(page, {"role": "staff", "tier": "2", "active": "y"})
    assert taken.status_code == 302
    assert login(colleague).get("/admin/signup/").status_code == 403
    # The permission is for staff: a delegate ticked as programme staff does not hold it.
    admin.submit(
        f"/admin/users/{delegate.id}", {"role": "delegate", "programme_staff": "y", "active": "y"}
    )
    with app.app_context():
        account = db.session.get(User, delegate.id)
        assert account is not None
        assert not account.is_programme_staff
        changes = db.session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "user.role", AuditEntry.target == f"user:{colleague.id}"
            )
        ).all()
        assert [(e.before, e.after) for e in changes] == [
            ({"programme_staff": False}, {"programme_staff": True}),
            ({"programme_staff": True}, {"programme_staff": False}),
        ]


def test_the_demo_gives_its_programme_staff_the_permission(app):
    from portal.cli import seed_demo_accounts
    from portal.signup.demo import seed_demo_applications

    with app.app_context():
        seed_demo_accounts()
        seed_demo_applications()
        staff = db.session.scalar(select(User).where(User.email == "programme@example.org"))
        assert staff is not None
        assert staff.is_programme_staff
        tier1 = db.session.scalar(select(User).where(User.email == "tier1@example.org"))
        assert tier1 is not None
        assert not tier1.is_programme_staff
        unversioned = db.session.scalar(
            select(Application.id).where(Application.privacy_notice_version.is_(None))
        )
        assert unversioned is None
