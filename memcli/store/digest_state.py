"""What digest has processed, the derived notes it made, and facts superseding facts."""

from __future__ import annotations

from typing import Sequence

from memcli.core.text import normalize_tag
from memcli.core.timeutil import now_iso
from memcli.store.items import content_hash
from memcli.store.sql import marks, row_dicts


class DigestStateMixin:
    # ---- progress -------------------------------------------------------------------------------
    def digest_pending_conversations(self, limit: int | None = None) -> list[tuple[int, int]]:
        """(conversation id, last digested position) for conversations with undigested messages."""
        sql = ("SELECT c.id, COALESCE(d.upto, -1) FROM conversations c LEFT JOIN digest_state d "
               "ON d.scope = 'conversation' AND d.ref_id = c.id WHERE EXISTS (SELECT 1 FROM items i "
               "WHERE i.conversation_id = c.id AND i.kind = 'message' AND "
               "COALESCE(i.position, 0) > COALESCE(d.upto, -1)) ORDER BY c.id")
        rows = self.conn.execute(sql + (" LIMIT ?" if limit else ""),
                                 (limit,) if limit else ()).fetchall()
        return [(r[0], r[1]) for r in rows]

    def digest_pending_items(self, kinds: Sequence[str], limit: int | None = None) -> list[dict]:
        """Standalone (not in a conversation) verbatim items of these kinds not yet digested."""
        sql = (f"SELECT * FROM items i WHERE i.kind IN ({marks(kinds)}) AND "
               "i.conversation_id IS NULL AND i.source != 'digest' AND NOT EXISTS "
               "(SELECT 1 FROM digest_state d WHERE d.scope = 'item' AND d.ref_id = i.id) "
               "ORDER BY i.id")
        params: list = list(kinds)
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return row_dicts(self.conn.execute(sql, params))

    def mark_digested(self, scope: str, ref_id: int, upto: int = -1, mode: str = "") -> None:
        self.conn.execute(
            "INSERT INTO digest_state(scope, ref_id, upto, mode, digested_at) VALUES (?,?,?,?,?) "
            "ON CONFLICT(scope, ref_id) DO UPDATE SET upto = excluded.upto, mode = excluded.mode, "
            "digested_at = excluded.digested_at", (scope, ref_id, upto, mode, now_iso()))

    # ---- derived notes --------------------------------------------------------------------------
    def items_with_hash(self, text: str, kinds: Sequence[str]) -> list[int]:
        return [r[0] for r in self.conn.execute(
            f"SELECT id FROM items WHERE content_hash = ? AND kind IN ({marks(kinds)}) ORDER BY id",
            (content_hash(text), *kinds))]

    def list_derived(self, kinds: Sequence[str], *, tags: Sequence[str] | None = None,
                     since: str | None = None, limit: int | None = None,
                     current_only: bool = False) -> list[dict]:
        sql = f"SELECT * FROM items WHERE kind IN ({marks(kinds)})"
        params: list = list(kinds)
        if tags:
            sql += (" AND EXISTS (SELECT 1 FROM item_tags t WHERE t.item_id = items.id AND "
                    f"t.tag IN ({marks(tags)}))")
            params += [normalize_tag(t) for t in tags]
        if since:
            sql += " AND created_at >= ?"
            params.append(since)
        if current_only:
            sql += " AND valid_to IS NULL"
        sql += " ORDER BY created_at DESC, id DESC"
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return self._with_tags(row_dicts(self.conn.execute(sql, params)))

    def derived_without_sources(self, kinds: Sequence[str]) -> list[int]:
        return [r[0] for r in self.conn.execute(
            f"SELECT id FROM items i WHERE kind IN ({marks(kinds)}) AND NOT EXISTS "
            "(SELECT 1 FROM item_sources s WHERE s.item_id = i.id)", list(kinds))]

    def duplicate_hash_groups(self, kind: str) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM (SELECT content_hash FROM items WHERE kind = ? "
            "GROUP BY content_hash HAVING count(*) > 1)", (kind,)).fetchone()[0]

    # ---- supersession ---------------------------------------------------------------------------
    def set_superseded(self, old_id: int, new_id: int, valid_to: str) -> None:
        self.conn.execute("UPDATE items SET valid_to = ?, superseded_by = ? WHERE id = ?",
                          (valid_to, new_id, old_id))

    def current_facts_with_attribute(self, attribute: str, subject: str) -> list[dict]:
        """Facts still valid whose meta names this subject/attribute (supersession candidates)."""
        return row_dicts(self.conn.execute(
            "SELECT * FROM items WHERE kind = 'fact' AND valid_to IS NULL AND "
            "lower(json_extract(meta, '$.subject')) = ? AND (json_extract(meta, '$.attribute') = ?"
            " OR EXISTS (SELECT 1 FROM json_each(items.meta, '$.attributes') WHERE value = ?)) "
            "ORDER BY created_at, id", (subject.lower(), attribute, attribute)))
