"""``Store``: one connection to a memory's SQLite file, its transactions and ``meta`` table, and
the methods of each concern (items, conversations, links, digest state, vectors, health)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import memcli.store.state as state
from memcli.core.errors import MemcliError, is_database_error
from memcli.store.connection import connect, retry_locked
from memcli.store.conversations import ConversationsMixin
from memcli.store.digest_state import DigestStateMixin
from memcli.store.health import HealthMixin
from memcli.store.items import ItemsMixin
from memcli.store.links import LinksMixin
from memcli.store.migrations import apply as apply_migrations, pending as pending_migrations
from memcli.store.vectors import VectorsMixin

SCRUB_WAIT_MS = 2000  # how long scrub's WAL truncation waits for readers (see scrub)
AUTOCHECKPOINT_PAGES = 1000  # SQLite's default, while nobody replicates the memory


class Store(ItemsMixin, ConversationsMixin, LinksMixin, DigestStateMixin, VectorsMixin,
            HealthMixin):
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.conn = connect(self.path)
        self._depth = 0
        self._coarse_gen = 0  # bumped on every write to the coarse index by this connection
        self._coarse_cache: tuple | None = None  # ((data_version, gen), BitMatrix)
        self._autocheckpoint: bool | None = None
        try:
            self._follow_replication()
            if pending_migrations(self.conn):
                state.refuse_if_damaged(self.path)
            retry_locked(lambda: apply_migrations(self.conn))
        except MemcliError:
            self.conn.close()
            raise
        except Exception as exc:  # noqa: BLE001 - a file that is not SQLite, or a broken one
            self.conn.close()
            raise state.explain(self.path, exc) or MemcliError(
                f"cannot open memory database {self.path}: {exc}") from None

    def close(self) -> None:
        self.conn.close()

    def _follow_replication(self) -> None:
        """While `memcli replicate` runs, Litestream is the only process that checkpoints: this
        connection's automatic (PASSIVE) checkpoints are off, and back on once it stops.
        Two processes checkpointing the WAL while a third writes is the race of SQLite's
        WAL-reset bug (fixed in 3.51.3; Litestream 0.5.17 has 3.53.0, pysqlite3-binary ships
        3.51.1), and Litestream's guide asks for it too. Measured: restores of a replica
        taken under concurrent writes failed integrity_check 15 of 22 times with the
        writers' checkpoints on, 0 of 19 with them off (benchmarks/replica_checkpoints.py)."""
        on = not state.replicating(self.path)
        if on != self._autocheckpoint:
            self.conn.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES if on else 0}")
            self._autocheckpoint = on

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing; nests with savepoints. BEGIN IMMEDIATE so writers queue, not fail."""
        if self._depth == 0:
            state.refuse_if_damaged(self.path)
            self._follow_replication()
            try:
                # busy_timeout waits for other writers; SQLite still answers SQLITE_BUSY at once
                # while another process recovers the WAL (a Litestream restarted after a kill)
                retry_locked(lambda: self.conn.execute("BEGIN IMMEDIATE"))
            except Exception as exc:  # noqa: BLE001 - told as the file's state when it is one
                raise state.explain(self.path, exc) or exc from None
        else:
            self.conn.execute(f"SAVEPOINT sp{self._depth}")
        self._depth += 1
        try:
            yield
        except BaseException as exc:
            self._depth -= 1
            self._coarse_gen += 1  # a bit matrix loaded inside this transaction may hold its rows
            if self._depth == 0:
                if self.conn.in_transaction:  # SQLite may have rolled back itself (corruption)
                    self.conn.execute("ROLLBACK")
                err = state.explain(self.path, exc) if is_database_error(exc) else None
                if err is not None:
                    raise err from None
            else:
                self.conn.execute(f"ROLLBACK TO sp{self._depth}")
                self.conn.execute(f"RELEASE sp{self._depth}")
            raise
        else:
            self._depth -= 1
            if self._depth == 0:
                try:
                    self.conn.execute("COMMIT")
                except Exception as exc:  # noqa: BLE001
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise state.explain(self.path, exc) or exc from None
            else:
                self.conn.execute(f"RELEASE sp{self._depth}")

    def scrub(self) -> bool:
        """After deletes that must leave no copies (``forget``): give freed pages back (an
        incremental vacuum, on files created with auto_vacuum) and copy the WAL into the file and
        truncate it, so no old page survives there. secure_delete has already zeroed the freed
        space. False when another connection's open read kept the WAL from being emptied, or
        when called inside a transaction (the caller's outermost one must end first)."""
        if self._depth:
            return False
        self.conn.execute("PRAGMA incremental_vacuum").fetchall()
        # A TRUNCATE checkpoint waits (busy timeout) for every reader to leave the WAL, and new
        # writers wait behind it. `memcli replicate`'s Litestream holds a read transaction all
        # the time: wait briefly, never the full 30 s; its own checkpoints empty the WAL later.
        (wait,) = self.conn.execute("PRAGMA busy_timeout").fetchone()
        self.conn.execute(f"PRAGMA busy_timeout = {SCRUB_WAIT_MS}")
        try:
            busy, _, _ = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {int(wait)}")
        return busy == 0

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))
