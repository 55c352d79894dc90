"""The delivery worker: sends due outbox messages and runs the portal's periodic jobs."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import FrameType

from flask import Flask, current_app
from sqlalchemy import update

from portal.core.db import rows_changed, transaction, utcnow
from portal.extensions import db
from portal.outbox.models import JobLease
from portal.outbox.service import (
    claim_due_messages,
    record_failure,
    record_sent,
    seconds_until_next_due,
)
from portal.outbox.transports import PermanentFailure, RetryLater, transport_for

log = logging.getLogger("portal.worker")


@dataclass
class PeriodicJob:
    name: str
    every_seconds: float
    func: Callable[[], object]
    next_run: float = field(default=0.0)


def register_job(app: Flask, name: str, every_seconds: float, func: Callable[[], object]) -> None:
    """Have every worker run `func` about every `every_seconds` (one worker at a time)."""
    app.extensions.setdefault("portal.jobs", {})[name] = PeriodicJob(name, every_seconds, func)


def deliver_due_messages(worker_id: str, limit: int = 20) -> int:
    """Claim and deliver one batch; returns how many messages were attempted."""
    deliveries = claim_due_messages(worker_id, limit)
    for delivery in deliveries:
        try:
            remote_id = transport_for(delivery.channel).deliver(delivery)
        except RetryLater as exc:
            state = record_failure(
                delivery.id,
                str(exc),
                retry_after=exc.retry_after,
                outcome_unknown=exc.outcome_unknown,
            )
            log.warning(
                "delivery deferred",
                extra={"message_id": delivery.id, "error": str(exc), "state": state},
            )
        except PermanentFailure as exc:
            record_failure(delivery.id, str(exc), permanent=True)
            log.error(
                "delivery failed for good", extra={"message_id": delivery.id, "error": str(exc)}
            )
        except Exception as exc:  # a bug in a transport must not stop the other messages
            record_failure(delivery.id, f"{type(exc).__name__}: {exc}")
            log.exception("delivery crashed", extra={"message_id": delivery.id})
        else:
            record_sent(delivery.id, remote_id)
    return len(deliveries)


def run_job_if_free(job: PeriodicJob, worker_id: str) -> bool:
    """Run a periodic job if no other worker holds its lease; returns whether it ran."""
    lease_seconds = max(job.every_seconds * 5, 60)
    with transaction() as session:
        now = utcnow()
        if session.get(JobLease, job.name) is None:
            session.add(JobLease(name=job.name, leased_until=now))
            session.flush()
        taken = rows_changed(
            session.execute(
                update(JobLease)
                .where(JobLease.name == job.name, JobLease.leased_until <= now)
                .values(leased_until=now + timedelta(seconds=lease_seconds), leased_by=worker_id)
            )
        )
    if not taken:
        return False
    error = None
    started = time.perf_counter()
    try:
        job.func()
    except Exception:
        db.session.rollback()
        error = traceback.format_exc(limit=5)
        log.exception("periodic job failed", extra={"job": job.name})
    else:
        log.info(
            "periodic job finished",
            extra={"job": job.name, "ms": round((time.perf_counter() - started) * 1000, 1)},
        )
    with transaction() as session:
        lease = session.get(JobLease, job.name)
        if lease is not None:
            lease.leased_until = utcnow()
            lease.last_finished_at = utcnow()
            lease.last_error = error
    return True


def run_worker(app: Flask, *, once: bool = False, batch: int = 20) -> None:
    """Loop until SIGTERM or SIGINT: deliver due messages, run due jobs, sleep when idle."""
    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    stopping = False

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    if not once:
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    log.info("worker started", extra={"worker": worker_id})
    with app.app_context():
        poll = current_app.config["WORKER_POLL_SECONDS"]
        jobs: dict[str, PeriodicJob] = current_app.extensions.get("portal.jobs", {})
        while not stopping:
            busy = 0
            idle = poll
            try:
                for job in jobs.values():
                    if time.monotonic() >= job.next_run:
                        job.next_run = time.monotonic() + job.every_seconds
                        run_job_if_free(job, worker_id)
                busy = deliver_due_messages(worker_id, batch)
                if not busy:
                    # A Slack channel's next slot is often a fraction of the poll away: waiting
                    # the whole poll would space its messages twice as far as needed.
                    idle = seconds_until_next_due(poll)
            except Exception:  # the database went away: wait and try again
                db.session.rollback()
                log.exception("worker iteration failed")
            finally:
                db.session.remove()
            if once:
                break
            if not busy:
                time.sleep(idle)
    log.info("worker stopped", extra={"worker": worker_id})
