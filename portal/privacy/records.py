"""Whose records are whose: everything the portal holds under one person's email address (their
account, applications, tickets and the emails sent to them), for export and for erasure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Select, false, func, or_, select

from portal.auth.models import User
from portal.auth.services import find_user_by_email, normalise_email
from portal.extensions import db
from portal.helpdesk.models import Ticket
from portal.outbox.models import OutboxMessage
from portal.signup.models import Application


@dataclass(frozen=True)
class PersonRecords:
    """One person's own records: found by their address, and by their account where the
    records point at it."""

    email: str
    account: User | None
    applications: list[Application]
    tickets: list[Ticket]

    @property
    def addresses(self) -> set[str]:
        """Every address the person's records use (an application may predate the account)."""
        return {self.email, *(a.email for a in self.applications)}

    @property
    def is_empty(self) -> bool:
        return self.account is None and not self.applications


def records_of(email: str) -> PersonRecords:
    """The records of the person with this address (nothing of anyone else's)."""
    email = normalise_email(email)
    account = find_user_by_email(email)
    applications = db.session.scalars(
        select(Application)
        .where(
            or_(
                Application.email == email,
                Application.user_id == account.id if account is not None else false(),
            )
        )
        .order_by(Application.id)
    ).all()
    tickets = (
        db.session.scalars(
            select(Ticket).where(Ticket.requester_id == account.id).order_by(Ticket.id)
        ).all()
        if account is not None
        else []
    )
    return PersonRecords(email, account, list(applications), list(tickets))


def emails_to(addresses: Iterable[str]) -> Select[OutboxMessage]:
    """The outbox's emails addressed to any of `addresses`, oldest first."""
    wanted = sorted({normalise_email(address) for address in addresses})
    return (
        select(OutboxMessage)
        .where(
            OutboxMessage.channel == "email",
            func.lower(OutboxMessage.payload["to"].as_string()).in_(wanted),
        )
        .order_by(OutboxMessage.id)
    )
