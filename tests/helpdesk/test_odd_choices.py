"""The help-desk forms that crashed on odd input from outside: a space as a choice, and a file or
300 characters as a tier's timezone, are refused beside the field, and change nothing."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.helpdesk.models import TicketMessage, TierSettings
from tests.helpdesk.helpers import file_ticket, load_ticket


def test_a_space_as_the_assignee_is_refused_and_the_ticket_keeps_its_assignee(app, as_user, people):
    number = file_ticket(app, people.delegate)
    page = f"/staff/tickets/{number}"
    tier1 = as_user(people.tier1)
    assert tier1.submit(page + "/claim", form_url=page).status_code == 302
    refused = tier1.submit(page + "/assign", {"assignee": " "}, form_url=page)
    assert refused.status_code == 422
    assert b"Not a valid choice" in refused.data
    assert load_ticket(app, number).assignee_id == people.tier1.id


def test_a_space_as_the_state_after_a_reply_is_refused_and_nothing_is_sent(app, as_user, people):
    number = file_ticket(app, people.delegate)
    page = f"/staff/tickets/{number}"
    refused = as_user(people.tier1).submit(
        page + "/reply",
        {"body": "Try a smaller query.", "action": "reply", "new_state": " "},
        form_url=page,
    )
    assert refused.status_code == 422
    assert b"Not a valid choice" in refused.data
    assert b"Try a smaller query." in refused.data  # kept in the box, to send again
    with app.app_context():
        replies = select(func.count()).select_from(TicketMessage)
        assert db.session.scalar(replies.where(TicketMessage.author_id == people.tier1.id)) == 0


def test_a_button_the_form_does_not_have_is_refused(app, as_user, people):
    number = file_ticket(app, people.delegate)
    page = f"/staff/tickets/{number}"
    refused = as_user(people.tier1).submit(
        page + "/reply", {"body": "Hello", "action": " "}, form_url=page
    )
    assert refused.status_code == 400
    assert b"Choose one of the form" in refused.data


@pytest.mark.parametrize(
    "timezone",
    [b"Europe/Paris", "x" * 300, "America", "Europe/../../etc"],
    ids=["a file", "300 characters", "a folder of zones", "a path"],
)
def test_a_tier_timezone_that_is_no_timezone_is_refused(app, as_user, people, timezone):
    admin = as_user(people.admin)
    page = "/staff/tickets/tiers/2"
    token = admin.csrf_token(page)
    if isinstance(timezone, bytes):  # sent as a file part, where the text box belongs
        timezone = (io.BytesIO(timezone), "tz.txt")
    refused = admin.post(
        page,
        data={"csrf_token": token, "timezone": timezone, "monday": "09:00-17:00"},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    assert b"Give a timezone name" in refused.data or b"This field is required" in refused.data
    with app.app_context():
        assert db.session.get(TierSettings, 2) is None  # still the defaults: nothing saved
