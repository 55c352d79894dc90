"""What can go wrong in sign-up, each with a message for the person who tried."""

from __future__ import annotations


class SignupError(Exception):
    """A sign-up action that cannot be done, with a message for the person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ApplicationsClosed(SignupError):
    pass


class DuplicateApplication(SignupError):
    """One application per person per programme: this email or GitHub username has one."""

    def __init__(self, message: str, field_name: str) -> None:
        super().__init__(message)
        self.field_name = field_name


class InvalidSponsor(SignupError):
    pass


class NotAllowed(SignupError):
    """The application's (or programme's) state does not allow this action."""


class OfferClosed(SignupError):
    pass


class CapacityExceeded(SignupError):
    """A seat was asked for and there is none."""


class WaveCapacityExceeded(CapacityExceeded):
    pass


class ProgrammeCapacityExceeded(CapacityExceeded):
    pass


class PlusOneQuotaExceeded(CapacityExceeded):
    pass


class CapacityBelowSeatsTaken(SignupError):
    """A capacity cannot be lowered below the seats already taken."""


class InvalidConfig(SignupError):
    """A programme file that cannot be loaded."""
