"""What digest has processed, the derived notes it made, and facts superseding facts."""

from __future__ import annotations

from typing import Sequence

from memcli.core.text import normalize_tag
from memcli.core.timeutil import now_iso
from memcli.store.items import content_hash
from memcli.store.sql import chunks, marks, row_dicts


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

    def undigest(self, ids: Sequence[int]) -> None:
        """Queue these items for `digest` again (what a removed derived note said of them is
        re-derived): a standalone item loses its digest mark, a conversation is rewound to before
        the earliest of them."""
        for chunk, q in chunks(ids):
            self.conn.execute(
                "DELETE FROM digest_state WHERE scope = 'item' AND ref_id IN "
                f"(SELECT id FROM items WHERE id IN ({q}) AND conversation_id IS NULL)", chunk)
            self.conn.execute(
                "UPDATE digest_state SET upto = min(upto, (SELECT min(COALESCE(i.position, 0)) - 1 "
                f"FROM items i WHERE i.conversation_id = digest_state.ref_id AND i.id IN ({q}))) "
                "WHERE scope = 'conversation' AND ref_id IN (SELECT conversation_id FROM items "
                f"WHERE id IN ({q}) AND conversation_id IS NOT NULL)", chunk + chunk)

    # ---- derived notes --------------------------------------------------------------------------
    def items_with_hash(self, text: str, kinds: Sequence[str], *, keyless: bool = False
                        ) -> list[int]:
        """Ids of items of these kinds with this text (``keyless``: only those stored without an
        idempotence key, e.g. `memcli add` notes)."""
        extra = " AND key IS NULL" if keyless else ""
        return [r[0] for r in self.conn.execute(
            f"SELECT id FROM items WHERE content_hash = ? AND kind IN ({marks(kinds)}){extra} "
            "ORDER BY id", (content_hash(text), *kinds))]

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

    def superseded_by_any(self, ids: Sequence[int]) -> list[dict]:
        """(id, superseded_by, valid_to) of the items these ids superseded."""
        out: list[dict] = []
        for chunk, q in chunks(ids):
            out += row_dicts(self.conn.execute(
                "SELECT id, superseded_by, valid_to FROM items "
                f"WHERE superseded_by IN ({q}) ORDER BY id", chunk))
        return out

    def reopen_superseded(self, old_id: int, gone_id: int, successor: int | None,
                          valid_to: str | None) -> None:
        """``gone_id``, which superseded ``old_id``, is being forgotten: ``old_id`` is current again
        (``successor`` None) or superseded by ``successor`` from ``valid_to``. Its history keeps
        no quote of the forgotten fact, only that the change happened."""
        before = self.conn.execute("SELECT valid_to FROM items WHERE id = ?",
                                   (old_id,)).fetchone()[0]
        self.conn.execute("UPDATE items SET valid_to = ?, superseded_by = ? WHERE id = ?",
                          (valid_to, successor, old_id))
        self.conn.execute(
            "DELETE FROM note_history WHERE item_id = ? AND field = 'valid_to' AND reason LIKE ?",
            (old_id, f"superseded by #{int(gone_id)}:%"))
        if successor is not None:
            self.add_link(successor, old_id, type="supersedes",
                          reason=f"newer value (#{int(gone_id)} between them was forgotten)")
        self.add_history(old_id, "valid_to", before, valid_to,
                         f"#{int(gone_id)} that superseded it was forgotten"
                         + (f": superseded by #{successor}" if successor else ": current again"))

    def supersessions_near(self, ids: Sequence[int]) -> list[tuple[int, int, str]]:
        """(older fact, the fact that superseded it, older's created_at) for every supersession
        that touches these ids: either fact is one of them or rests on one of them (a message
        that states a value). Ranking reads it (memcli/retrieval/validity.py)."""
        out: dict[tuple[int, int], str] = {}
        for chunk, q in chunks(ids):
            near = f"SELECT item_id FROM item_sources WHERE source_id IN ({q})"
            for sql in (f"SELECT id, superseded_by, created_at FROM items WHERE superseded_by IS "
                        f"NOT NULL AND kind = 'fact' AND (id IN ({q}) OR id IN ({near}))",
                        f"SELECT id, superseded_by, created_at FROM items WHERE superseded_by IS "
                        f"NOT NULL AND kind = 'fact' AND (superseded_by IN ({q}) OR superseded_by "
                        f"IN ({near}))"):
                for old, new, when in self.conn.execute(sql, chunk * 2):
                    out[(old, new)] = when
        return [(o, n, w) for (o, n), w in out.items()]

    def current_items_keyed(self, source: str, key_prefix: str, title: str | None) -> list[dict]:
        """Still-valid items of ``source`` whose key starts with ``key_prefix`` and whose title is
        ``title`` (the versions of one Claude memory, imported from successive exports)."""
        return row_dicts(self.conn.execute(
            "SELECT * FROM items WHERE source = ? AND substr(key, 1, ?) = ? AND title IS ? AND "
            "valid_to IS NULL ORDER BY created_at, id",
            (source, len(key_prefix), key_prefix, title)))

    def facts_with_attribute(self, attribute: str, subject: str) -> list[dict]:
        """Every fact, current or closed, whose meta names this subject and this attribute or
        topic (a question about the attribute: memcli/retrieval/attribute_query.py)."""
        return self._facts_of(attribute, subject, topic=True)

    def current_facts_with_attribute(self, attribute: str, subject: str) -> list[dict]:
        """Facts still valid whose meta names this subject/attribute (supersession candidates)."""
        return self._facts_of(attribute, subject, current=True)

    def _facts_of(self, attribute: str, subject: str, *, topic: bool = False,
                  current: bool = False) -> list[dict]:
        """Facts whose first attribute (or topic), or one of several attributes, is this one:
        each branch reads a partial index of migration m007, not every fact's JSON."""
        rest = " AND lower(json_extract(meta, '$.subject')) = ?" + (
            " AND valid_to IS NULL" if current else "")
        branches = [("items_fact_attribute", "json_extract(meta, '$.attribute') = ?")]
        if topic:
            branches.append(("items_fact_topic", "json_extract(meta, '$.topic') = ?"))
        branches.append(("items_fact_attributes",
                         "json_array_length(meta, '$.attributes') > 1 AND EXISTS (SELECT 1 FROM "
                         "json_each(items.meta, '$.attributes') WHERE value = ?)"))
        sql = " UNION ".join(f"SELECT * FROM items INDEXED BY {ix} WHERE kind = 'fact' AND "
                             f"{b}{rest}" for ix, b in branches)
        params = [p for _ in branches for p in (attribute, subject.lower())]
        return row_dicts(self.conn.execute(sql + " ORDER BY created_at, id", params))
