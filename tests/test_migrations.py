"""Migrations: one head, upgrade from empty to head, models in step, downgrade to base; on both
databases."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from flask_migrate import check, downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from portal import create_app
from portal.extensions import db, migrate

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _backends() -> list[str]:
    return ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


@pytest.fixture(params=_backends())
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    base = make_url(os.environ["TEST_DATABASE_URL"]).set(drivername="postgresql+psycopg")
    name = f"{base.database}_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _partial_indexes() -> dict[str, str]:
    """Each partial index of the models, with the SQL of its predicate."""
    found = {}
    for table in db.metadata.sorted_tables:
        for index in table.indexes:
            where = index.dialect_options["postgresql"].get("where")
            if where is not None:
                found[str(index.name)] = str(where)
    return found


def _index_definition(name: str) -> str | None:
    if db.engine.dialect.name == "sqlite":
        sql = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"
    else:
        sql = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    with db.engine.connect() as connection:
        return connection.execute(text(sql), {"name": name}).scalar()


def test_there_is_a_single_head(tmp_path):
    app = create_app({"PORTAL_ENV": "testing", "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path)})
    with app.app_context():
        config = migrate.get_config()
        heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"migration heads: {heads}; add a merge revision"


def test_upgrade_check_and_downgrade(empty_database, tmp_path):
    app = create_app(
        {
            "PORTAL_ENV": "testing",
            "SECRET_KEY": "x",
            "INSTANCE_PATH": str(tmp_path),
            "SQLALCHEMY_DATABASE_URI": empty_database,
        }
    )
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {t.name for t in db.metadata.sorted_tables} <= tables
        # The models and the migrations describe the same schema (alembic check).
        check()
        # alembic check does not compare partial indexes' predicates: compare them here.
        for name, predicate in _partial_indexes().items():
            definition = _index_definition(name)
            assert definition is not None, f"{name} missing"
            # PostgreSQL prints the predicate in its own form: compare the words that matter.
            where = definition.partition(" WHERE ")[2]
            assert where, f"{name} is not partial: {definition}"
            assert set(re.findall(r"'(\w+)'", predicate)) == set(re.findall(r"'(\w+)'", where))
        downgrade(revision="base")
        remaining = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert remaining == set()
        upgrade()
        assert {t.name for t in db.metadata.sorted_tables} <= set(
            inspect(db.engine).get_table_names()
        )
        db.engine.dispose()
