"""Database foundations: the declarative base, UTC timestamps, and the unit-of-work transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Connection, CursorResult, Dialect, Engine, Result
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

# Named constraints let Alembic alter them on every database, SQLite included.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every model in the portal."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def rows_changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run through the session changed."""
    return cast(CursorResult[Any], result).rowcount


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (the one clock every rule reads)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always returned timezone-aware.

    SQLite keeps no zone, so values are stored there as naive UTC; PostgreSQL uses timestamptz.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use portal.core.db.utcnow()")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def configure_engine(engine: Engine) -> None:
    """Make SQLite safe for a web server and a worker side by side (WAL, busy timeout,
    explicit BEGIN so that write transactions can start with BEGIN IMMEDIATE)."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so the begin hook decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def transaction(session: Session | None = None) -> Iterator[Session]:
    """Run one unit of work: everything inside commits together or not at all.

    Services own their transactions through this. It ends any read-only transaction the request
    had open, so the write transaction sees fresh data; on SQLite it starts with BEGIN IMMEDIATE,
    which takes the write lock up front instead of failing later with "database is locked".
    Nested calls join the outer unit of work.
    """
    from portal.extensions import db

    session = session or db.session()
    if session.info.get("unit_of_work"):
        yield session
        return
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("changes were made outside a transaction() block")
        session.commit()
    session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
    session.info["unit_of_work"] = True
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info.pop("unit_of_work", None)
