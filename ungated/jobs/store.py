"""Connecting to the store and bringing its schema up to date.

SQLite (the default, a file under the data directory) runs in WAL mode so readers never wait for
the writer; write transactions take the lock up front (BEGIN IMMEDIATE), so two processes never
deadlock upgrading a read to a write. PostgreSQL is used as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from .. import settings
from ..errors import UngatedError

MIGRATIONS = Path(__file__).with_name("migrations")


def default_url() -> str:
    return f"sqlite:///{settings.home() / 'ungated.db'}"


def check_url(url: str) -> str:
    """The URL as SQLAlchemy needs it, or a one-line error naming what is supported."""
    try:
        parsed = make_url(url)
    except Exception:
        raise UngatedError(f"--db: not a database URL: {url!r} (use sqlite:///PATH or postgresql://...)") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise UngatedError(f"--db: {parsed.get_backend_name()} is not supported (use sqlite:///PATH or postgresql://...)")
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, installed with ungated
    return parsed.render_as_string(hide_password=False)


class Store:
    def __init__(self, url: str | None = None):
        self.url = check_url(url or default_url())
        self.sqlite = self.url.startswith("sqlite")
        if self.sqlite:
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(self.url, connect_args={"timeout": 30})
            _sqlite_setup(self.engine)
        else:  # a server that went away is noticed before a request uses its connection, and an
            # unreachable one within seconds unless the URL says otherwise (outages.py tells callers what it means)
            timeout = {} if "connect_timeout" in make_url(self.url).query else {"connect_timeout": 10}
            self.engine = create_engine(self.url, pool_pre_ping=True, connect_args=timeout)
        self._writer = self.engine.execution_options(write=True)

    @contextmanager
    def write(self, durable: bool = True) -> Iterator[Session]:
        """A session whose work commits together at the end (or not at all). durable=False lets
        PostgreSQL acknowledge the commit before it is on disk: for writes whose loss in a database
        crash is harmless (a claim or a lease renewal: the job just goes back to the queue)."""
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            if not durable and not self.sqlite:
                session.execute(text("SET LOCAL synchronous_commit = off"))
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    def migrate(self) -> None:
        """Bring the schema to the newest revision (safe to run from several processes at once)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self._writer.connect() as connection:
            if not self.sqlite:  # one migrator at a time; SQLite's BEGIN IMMEDIATE already is
                connection.execute(text("SELECT pg_advisory_xact_lock(7242)"))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(connection, _record) -> None:
        connection.isolation_level = None  # SQLAlchemy's "begin" event below issues BEGIN itself
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")  # favourites go with their video
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get("write") else "BEGIN")
