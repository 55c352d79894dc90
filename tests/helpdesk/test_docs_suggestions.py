"""Documentation suggestions while a delegate files a ticket, read from a real Sphinx site's
search index: as JSON for the page's script, and without JavaScript on the page itself."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.extensions import db
from portal.helpdesk.models import Ticket
from tests.helpdesk.helpers import file_ticket


def test_suggestions_follow_the_words_of_the_subject(as_user, people):
    client = as_user(people.delegate)
    tap = client.get("/tickets/suggest?q=My TAP query times out")
    assert tap.status_code == 200
    assert tap.json["results"][0] == {"title": "The API aspect: TAP", "url": "/docs/tap.html"}
    notebook = client.get("/tickets/suggest?q=notebook will not spawn")
    assert notebook.json["results"][0]["title"] == "The Notebook aspect"
    # Stems and words still being typed match ("queries", "spawn..." -> "spawning").
    assert client.get("/tickets/suggest?q=queries").json["results"][0]["url"] == "/docs/tap.html"
    assert (
        client.get("/tickets/suggest?q=spawni").json["results"][0]["url"] == "/docs/notebook.html"
    )
    assert client.get("/tickets/suggest?q=it").json["results"] == []
    assert client.get("/tickets/suggest?q=zzzz qqqq").json["results"] == []
    assert client.get("/tickets/suggest").json["results"] == []


def test_without_javascript_the_form_searches_the_documentation(app, as_user, people):
    client = as_user(people.delegate)
    form = client.get("/tickets/new").data.decode()
    assert 'data-suggest-url="/tickets/suggest"' in form
    assert "/static/helpdesk/helpdesk.js" in form
    assert "<script>" not in form  # no inline script under the strict CSP
    searched = client.submit(
        "/tickets/new",
        {
            "subject": "TAP query times out",
            "description": "Typed so far",
            "category": "api_tap",
            "priority": "normal",
            "action": "suggest",
        },
    )
    assert searched.status_code == 200
    page = searched.data.decode()
    assert '<a href="/docs/tap.html"' in page
    assert "Typed so far" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Ticket)) == 0
    # A form sent with a mistake shows suggestions beside the errors too.
    incomplete = client.submit(
        "/tickets/new", {"subject": "notebook spawn fails", "action": "file"}
    )
    assert incomplete.status_code == 422
    assert b"/docs/notebook.html" in incomplete.data


def test_a_new_ticket_suggests_pages_while_the_requester_waits(app, as_user, people):
    number = file_ticket(app, people.delegate, subject="Notebook spawn fails")
    page = as_user(people.delegate).get(f"/tickets/{number}").data.decode()
    assert "While you wait" in page
    assert "/docs/notebook.html" in page


def test_no_built_site_means_no_suggestions(app, as_user, people, tmp_path):
    app.config["PORTAL_DOCS_DIR"] = str(tmp_path / "nothing-here")
    client = as_user(people.delegate)
    assert client.get("/tickets/suggest?q=TAP").json["results"] == []
    assert client.get("/tickets/new").status_code == 200
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "searchindex.js").write_text("Search.setIndex({not json")
    app.config["PORTAL_DOCS_DIR"] = str(broken)
    assert client.get("/tickets/suggest?q=TAP").json["results"] == []


def test_the_enhancement_script_is_served(client):
    script = client.get("/static/helpdesk/helpdesk.js")
    assert script.status_code == 200
    assert b"data-suggest-url" in script.data
    script.close()
