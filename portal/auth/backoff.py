"""Sign-in backoff per account: after a few wrong passwords each further try waits longer."""

from __future__ import annotations

import math
import time

from flask import current_app

from portal.extensions import limiter

# Kept in the rate limiter's storage (shared by every worker of the portal, like the limits).
FAILURES = "sign-in-failures:"
PAUSE = "sign-in-pause:"
# Beyond this, doubling the pause cannot change it: every setting of the ceiling is far below.
MAX_DOUBLINGS = 30


def seconds_to_wait(email: str) -> int:
    """How long sign-in with this address must wait before its next try (0: it may try now).
    It is the same whether or not an account has the address, so it tells no one which do."""
    storage = limiter.storage
    key = PAUSE + email
    if storage.get(key) <= 0:
        return 0
    return max(1, math.ceil(storage.get_expiry(key) - time.time()))


def record_failure(email: str) -> None:
    """Count a wrong password for this address. The first LOGIN_BACKOFF_FREE_FAILURES cost
    nothing; each one after makes the next try wait, twice as long each time (from
    LOGIN_BACKOFF_BASE_SECONDS up to LOGIN_BACKOFF_MAX_SECONDS), so a guesser is slowed to a
    crawl while the owner is never kept out for longer than the ceiling. The count is forgotten
    LOGIN_BACKOFF_RESET_SECONDS after the first failure, or at a successful sign-in."""
    config = current_app.config
    storage = limiter.storage
    failures = storage.incr(FAILURES + email, int(config["LOGIN_BACKOFF_RESET_SECONDS"]))
    beyond = failures - int(config["LOGIN_BACKOFF_FREE_FAILURES"])
    if beyond <= 0:
        return
    pause = min(
        int(config["LOGIN_BACKOFF_BASE_SECONDS"]) * 2 ** min(beyond - 1, MAX_DOUBLINGS),
        int(config["LOGIN_BACKOFF_MAX_SECONDS"]),
    )
    storage.clear(PAUSE + email)
    storage.incr(PAUSE + email, pause)


def forget_failures(email: str) -> None:
    """The right password was given: earlier failures no longer count."""
    storage = limiter.storage
    storage.clear(FAILURES + email)
    storage.clear(PAUSE + email)
