"""Links between items, provenance (``item_sources``: a derived item → the items it rests on) and
the change history of derived notes."""

from __future__ import annotations

import json
from typing import Iterable, Sequence

from memcli.core.timeutil import now_iso
from memcli.store.sql import chunks, row_dicts


class LinksMixin:
    # ---- links ----------------------------------------------------------------------------------
    def add_link(self, src_id: int, dst_id: int | None, *, target: str | None = None,
                 type: str = "related", reason: str | None = None) -> None:
        self.conn.execute(
            "INSERT INTO links(src_id, dst_id, target, type, reason, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(src_id, target, type) DO UPDATE SET "
            "dst_id = COALESCE(excluded.dst_id, dst_id), reason = COALESCE(excluded.reason, reason)",
            (src_id, dst_id, target if target is not None else str(dst_id), type, reason, now_iso()))

    def links_of(self, item_id: int) -> list[dict]:
        return row_dicts(self.conn.execute(
            "SELECT l.dst_id AS id, l.target, l.type, l.reason, i.title, i.kind FROM links l "
            "LEFT JOIN items i ON i.id = l.dst_id WHERE l.src_id = ? ORDER BY l.rowid", (item_id,)))

    def backlinks_of(self, item_id: int) -> list[dict]:
        return row_dicts(self.conn.execute(
            "SELECT l.src_id AS id, l.type, l.reason, i.title, i.kind FROM links l "
            "JOIN items i ON i.id = l.src_id WHERE l.dst_id = ? ORDER BY l.rowid", (item_id,)))

    def linked_ids(self, ids: Sequence[int]) -> dict[int, list[tuple[int, str]]]:
        """Both directions of resolved links: id → [(other id, type)]."""
        out: dict[int, list[tuple[int, str]]] = {}
        for chunk, q in chunks(ids, 400):  # each id is bound twice
            members = set(chunk)
            for a, b, t in self.conn.execute(
                    f"SELECT src_id, dst_id, type FROM links WHERE dst_id IS NOT NULL AND "
                    f"(src_id IN ({q}) OR dst_id IN ({q}))", chunk + chunk):
                if a in members:
                    out.setdefault(a, []).append((b, t))
                if b in members:
                    out.setdefault(b, []).append((a, t))
        return out

    def unresolved_links(self) -> list[dict]:
        return row_dicts(self.conn.execute(
            "SELECT rowid, src_id, target, type, reason FROM links WHERE dst_id IS NULL"))

    def resolve_link(self, rowid: int, dst_id: int) -> None:
        self.conn.execute("UPDATE links SET dst_id = ? WHERE rowid = ?", (dst_id, rowid))

    def detach_links_to(self, ids: Sequence[int]) -> None:
        """Make links that point at these items unresolved again (before the items are replaced),
        so the foreign key's ON DELETE CASCADE does not drop other notes' links."""
        for chunk, q in chunks(ids):
            self.conn.execute(f"UPDATE links SET dst_id = NULL WHERE dst_id IN ({q})", chunk)

    # ---- provenance -----------------------------------------------------------------------------
    def add_sources(self, item_id: int, source_ids: Iterable[int]) -> None:
        self.conn.executemany(
            "INSERT OR IGNORE INTO item_sources(item_id, source_id) VALUES (?, ?)",
            [(item_id, s) for s in source_ids])

    def sources_of(self, item_id: int) -> list[int]:
        return [r[0] for r in self.conn.execute(
            "SELECT source_id FROM item_sources WHERE item_id = ? ORDER BY source_id", (item_id,))]

    def sources_map(self, ids: Sequence[int]) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for chunk, q in chunks(ids):
            for item_id, src in self.conn.execute(
                    f"SELECT item_id, source_id FROM item_sources WHERE item_id IN ({q}) "
                    "ORDER BY source_id", chunk):
                out.setdefault(item_id, []).append(src)
        return out

    def derived_from(self, source_id: int) -> list[int]:
        return [r[0] for r in self.conn.execute(
            "SELECT item_id FROM item_sources WHERE source_id = ?", (source_id,))]

    # ---- note history ---------------------------------------------------------------------------
    def add_history(self, item_id: int, field: str, old, new, reason: str | None = None) -> None:
        def enc(v):
            return v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False)

        self.conn.execute(
            "INSERT INTO note_history(item_id, changed_at, field, old_value, new_value, reason) "
            "VALUES (?,?,?,?,?,?)", (item_id, now_iso(), field, enc(old), enc(new), reason))

    def history_of(self, item_id: int) -> list[dict]:
        return row_dicts(self.conn.execute(
            "SELECT changed_at, field, old_value, new_value, reason FROM note_history "
            "WHERE item_id = ? ORDER BY id", (item_id,)))
