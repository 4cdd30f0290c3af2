"""Checks and repairs (SQLite's integrity, foreign keys, the FTS index, the vectors and the coarse
index), and copies of the database made with SQLite's online backup API."""

from __future__ import annotations

import os
import re
from typing import Sequence

import memcli.store.state as state
import memcli.store.vecindex as vx
from memcli.core.scripts import has_unsegmented
from memcli.store.connection import connect, sqlite_module
from memcli.store.migrations import GRAMS_TABLE
from memcli.store.sql import chunks
from memcli.store.vectors import VEC_TABLE


def verify_copy(path: str | os.PathLike) -> tuple[list[str], int]:
    """Open a database file read-only: its ``PRAGMA integrity_check`` errors ([] when healthy)
    and how many items it holds."""
    conn = connect(path, readonly=True)
    try:
        errors = [line for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"
                  for line in str(r[0]).splitlines() if line and not line.startswith("***")]
        items = conn.execute("SELECT count(*) FROM items").fetchone()[0]
    finally:
        conn.close()
    return errors, items


class HealthMixin:
    # ---- SQLite -----------------------------------------------------------------------------------
    def integrity_errors(self) -> list[str]:
        """PRAGMA integrity_check plus FTS5's own index check; [] when healthy."""
        errors = [line for r in self.conn.execute("PRAGMA integrity_check") if r[0] != "ok"
                  for line in str(r[0]).splitlines() if line and not line.startswith("***")]
        for table, what in (("items_fts", "full-text index"), (GRAMS_TABLE, "gram index")):
            try:
                self.conn.execute(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")
            except Exception as exc:  # noqa: BLE001 - SQLITE_CORRUPT_VTAB: the index disagrees with its content
                if not state.is_readonly(exc):  # a read-only file is not a broken index
                    errors.append(f"{what}: {exc}")
        return errors

    # ---- the file's state (store/state.py) ------------------------------------------------------
    def unwritable(self) -> str | None:
        """What keeps memcli from writing the file (mode, owner, directory), or None."""
        return state.unwritable(self.path)

    def is_marked_damaged(self) -> bool:
        return state.damage_marker(self.path).exists()

    def mark_damaged(self, what: str) -> None:
        state.mark_damaged(self.path, what)

    def clear_damaged(self) -> bool:
        return state.clear_damaged(self.path)

    def reindex_btrees(self) -> None:
        """REINDEX: rebuilds every ordinary index (repairs 'row missing from index' damage)."""
        self.conn.execute("REINDEX")

    def foreign_key_orphans(self) -> list[dict]:
        """Rows whose foreign key points at a row that no longer exists."""
        out = []
        for table, rowid, parent, fkid in self.conn.execute("PRAGMA foreign_key_check").fetchall():
            fk = [r for r in self.conn.execute(f'PRAGMA foreign_key_list("{table}")') if r[0] == fkid]
            out.append({"table": table, "rowid": rowid, "parent": parent,
                        "column": fk[0][3] if fk else None,
                        "on_delete": fk[0][6] if fk else None})
        return out

    def fix_orphan(self, table: str, rowid: int, column: str | None, on_delete: str | None) -> str:
        """Repair one orphan: NULL the dangling reference where that keeps data (always for
        items: a message outlives a lost conversation row), else delete the row."""
        if rowid is None:
            return "skipped"
        if column and (table == "items" or on_delete == "SET NULL"):
            self.conn.execute(f'UPDATE "{table}" SET "{column}" = NULL WHERE rowid = ?', (rowid,))
            return "unlinked"
        self.conn.execute(f'DELETE FROM "{table}" WHERE rowid = ?', (rowid,))
        return "deleted"

    # ---- the full-text index --------------------------------------------------------------------
    def fts_inconsistencies(self) -> dict[str, list[int]]:
        """Items with no FTS row, FTS rows with no item, FTS rows whose text/title/tags differ."""
        missing = [r[0] for r in self.conn.execute(
            "SELECT id FROM items WHERE NOT EXISTS "
            "(SELECT 1 FROM items_fts WHERE items_fts.rowid = items.id) ORDER BY id")]
        extra = [r[0] for r in self.conn.execute(
            "SELECT rowid FROM items_fts WHERE rowid NOT IN (SELECT id FROM items) ORDER BY rowid")]
        stale = [r[0] for r in self.conn.execute(
            "SELECT i.id FROM items i JOIN items_fts f ON f.rowid = i.id "
            "WHERE f.text IS NOT i.text OR f.title IS NOT COALESCE(i.title, '') "
            "OR f.tags IS NOT COALESCE((SELECT group_concat(tag, ' ') FROM "
            "(SELECT tag FROM item_tags WHERE item_id = i.id ORDER BY tag)), '') ORDER BY i.id")]
        return {"missing": missing, "extra": extra, "stale": stale}

    def gram_inconsistencies(self) -> dict[str, list[int]]:
        """Items with unsegmented-script text (core/scripts.py) but no gram row, gram rows with
        no such item (the table is contentless: its text cannot be compared)."""
        have = {r[0] for r in self.conn.execute(f"SELECT rowid FROM {GRAMS_TABLE}")}
        want: set[int] = set()
        for item_id, title, text, tags in self.conn.execute(
                "SELECT id, title, text, (SELECT group_concat(tag, ' ') FROM item_tags "
                "WHERE item_id = items.id) FROM items"):
            if has_unsegmented(title or "") or has_unsegmented(text) or has_unsegmented(tags or ""):
                want.add(item_id)
        return {"missing": sorted(want - have), "extra": sorted(have - want)}

    def rewrite_fts(self, ids: Sequence[int]) -> None:
        """(Re)write the FTS and gram rows of these items from the items table; drop rows of
        gone ids."""
        for item_id in ids:
            self.conn.execute("DELETE FROM items_fts WHERE rowid = ?", (item_id,))
            self.conn.execute(f"DELETE FROM {GRAMS_TABLE} WHERE rowid = ?", (item_id,))
            row = self.conn.execute("SELECT title, text FROM items WHERE id = ?",
                                    (item_id,)).fetchone()
            if row is None:
                continue
            tags = [r[0] for r in self.conn.execute(
                "SELECT tag FROM item_tags WHERE item_id = ? ORDER BY tag", (item_id,))]
            self.conn.execute("INSERT INTO items_fts(rowid, title, text, tags) VALUES (?, ?, ?, ?)",
                              (item_id, row[0] or "", row[1], " ".join(tags)))
            self._put_grams(item_id, row[0], row[1], " ".join(tags), new=True)

    def rebuild_fts(self) -> None:
        """Rebuild the whole FTS5 index from its stored content (repairs a corrupt index), and
        the gram index from the items."""
        self.conn.execute("INSERT INTO items_fts(items_fts) VALUES ('rebuild')")
        self.conn.execute(f"INSERT INTO {GRAMS_TABLE}({GRAMS_TABLE}) VALUES ('delete-all')")
        for item_id in self.gram_inconsistencies()["missing"]:
            row = self.conn.execute(
                "SELECT title, text, (SELECT group_concat(tag, ' ') FROM item_tags "
                "WHERE item_id = items.id) FROM items WHERE id = ?", (item_id,)).fetchone()
            self._put_grams(item_id, row[0], row[1], row[2] or "", new=True)

    # ---- the vectors ----------------------------------------------------------------------------
    def vec_table_dim(self) -> int | None:
        row = self.conn.execute("SELECT sql FROM sqlite_master WHERE name = ?",
                                (VEC_TABLE,)).fetchone()
        m = re.search(r"float\[(\d+)\]", row[0] or "") if row else None
        return int(m.group(1)) if m else None

    def vec_inconsistencies(self) -> dict[str, list[int]]:
        """Items with no vector, vectors with no item, vectors whose filter columns are stale."""
        if not self.has_vec_table():
            return {"missing": [r[0] for r in self.conn.execute("SELECT id FROM items ORDER BY id")],
                    "extra": [], "stale": []}
        items = {r[0]: (r[1], r[2], r[3]) for r in self.conn.execute(
            "SELECT id, kind, source, created_at FROM items")}
        vecs = {r[0]: (r[1], r[2], r[3]) for r in self.conn.execute(
            f"SELECT item_id, kind, source, created_at FROM {VEC_TABLE}")}
        return {"missing": sorted(set(items) - set(vecs)),
                "extra": sorted(set(vecs) - set(items)),
                "stale": sorted(i for i in set(items) & set(vecs) if items[i] != vecs[i])}

    def coarse_inconsistencies(self) -> dict[str, list[int]]:
        """Vectors missing from the coarse index, and coarse entries with no vector."""
        vecs = ({r[0] for r in self.conn.execute(f"SELECT item_id FROM {VEC_TABLE}")}
                if self.has_vec_table() else set())
        f16 = {r[0] for r in self.conn.execute("SELECT item_id FROM vec_f16")}
        bits: set[int] = set()
        for chunk, blob in self.conn.execute("SELECT chunk, bits FROM vec_bits"):
            bits.update(vx.chunk_ids(blob, chunk))
        return {"missing": sorted(vecs - (f16 & bits)), "extra": sorted((f16 | bits) - vecs)}

    def rebuild_coarse(self, missing: Sequence[int], extra: Sequence[int]) -> None:
        """Repair the coarse index from the float vectors: derive the ``missing`` entries, drop
        the ``extra`` ones (see ``coarse_inconsistencies``)."""
        import numpy as np

        self._coarse_drop(list(extra))
        for chunk, q in chunks(int(i) for i in missing):
            rows = self.conn.execute(
                f"SELECT item_id, embedding FROM {VEC_TABLE} WHERE item_id IN ({q})",
                chunk).fetchall()
            self.coarse_add([(r[0], np.frombuffer(r[1], dtype=np.float32)) for r in rows])

    # ---- copies ---------------------------------------------------------------------------------
    def backup_to(self, dest: str | os.PathLike) -> None:
        """Copy the live database into ``dest`` with SQLite's online backup API: one consistent
        snapshot even while other processes write (WAL readers never block writers). The copy is
        switched to a rollback journal so it is one self-contained file."""
        target = sqlite_module().connect(str(dest), isolation_level=None)
        try:
            self.conn.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
