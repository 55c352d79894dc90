"""What the help desk refuses, each refusal with the HTTP status it answers with."""

from __future__ import annotations

from portal.core.errors import Conflict, Forbidden, NotFound, UserError


class HelpdeskError(UserError):
    """A help-desk action that cannot be done as asked (422 unless a subclass says otherwise)."""


class TicketNotFound(HelpdeskError, NotFound):
    """No such ticket, or none this person may see (a requester sees only their own)."""

    default_message = "There is no such ticket."


class CannedReplyNotFound(HelpdeskError, NotFound):
    default_message = "There is no such canned reply."


class NotAllowed(HelpdeskError, Forbidden):
    """The account may not do this to this ticket (its tier, its role)."""


class InvalidTransition(HelpdeskError, Conflict):
    """The ticket's state or tier does not allow this now."""
