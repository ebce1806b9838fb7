"""The stand-in's database layer: the same SQL on SQLite or PostgreSQL.

Every public method runs in exactly one transaction and counts it, so
``transactions`` can be compared with PostgreSQL's ``pg_stat_database.xact_commit``.
SQL is written with ``%s`` placeholders; SQLite gets them rewritten to ``?``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import gevent.lock
import gevent.queue

from loadkit.errors import RunError

from ..redact import redact

__all__ = ["SEED_TICKETS", "PostgresStore", "SqliteStore", "Store", "Tx", "open_store"]

SEED_TICKETS = 500
_SEED_EPOCH = 1_700_000_000.0
_PG_POOL_SIZE = 8
_PG_SETUP_LOCK = 0x5E1D_57A1  # pg_advisory_xact_lock key: concurrent stand-ins seed one at a time

FAQ = [
    ("refund", "How do I ask for a refund?", "Open a ticket with your order number."),
    ("refund", "How long does a refund take?", "Refunds reach your card in 5 to 10 days."),
    ("refund", "Can I get a refund for a digital item?", "Yes, within 14 days if unused."),
    ("login", "I forgot my password", "Use 'Forgot password' on the login page."),
    ("login", "Why is my account locked?", "Five failed logins lock it for 15 minutes."),
    ("login", "How do I turn on two-factor login?", "Settings, Security, Two-factor."),
    ("login", "Can I change my login email?", "Yes, under Settings, Account."),
    ("shipping", "Where is my parcel?", "The tracking link is in your shipping email."),
    ("shipping", "Do you ship abroad?", "We ship to 40 countries; see the shipping page."),
    ("shipping", "How much does shipping cost?", "Free above 50 EUR, else 4.90 EUR."),
    ("shipping", "Can I change the shipping address?", "Only before the order ships."),
    ("invoice", "Where do I find my invoice?", "Every invoice is under Orders, Invoices."),
    ("invoice", "Can I add a VAT number to an invoice?", "Yes, before the invoice is issued."),
    ("invoice", "My invoice shows the wrong address", "Open a ticket; we reissue it."),
    ("account", "How do I delete my account?", "Settings, Account, Delete account."),
    ("account", "How do I export my data?", "Settings, Privacy, Export."),
    ("payment", "Which payment methods do you accept?", "Cards, PayPal and bank transfer."),
    ("payment", "My payment failed", "Check the card limit, then retry or use another method."),
    ("order", "How do I cancel an order?", "Orders, select the order, Cancel."),
    ("order", "Can I add items to a placed order?", "No; place a second order instead."),
]

_TICKET_STATUSES = ("open", "pending", "closed")
_TICKET_COLUMNS = "id, subject, body, status, created_at"

_FAQ_TABLE = (
    "CREATE TABLE IF NOT EXISTS standin_faq (id INTEGER PRIMARY KEY, topic TEXT NOT NULL,"
    " question TEXT NOT NULL, answer TEXT NOT NULL)"
)
_TICKETS_TABLE = (
    "CREATE TABLE IF NOT EXISTS standin_tickets (id {id_type} PRIMARY KEY,"
    " subject TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL,"
    " created_at DOUBLE PRECISION NOT NULL)"
)


class Tx:
    """One open transaction; counts every statement so cache on/off shows in the metrics."""

    def __init__(self, store: Store, cursor: Any) -> None:
        self._store = store
        self._cursor = cursor

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Execute one statement and return its rows (none for plain writes)."""
        self._store.queries += 1
        self._cursor.execute(self._store.dialect(sql), params)
        return self._cursor.fetchall() if self._cursor.description else []

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._store.queries += 1
        self._cursor.executemany(self._store.dialect(sql), rows)


class Store:
    """Helpdesk data access; subclasses only say how to get a cursor inside a transaction."""

    kind = ""
    id_type = ""

    def __init__(self) -> None:
        self.queries = 0
        self.transactions = 0

    def dialect(self, sql: str) -> str:
        """Adapt the ``%s``-style SQL to the driver."""
        return sql

    @contextmanager
    def _cursor_in_transaction(self) -> Iterator[Any]:  # pragma: no cover - abstract
        raise NotImplementedError
        yield

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One transaction, committed (and counted) if the block succeeds."""
        with self._cursor_in_transaction() as cursor:
            yield Tx(self, cursor)
        self.transactions += 1

    def setup(self) -> None:
        """Create the tables if missing and seed them; safe to repeat."""
        faq = [(i, *row) for i, row in enumerate(FAQ, start=1)]
        tickets = [
            (
                i,
                f"Seed ticket {i}: {FAQ[i % len(FAQ)][0]} question",
                FAQ[i % len(FAQ)][1],
                _TICKET_STATUSES[i % len(_TICKET_STATUSES)],
                _SEED_EPOCH + i,
            )
            for i in range(1, SEED_TICKETS + 1)
        ]
        with self.transaction() as tx:
            self._before_setup(tx)
            tx.run(_FAQ_TABLE)
            tx.run(_TICKETS_TABLE.format(id_type=self.id_type))
            tx.many(
                "INSERT INTO standin_faq (id, topic, question, answer) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (id) DO NOTHING",
                faq,
            )
            tx.many(
                f"INSERT INTO standin_tickets ({_TICKET_COLUMNS}) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO NOTHING",
                tickets,
            )
            self._after_setup(tx)

    def search_faq(self, query: str) -> list[dict[str, Any]]:
        """FAQ entries whose topic, question or answer contains ``query`` (any case)."""
        escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped.lower()}%"
        like = "LIKE %s ESCAPE '\\'"
        with self.transaction() as tx:
            rows = tx.run(
                "SELECT id, topic, question, answer FROM standin_faq"
                f" WHERE lower(topic) {like} OR lower(question) {like} OR lower(answer) {like}"
                " ORDER BY id",
                (pattern, pattern, pattern),
            )
        return [dict(zip(("id", "topic", "question", "answer"), row, strict=True)) for row in rows]

    def create_ticket(self, subject: str, body: str) -> dict[str, Any]:
        with self.transaction() as tx:
            rows = tx.run(
                "INSERT INTO standin_tickets (subject, body, status, created_at)"
                f" VALUES (%s, %s, 'open', %s) RETURNING {_TICKET_COLUMNS}",
                (subject, body, time.time()),
            )
        return _ticket(rows[0])

    def get_ticket(self, ticket_id: int) -> dict[str, Any] | None:
        with self.transaction() as tx:
            rows = tx.run(f"SELECT {_TICKET_COLUMNS} FROM standin_tickets WHERE id = %s", (ticket_id,))
        return _ticket(rows[0]) if rows else None

    def list_tickets(self, limit: int) -> list[dict[str, Any]]:
        """Newest first."""
        with self.transaction() as tx:
            rows = tx.run(
                f"SELECT {_TICKET_COLUMNS} FROM standin_tickets ORDER BY id DESC LIMIT %s",
                (limit,),
            )
        return [_ticket(row) for row in rows]

    def close(self) -> None:
        """Release connections."""

    def _before_setup(self, tx: Tx) -> None:
        """Hook: e.g. take a lock so concurrent stand-ins don't race on CREATE TABLE."""

    def _after_setup(self, tx: Tx) -> None:
        """Hook: e.g. move a sequence past the seeded ids."""


def _ticket(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(("id", "subject", "body", "status", "created_at"), row, strict=True))


class SqliteStore(Store):
    """One in-memory connection. gevent runs one greenlet at a time and sqlite3 calls never
    yield, so transactions can't interleave; the lock only makes that explicit and safe."""

    kind = "sqlite"
    id_type = "INTEGER"  # SQLite's rowid alias; numbers grow past the seeded ids

    def __init__(self) -> None:
        super().__init__()
        self._conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._lock = gevent.lock.RLock()

    def dialect(self, sql: str) -> str:
        return sql.replace("%s", "?")

    @contextmanager
    def _cursor_in_transaction(self) -> Iterator[Any]:
        with self._lock:
            cursor = self._conn.cursor()
            cursor.execute("BEGIN")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            else:
                cursor.execute("COMMIT")
            finally:
                cursor.close()

    def close(self) -> None:
        self._conn.close()


class PostgresStore(Store):
    """A small pool of psycopg connections handed out through a gevent queue.

    With gevent's monkey patching in place (the ``python -m loadkit.standin`` entry point
    does it first), psycopg waits cooperatively, so requests overlap their queries.
    Without it each query blocks the process: slower, still correct.
    """

    kind = "postgresql"
    id_type = "BIGSERIAL"

    def __init__(self, dsn: str, pool_size: int = _PG_POOL_SIZE) -> None:
        super().__init__()
        import psycopg  # only the PostgreSQL backend needs it; imported after any patching

        self._psycopg = psycopg
        self._dsn = dsn
        self._idle: gevent.queue.Queue = gevent.queue.Queue()
        self._slots = gevent.lock.BoundedSemaphore(pool_size)
        self._idle.put(self._connect())  # fail at startup, not on the first request

    def _connect(self) -> Any:
        try:
            return self._psycopg.connect(self._dsn, autocommit=True, connect_timeout=10)
        except self._psycopg.Error as exc:
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            raise RunError(f"standin cannot connect to {redact(self._dsn)}: {lines[0]}") from None

    @contextmanager
    def _cursor_in_transaction(self) -> Iterator[Any]:
        with self._slots:
            conn = self._idle.get_nowait() if not self._idle.empty() else self._connect()
            try:
                with conn.transaction(), conn.cursor() as cursor:
                    yield cursor
            finally:
                # A connection that broke or is stuck mid-transaction is dropped, not reused.
                idle = self._psycopg.pq.TransactionStatus.IDLE
                if not conn.closed and conn.info.transaction_status == idle:
                    self._idle.put(conn)
                else:
                    conn.close()

    def _before_setup(self, tx: Tx) -> None:
        tx.run("SELECT pg_advisory_xact_lock(%s)", (_PG_SETUP_LOCK,))

    def _after_setup(self, tx: Tx) -> None:
        tx.run(
            "SELECT setval(pg_get_serial_sequence('standin_tickets', 'id'),"
            " (SELECT GREATEST(max(id), 1) FROM standin_tickets))"
        )

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()


def open_store(db: str, pool_size: int = _PG_POOL_SIZE) -> Store:
    """Connect to ``db`` ("sqlite" or a PostgreSQL DSN), create and seed the tables."""
    store: Store = SqliteStore() if db == "sqlite" else PostgresStore(db, pool_size)
    store.setup()
    return store
