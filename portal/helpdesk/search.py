"""Full-text search over tickets for staff: on PostgreSQL a weighted tsvector per ticket (GIN
index), grown as messages arrive; on SQLite a LIKE over the same text."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, cast, exists, func, literal_column, or_, select
from sqlalchemy.dialects.postgresql import TSVECTOR

from portal.extensions import db
from portal.helpdesk.models import Ticket, TicketMessage


def _regconfig() -> Any:
    return literal_column("'english'::regconfig")


def _on_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _weighted(text: str, weight: str) -> Any:
    """The words of `text` at a weight (A counts most); the weight is a "char" literal, which
    a bound VARCHAR parameter is not."""
    assert weight in {"A", "B", "C", "D"}
    return func.setweight(func.to_tsvector(_regconfig(), text), literal_column(f"'{weight}'"))


def index_new_ticket(ticket: Ticket) -> None:
    """Start a new ticket's search document: the subject weighs most, then the description."""
    if not _on_postgresql():
        return
    ticket.search_vector = _weighted(ticket.subject, "A").op("||")(
        _weighted(ticket.description, "B")
    )


def index_message(ticket: Ticket, body: str, *, internal: bool) -> None:
    """Add a message to the ticket's search document (notes too: only staff search it)."""
    if not _on_postgresql():
        return
    # Each addition is appended in SQL to the stored document, so an earlier one still
    # waiting in the session must be written first.
    db.session.flush()
    addition = _weighted(body, "D" if internal else "C")
    ticket.search_vector = func.coalesce(
        Ticket.search_vector, cast(literal_column("''"), TSVECTOR)
    ).op("||")(addition)
    db.session.flush()


def search_condition(text: str) -> ColumnElement[bool]:
    """Tickets whose subject, description, replies or internal notes match `text` (staff
    only). PostgreSQL reads web-search syntax: quoted phrases, OR, -word."""
    if _on_postgresql():
        query = func.websearch_to_tsquery(_regconfig(), text)
        return Ticket.search_vector.op("@@")(query)
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    message_match = select(TicketMessage.id).where(
        TicketMessage.ticket_id == Ticket.id, TicketMessage.body.ilike(pattern, escape="\\")
    )
    return or_(
        Ticket.subject.ilike(pattern, escape="\\"),
        Ticket.description.ilike(pattern, escape="\\"),
        exists(message_match),
    )
