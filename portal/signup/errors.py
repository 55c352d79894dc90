"""What can go wrong in sign-up, each with a message for the person who tried and the HTTP
status it answers with."""

from __future__ import annotations

from portal.core.errors import Conflict, Forbidden, NotFound, UserError


class SignupError(UserError):
    """A sign-up action that cannot be done, with a message for the person."""


class DoesNotExist(SignupError, NotFound):
    """The application, programme, wave or cohort proposal asked for does not exist."""


class ProfilesForbidden(SignupError, Forbidden):
    """Applicants' profiles (and filters on them) are for programme staff and admins."""


class InvalidQuery(SignupError):
    """An API request whose filters or sort order are not ones the API knows (422, like every
    request the API's contract refuses)."""


class NotAllowed(SignupError, Conflict):
    """The application's (or programme's) state does not allow this action."""


class ApplicationsClosed(NotAllowed):
    """The programme takes no applications now."""


class OfferClosed(NotAllowed):
    """The offer was answered, withdrawn or has expired."""


class NoticeChanged(SignupError, Conflict):
    """The privacy notice the applicant accepted is no longer the one in force."""


class DuplicateApplication(SignupError, Conflict):
    """One application per person per programme: this email or GitHub username has one."""


class InvalidSponsor(SignupError):
    """The Plus One sponsor named on the form cannot sponsor."""


class CapacityExceeded(SignupError, Conflict):
    """A seat was asked for and there is none."""


class WaveCapacityExceeded(CapacityExceeded):
    """The wave's seats are all taken."""


class ProgrammeCapacityExceeded(CapacityExceeded):
    """The programme's seats are all taken."""


class PlusOneQuotaExceeded(CapacityExceeded):
    """The programme's Plus One places are all taken."""


class CapacityBelowSeatsTaken(SignupError, Conflict):
    """A capacity cannot be lowered below the seats already taken."""


class InvalidConfig(SignupError):
    """A programme file that cannot be loaded."""
