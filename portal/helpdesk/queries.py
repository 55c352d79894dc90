"""Reading tickets in bulk: the staff queues with filters, full-text search and sorting, and a
requester's own list. Every queue filter and sort matches an index on the ticket table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import ColumnExpressionArgument, Select, func, not_, or_, select
from sqlalchemy.orm import joinedload, load_only

from portal.auth.models import User
from portal.core.enums import LabelledEnum
from portal.core.request_input import as_id
from portal.core.roles import SupportTier
from portal.extensions import db
from portal.helpdesk.models import Ticket
from portal.helpdesk.search import search_condition

# "Breaching soon" looks this far ahead.
SOON = timedelta(hours=4)
# A queue page counts matching tickets up to this many: past it, "more than" is all a page
# needs to say, and counting every match of a common search word would cost more than the
# page itself.
COUNT_CAP = 1000


# What a queue row shows: loading only these keeps a page of 50 tickets cheap.
QUEUE_COLUMNS = (
    "id", "subject", "category", "priority", "state", "tier", "requester_id",
    "assignee_id", "created_at", "updated_at", "first_response_due_at", "update_due_at",
    "resolution_due_at", "next_due_at", "breached_at", "first_response_at", "resolved_at",
    "rating",
)  # fmt: skip


class QueueView(LabelledEnum):
    MINE = "mine", "My tickets"
    TIER = "tier", "My tier, unassigned"
    SOON = "soon", "Breaching soon"
    BREACHED = "breached", "Breached"
    ALL = "all", "All tickets"


class Sort(LabelledEnum):
    DUE = "due", "Due soonest"
    UPDATED = "updated", "Recently updated"
    CREATED = "created", "Newest"


# State filter values besides the states themselves.
ANY_OPEN = ""
ANY_STATE = "any"
UNASSIGNED = "none"


@dataclass(frozen=True)
class QueueFilter:
    """What a staff member asked the queue for; empty strings mean "any"."""

    view: QueueView = QueueView.ALL
    state: str = ANY_OPEN
    tier: SupportTier | None = None
    category: str = ""
    priority: str = ""
    assignee: str = ""
    q: str = ""
    sort: Sort = Sort.DUE


def _view_conditions(
    user: User, view: QueueView, now: datetime
) -> list[ColumnExpressionArgument[bool]]:
    if view == QueueView.MINE:
        return [Ticket.assignee_id == user.id]
    if view == QueueView.TIER:
        if user.support_tier is not None and not user.is_admin:
            return [Ticket.assignee_id.is_(None), Ticket.tier == user.support_tier]
        return [Ticket.assignee_id.is_(None)]
    if view == QueueView.SOON:
        return [Ticket.next_due_at > now, Ticket.next_due_at <= now + SOON]
    if view == QueueView.BREACHED:
        return [or_(Ticket.next_due_at <= now, Ticket.breached_at.is_not(None))]
    return []


def _conditions(
    user: User, wanted: QueueFilter, now: datetime
) -> list[ColumnExpressionArgument[bool]]:
    conditions = _view_conditions(user, wanted.view, now)
    if wanted.state == ANY_OPEN:
        conditions.append(Ticket.is_open)
    elif wanted.state != ANY_STATE:
        conditions.append(Ticket.state == wanted.state)
    if wanted.tier:
        conditions.append(Ticket.tier == wanted.tier)
    if wanted.category:
        conditions.append(Ticket.category == wanted.category)
    if wanted.priority:
        conditions.append(Ticket.priority == wanted.priority)
    if wanted.assignee == UNASSIGNED:
        conditions.append(Ticket.assignee_id.is_(None))
    elif (assignee_id := as_id(wanted.assignee)) is not None:
        conditions.append(Ticket.assignee_id == assignee_id)
    if wanted.q.strip():
        conditions.append(search_condition(wanted.q.strip()))
    return conditions


def staff_queue(user: User, wanted: QueueFilter, now: datetime) -> Select[Ticket]:
    """The query behind a staff queue page (paginate it)."""
    query = (
        select(Ticket)
        .options(
            load_only(*(getattr(Ticket, name) for name in QUEUE_COLUMNS)),
            joinedload(Ticket.requester).load_only(User.full_name),
            joinedload(Ticket.assignee).load_only(User.full_name),
        )
        .where(*_conditions(user, wanted, now))
    )
    if wanted.sort == Sort.UPDATED:
        return query.order_by(Ticket.updated_at.desc(), Ticket.id.desc())
    if wanted.sort == Sort.CREATED:
        return query.order_by(Ticket.created_at.desc(), Ticket.id.desc())
    return query.order_by(Ticket.next_due_at.asc().nulls_last(), Ticket.id)


# The queues whose size is worth a number on their tab: work waiting for someone.
COUNTED_VIEWS = (QueueView.MINE, QueueView.TIER, QueueView.BREACHED)


def queue_counts(user: User, now: datetime) -> dict[QueueView, int]:
    """How many open tickets the actionable queues hold. One count per queue: each is
    answered from an index alone, which one pass with FILTER clauses over the rows is not."""
    return {
        view: db.session.scalar(
            select(func.count(Ticket.id)).where(Ticket.is_open, *_view_conditions(user, view, now))
        )
        or 0
        for view in COUNTED_VIEWS
    }


def requester_tickets(user: User, *, show_open: bool | None, per_page: int = 25) -> Pagination:
    """A page of a requester's own tickets, most recently updated first (the page number comes
    from the request)."""
    query = select(Ticket).where(Ticket.requester_id == user.id)
    if show_open is not None:
        query = query.where(Ticket.is_open if show_open else not_(Ticket.is_open))
    ordered = query.order_by(Ticket.updated_at.desc(), Ticket.id.desc())
    return db.paginate(ordered, per_page=per_page, error_out=False)


@dataclass(frozen=True)
class QueuePage:
    """One page of a queue, with the number of matching tickets counted up to COUNT_CAP."""

    items: list[Ticket]
    page: int
    per_page: int
    total: int
    capped: bool

    @property
    def pages(self) -> int | None:
        return None if self.capped else max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def has_next(self) -> bool:
        full = len(self.items) == self.per_page
        return full and (self.capped or self.page < (self.pages or 0))

    @property
    def next_num(self) -> int:
        return self.page + 1


def paginate(query: Select[Ticket], page: int, per_page: int = 50) -> QueuePage:
    """A page of `query` and a capped count of everything it matches."""
    page = max(page, 1)
    items = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    if page == 1 and len(items) < per_page:
        total = len(items)  # everything fits on the first page: nothing more to count
    else:
        matching = query.order_by(None).with_only_columns(Ticket.id).limit(COUNT_CAP + 1).subquery()
        total = db.session.scalar(select(func.count()).select_from(matching)) or 0
    return QueuePage(
        items=items,
        page=page,
        per_page=per_page,
        total=min(total, COUNT_CAP),
        capped=total > COUNT_CAP,
    )
