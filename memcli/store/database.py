"""``Store``: one connection to a memory's SQLite file, its transactions and ``meta`` table, and
the methods of each concern (items, conversations, links, digest state, vectors, health)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from memcli.core.errors import MemcliError
from memcli.store.connection import connect, retry_locked
from memcli.store.conversations import ConversationsMixin
from memcli.store.digest_state import DigestStateMixin
from memcli.store.health import HealthMixin
from memcli.store.items import ItemsMixin
from memcli.store.links import LinksMixin
from memcli.store.migrations import apply as apply_migrations
from memcli.store.vectors import VectorsMixin


class Store(ItemsMixin, ConversationsMixin, LinksMixin, DigestStateMixin, VectorsMixin,
            HealthMixin):
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.conn = connect(self.path)
        self._depth = 0
        self._coarse_gen = 0  # bumped on every write to the coarse index by this connection
        self._coarse_cache: tuple | None = None  # ((data_version, gen), BitMatrix)
        try:
            retry_locked(lambda: apply_migrations(self.conn))
        except Exception as exc:  # noqa: BLE001 - a file that is not SQLite, or a broken one
            self.conn.close()
            raise MemcliError(f"cannot open memory database {self.path}: {exc}") from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing; nests with savepoints. BEGIN IMMEDIATE so writers queue, not fail."""
        if self._depth == 0:
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            self.conn.execute(f"SAVEPOINT sp{self._depth}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            self._coarse_gen += 1  # a bit matrix loaded inside this transaction may hold its rows
            if self._depth == 0:
                self.conn.execute("ROLLBACK")
            else:
                self.conn.execute(f"ROLLBACK TO sp{self._depth}")
                self.conn.execute(f"RELEASE sp{self._depth}")
            raise
        else:
            self._depth -= 1
            if self._depth == 0:
                self.conn.execute("COMMIT")
            else:
                self.conn.execute(f"RELEASE sp{self._depth}")

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))
