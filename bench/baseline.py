"""The ceiling of the portal's own stack: a bare Flask app answering a constant, and the same
with Flask-SQLAlchemy inserting one row into the portal's database, served by gunicorn with the
portal's settings (`gunicorn -c deploy/gunicorn.conf.py 'bench.baseline:create_app()'`)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class BaselineRow(db.Model):  # type: ignore[name-defined]
    __tablename__ = "bench_baseline_row"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(String(100))


def create_app() -> Flask:
    app = Flask(__name__)
    url = os.environ.get("DATABASE_URL", "")
    app.config["SQLALCHEMY_DATABASE_URI"] = url.replace("postgresql://", "postgresql+psycopg://")
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}  # as the portal's
    db.init_app(app)

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    @app.get("/hello")
    def hello() -> str:
        return "Hello, DP0"

    @app.post("/insert")
    def insert() -> str:
        db.session.add(BaselineRow(created_at=datetime.now(UTC), note="baseline"))
        db.session.commit()
        return "inserted"

    return app
