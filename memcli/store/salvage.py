"""Copy what can still be read out of a damaged memory into a fresh memcli database.

SQLite's ``.recover`` is a shell command, not part of the Python API. This reads each table of
the old file in rowid order, in batches; where a read fails (a damaged page), it skips ahead in
growing steps until rows read again, so only the rows of the damaged pages are lost. The rows go
into a new database made by ``Store`` (current schema and migrations); the full-text, gram and
coarse vector indexes are rebuilt from them, and vectors that cannot be read are left for
``memcli doctor --fix`` to embed again."""

from __future__ import annotations

import os
from pathlib import Path

from memcli.core.errors import MemcliError
from memcli.store.connection import connect
from memcli.store.vectors import VEC_TABLE

# in dependency order (conversations before the items in them, items before what points at them)
TABLES = ("meta", "conversations", "items", "item_tags", "links", "item_sources", "note_history",
          "digest_state")


def _columns(conn, table: str) -> list[str]:
    try:
        return [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
    except Exception:  # noqa: BLE001 - a damaged schema: nothing of this table can be read
        return []


def _read(conn, table: str, cols: list[str], counter: dict):
    """The rows of ``table`` in rowid order. A read that fails (a damaged page) is stepped over:
    the scan resumes after rowid + 1, + 2, + 4, … until rows read again; ``counter["failed"]``
    counts the failed reads."""
    col_sql = ", ".join(f'"{c}"' for c in cols)
    last, step = None, 1
    while True:
        try:
            cur = conn.execute(f'SELECT rowid, {col_sql} FROM "{table}"'
                               + (" WHERE rowid > ?" if last is not None else "")
                               + " ORDER BY rowid", () if last is None else (last,))
            for row in cur:
                last, step = row[0], 1
                yield row[1:]
            return
        except Exception:  # noqa: BLE001 - a damaged page: step over it
            counter["failed"] = counter.get("failed", 0) + 1
            if step > 2 ** 40 or (last or 0) > 2 ** 62:
                return
            last, step = (last or 0) + step, step * 2


def salvage_into(src: Path, dest: Path) -> dict:
    """Copy the readable rows of the memory ``src`` into a new memory at ``dest``."""
    from memcli.store.database import Store

    if dest.exists():
        raise MemcliError(f"{dest} already exists; salvage writes a new file")
    try:
        old = connect(src, readonly=True)
    except MemcliError as exc:
        raise MemcliError(f"nothing can be read from {src} ({exc}); try "
                          f"`sqlite3 {src} .recover | sqlite3 {dest}`") from None
    report: dict = {"path": str(dest), "source": str(src), "tables": {}, "damaged_reads": 0}
    new = Store(dest)
    try:
        new.conn.execute("PRAGMA foreign_keys = OFF")  # rows whose parent was lost: fixed below
        with new.transaction():
            for table in TABLES:
                cols = [c for c in _columns(old, table) if c in set(_columns(new.conn, table))]
                counter: dict = {}
                if cols:
                    sql = (f'INSERT OR IGNORE INTO "{table}" ({", ".join(cols)}) '
                           f"VALUES ({', '.join('?' * len(cols))})")
                    new.conn.executemany(sql, _read(old, table, cols, counter))
                report["tables"][table] = new.conn.execute(
                    f'SELECT count(*) FROM "{table}"').fetchone()[0]
                report["damaged_reads"] += counter.get("failed", 0)
            for o in new.foreign_key_orphans():
                new.fix_orphan(o["table"], o["rowid"], o["column"], o["on_delete"])
            ids = [r[0] for r in new.conn.execute("SELECT id FROM items ORDER BY id")]
            new.rewrite_fts(ids)
            report["vectors"] = _copy_vectors(old, new, ids)
        new.conn.execute("PRAGMA foreign_keys = ON")
        errors = new.integrity_errors()
        if errors:
            raise MemcliError(f"the salvaged copy failed its integrity check: {errors[0]}")
        report["items"] = len(ids)
    except BaseException:
        new.close()
        old.close()
        for p in (dest, Path(f"{dest}-wal"), Path(f"{dest}-shm")):
            try:
                p.unlink()
            except OSError:
                pass
        raise
    new.scrub()
    new.close()
    old.close()
    os.chmod(dest, 0o600)
    report["size_bytes"] = dest.stat().st_size
    return report


def _copy_vectors(old, new, ids: list[int]) -> int:
    """The readable vectors of these items, and the coarse index derived from them."""
    import numpy as np

    model = new.vector_model()
    if model is None or not ids:
        return 0
    try:
        old.execute(f"SELECT 1 FROM {VEC_TABLE} LIMIT 1").fetchall()
    except Exception:  # noqa: BLE001 - no vector table, or its pages are gone
        return 0
    new._create_vec_table(model[1])
    got = []
    for item_id in ids:
        try:
            row = old.execute(f"SELECT embedding FROM {VEC_TABLE} WHERE item_id = ?",
                              (item_id,)).fetchone()
        except Exception:  # noqa: BLE001 - a damaged vector chunk
            continue
        if row is not None and len(row[0]) == 4 * model[1]:
            got.append((item_id, np.frombuffer(row[0], dtype=np.float32)))
    new.put_vectors(got)
    return len(got)
