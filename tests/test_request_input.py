"""The request-input layer: odd input is refused once, before any view, on both databases."""

from __future__ import annotations

import io

import pytest

from portal.auth.models import User
from portal.auth.services import create_api_token
from portal.core.request_input import MAX_ID
from portal.core.roles import Role
from portal.extensions import db


def test_a_nul_byte_in_a_form_field_is_refused_before_the_view(client):
    response = client.submit(
        "/auth/register",
        {"full_name": "a\x00b", "email": "nul@example.org", "password": "long enough pw"},
    )
    assert response.status_code == 400
    assert b"NUL character" in response.data


def test_a_nul_byte_in_the_query_string_is_refused(client):
    assert client.get("/admin/users?q=a%00b").status_code == 400


def test_a_file_sent_where_text_belongs_is_a_missing_value_beside_the_field(client, make_user):
    user = make_user(Role.DELEGATE)
    token = client.csrf_token("/auth/login")
    response = client.post(
        "/auth/login",
        data={
            "csrf_token": token,
            "email": (io.BytesIO(user.email.encode()), "email.txt"),
            "password": "anything at all",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert b"This field is required" in response.data
    assert b'name="password"' in response.data


@pytest.mark.parametrize("path", ["/admin/users/{id}", "/admin/outbox/{id}/retry"])
def test_an_id_beyond_the_database_integers_is_not_found(make_user, login, path):
    admin = login(make_user(Role.ADMIN))
    url = path.format(id=MAX_ID + 1)
    response = admin.submit(url, {}, form_url="/admin/") if "retry" in url else admin.get(url)
    assert response.status_code == 404
    assert admin.get(path.format(id=MAX_ID)).status_code in (404, 405)


def test_a_page_number_past_any_list_is_not_found_and_a_real_page_still_works(make_user, login):
    admin = login(make_user(Role.ADMIN))
    assert admin.get("/admin/users?page=9223372036854775807").status_code == 404
    assert admin.get("/admin/outbox?page=100001").status_code == 404
    listed = admin.get("/admin/users?page=2")
    assert listed.status_code == 200


def test_the_api_refuses_a_huge_page_with_json(make_user, app):
    staff = make_user(Role.STAFF, tier=1)
    with app.app_context():
        token = create_api_token(db.session.get(User, staff.id), "fuzz")
    client = app.test_client()
    response = client.get(
        "/api/v1/tickets?page=9223372036854775807", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404
    assert response.get_json()["status"] == 404


def test_a_nul_byte_inside_a_json_body_is_refused_with_json(make_user, app):
    staff = make_user(Role.STAFF, tier=1)
    with app.app_context():
        token = create_api_token(db.session.get(User, staff.id), "fuzz")
    response = app.test_client().post(
        "/api/v1/tickets",
        json={"subject": "a\x00b", "body": "text", "category": "other"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    assert "NUL" in response.get_json()["reason"]


def test_a_page_number_in_other_digits_is_no_page_number(make_user, login):
    # "²" is a digit to str.isdigit() but no number to int(): the list shows its first page.
    admin = login(make_user(Role.ADMIN))
    assert admin.get("/admin/users?page=²").status_code == 200


@pytest.mark.parametrize("programme", ["9223372036854775808", str(MAX_ID + 1), "²", "-1"])
def test_an_id_in_the_query_string_that_names_nothing_is_not_found(make_user, login, programme):
    staff = login(make_user(Role.ADMIN))
    assert staff.get(f"/staff/signup/applications?programme={programme}").status_code == 404
