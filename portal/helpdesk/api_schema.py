"""The help desk API's contract: what each endpoint reads and what it answers, as models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import Field

from portal.core.api import PageQuery, RequestModel, ResponseModel
from portal.core.roles import SupportTier
from portal.helpdesk.models import (
    Category,
    EventKind,
    Priority,
    Ticket,
    TicketEvent,
    TicketMessage,
    TicketState,
    Via,
)
from portal.helpdesk.queries import QueueFilter, QueueView, Sort

# The queue page's limits, so a ticket filed by a script is held to what the form holds
# people to.
SUBJECT_LENGTH = (5, 200)
TEXT_LENGTH = 20000
ESCALATION_REASON_LENGTH = (3, 1000)
# Somewhere in the text there is more than white space.
NOT_BLANK = r"\S"


class TicketQuery(PageQuery):
    """The staff queue's filters, as on the queue page; an empty value means "any"."""

    view: QueueView = Field(QueueView.ALL, description="Which queue.")
    # "" and "any" are the queue's ANY_OPEN and ANY_STATE.
    state: TicketState | Literal["", "any"] = Field(
        "", description='A state; empty for any open state, "any" for every state.'
    )
    tier: SupportTier | Literal[""] = Field("", description="The tier holding the ticket.")
    category: Category | Literal[""] = ""
    priority: Priority | Literal[""] = ""
    assignee: str = Field(
        "",
        pattern=r"^(|none|[1-9][0-9]{0,9})$",
        description='A staff account\'s id, or "none" for tickets nobody holds.',
    )
    q: str = Field("", max_length=200, description="Words in the subject or description.")
    sort: Sort = Sort.DUE

    def to_filter(self) -> QueueFilter:
        return QueueFilter(
            view=self.view,
            state=self.state,
            tier=self.tier or None,
            category=self.category,
            priority=self.priority,
            assignee=self.assignee,
            q=self.q,
            sort=self.sort,
        )


class NewTicket(RequestModel):
    subject: str = Field(
        min_length=SUBJECT_LENGTH[0], max_length=SUBJECT_LENGTH[1], pattern=NOT_BLANK
    )
    description: str = Field(min_length=1, max_length=TEXT_LENGTH, pattern=NOT_BLANK)
    category: Category
    priority: Priority = Priority.NORMAL
    requester_email: str | None = Field(
        None,
        max_length=254,
        description="File the ticket for this account (by its email address) instead of the "
        "token's owner.",
    )


class NewReply(RequestModel):
    body: str = Field(min_length=1, max_length=TEXT_LENGTH, pattern=NOT_BLANK)
    internal: bool = Field(False, description="An internal note, seen by staff only.")
    state: TicketState | None = Field(None, description="Then move the ticket to this state.")


class Escalation(RequestModel):
    reason: str = Field(
        min_length=ESCALATION_REASON_LENGTH[0],
        max_length=ESCALATION_REASON_LENGTH[1],
        pattern=NOT_BLANK,
        description="Why the next tier needs to take the ticket.",
    )


class Person(ResponseModel):
    id: int
    name: str


class Requester(Person):
    email: str


class Due(ResponseModel):
    """When each SLA target falls due (none once met or not running)."""

    first_response: datetime | None
    update: datetime | None
    resolution: datetime | None
    next: datetime | None


class TicketSummary(ResponseModel):
    number: int
    subject: str
    category: Category
    priority: Priority
    state: TicketState
    tier: SupportTier
    requester: Requester
    assignee: Person | None
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    due: Due
    breached_at: datetime | None
    rating: int | None = Field(description="The requester's rating, 1 to 5, once given.")

    @classmethod
    def fields_of(cls, ticket: Ticket) -> dict[str, Any]:
        return {
            "number": ticket.id,
            "subject": ticket.subject,
            "category": ticket.category,
            "priority": ticket.priority,
            "state": ticket.state,
            "tier": ticket.tier,
            "requester": Requester(
                id=ticket.requester_id,
                name=ticket.requester.full_name,
                email=ticket.requester.email,
            ),
            "assignee": (
                Person(id=ticket.assignee.id, name=ticket.assignee.full_name)
                if ticket.assignee
                else None
            ),
            "created_at": ticket.created_at,
            "updated_at": ticket.updated_at,
            "first_response_at": ticket.first_response_at,
            "resolved_at": ticket.resolved_at,
            "due": Due(
                first_response=ticket.first_response_due_at,
                update=ticket.update_due_at,
                resolution=ticket.resolution_due_at,
                next=ticket.next_due_at,
            ),
            "breached_at": ticket.breached_at,
            "rating": ticket.rating,
        }

    @classmethod
    def of(cls, ticket: Ticket) -> Self:
        return cls(**cls.fields_of(ticket))


class Attachment(ResponseModel):
    id: int
    filename: str
    size: int = Field(description="In bytes.")


class Message(ResponseModel):
    id: int
    author: str | None
    from_staff: bool
    internal: bool
    body: str
    via: Via
    created_at: datetime
    attachments: list[Attachment]

    @classmethod
    def of(cls, message: TicketMessage) -> Self:
        return cls(
            id=message.id,
            author=message.author.full_name if message.author else None,
            from_staff=message.from_staff,
            internal=message.internal,
            body=message.body,
            via=message.via,
            created_at=message.created_at,
            attachments=[
                Attachment(id=a.id, filename=a.filename, size=a.size) for a in message.attachments
            ],
        )


class Event(ResponseModel):
    kind: EventKind
    actor: str | None
    via: Via
    data: dict[str, Any] = Field(description="What changed, e.g. the old and new state.")
    created_at: datetime

    @classmethod
    def of(cls, event: TicketEvent) -> Self:
        return cls(
            kind=event.kind,
            actor=event.actor.full_name if event.actor else None,
            via=event.via,
            data=event.data,
            created_at=event.created_at,
        )


class TicketDetail(TicketSummary):
    description: str
    messages: list[Message]
    history: list[Event]

    @classmethod
    def of(cls, ticket: Ticket) -> Self:
        return cls(
            **cls.fields_of(ticket),
            description=ticket.description,
            messages=[Message.of(m) for m in ticket.messages],
            history=[Event.of(e) for e in ticket.events],
        )


class TicketList(ResponseModel):
    tickets: list[TicketSummary]
    page: int
    per_page: int
    total: int
    total_is_capped: bool = Field(
        description="Matches are counted up to a cap: when true, `total` is the cap and there "
        "are more."
    )


class TicketAnswer(ResponseModel):
    ticket: TicketSummary


class TicketDetailAnswer(ResponseModel):
    ticket: TicketDetail


class MessageAnswer(ResponseModel):
    message: Message
