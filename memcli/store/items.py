"""Items (verbatim and derived text) with their tags and FTS rows: writes, reads, full-text
search, counts."""

from __future__ import annotations

import hashlib
import json
from typing import Iterable, Iterator, Sequence

from memcli.core.errors import NotFound
from memcli.core.models import Filters, NewItem
from memcli.core.scripts import item_grams
from memcli.core.text import normalize_tags
from memcli.core.timeutil import normalize, now_iso
from memcli.store.migrations import GRAMS_TABLE
from memcli.store.sql import chunks, filter_sql, marks, row_dicts
from memcli.store.vectors import VEC_TABLE

ITEM_WITH_CONVERSATION = (
    "SELECT items.*, c.external_id AS conversation_external_id, c.title AS conversation_title "
    "FROM items LEFT JOIN conversations c ON c.id = items.conversation_id")


def content_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).lower().encode("utf-8")).hexdigest()[:32]


class ItemsMixin:
    # ---- writes ---------------------------------------------------------------------------------
    def key_exists(self, key: str) -> bool:
        return self.conn.execute("SELECT 1 FROM items WHERE key = ?", (key,)).fetchone() is not None

    def existing_keys(self, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk, q in chunks(keys):
            found.update(r[0] for r in self.conn.execute(
                f"SELECT key FROM items WHERE key IN ({q})", chunk))
        return found

    def stored_versions(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (content_hash, created_at) pairs are stored: how an item without a key (a
        note typed with `memcli add`) is recognised when another memory is merged in."""
        found: set[tuple[str, str]] = set()
        for chunk, q in chunks(sorted({h for h, _ in pairs})):
            found.update((r[0], r[1]) for r in self.conn.execute(
                f"SELECT content_hash, created_at FROM items WHERE content_hash IN ({q})", chunk))
        return found & set(pairs)

    def insert_item(self, item: NewItem, *, conversation_id: int | None = None,
                    vector=None, coarse: bool = True) -> int | None:
        """Insert one item with its tags, FTS row and vector. Returns None if its key exists.
        ``coarse=False``: the caller adds the vector to the coarse index itself (``coarse_add``,
        batched, in the same transaction)."""
        if item.key and self.key_exists(item.key):
            return None
        created = normalize(item.created_at) or now_iso()
        tags = normalize_tags(item.tags)
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO items(kind, text, title, role, created_at, added_at, conversation_id, "
                "position, source, external_id, path, heading, key, content_hash, importance, "
                "valid_from, meta) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (item.kind, item.text, item.title, item.role, created, now_iso(), conversation_id,
                 item.position, item.source, item.external_id, item.path, item.heading, item.key,
                 content_hash(item.text), item.importance, created,
                 json.dumps(item.meta) if item.meta else None))
            item_id = cur.lastrowid
            self.conn.executemany("INSERT OR IGNORE INTO item_tags(item_id, tag) VALUES (?, ?)",
                                  [(item_id, t) for t in tags])
            self.conn.execute(
                "INSERT INTO items_fts(rowid, title, text, tags) VALUES (?, ?, ?, ?)",
                (item_id, item.title or "", item.text, " ".join(tags)))
            self._put_grams(item_id, item.title, item.text, " ".join(tags), new=True)
            if vector is not None:
                self._insert_vector(item_id, vector, item.kind, item.source, created)
                if coarse:
                    self.coarse_add([(item_id, vector)])
        return item_id

    def set_tags(self, item_id: int, tags: Iterable[str]) -> None:
        tags = normalize_tags(tags)
        with self.transaction():
            self.conn.execute("DELETE FROM item_tags WHERE item_id = ?", (item_id,))
            self.conn.executemany("INSERT INTO item_tags(item_id, tag) VALUES (?, ?)",
                                  [(item_id, t) for t in tags])
            self.conn.execute("UPDATE items_fts SET tags = ? WHERE rowid = ?",
                              (" ".join(tags), item_id))
            row = self.conn.execute("SELECT title, text FROM items WHERE id = ?",
                                    (item_id,)).fetchone()
            if row:
                self._put_grams(item_id, row[0], row[1], " ".join(tags))

    def _put_grams(self, item_id: int, title: str | None, text: str, tags: str,
                   new: bool = False) -> None:
        """(Re)write an item's row of the gram index (unsegmented scripts; none for others)."""
        if not new:
            self.conn.execute(f"DELETE FROM {GRAMS_TABLE} WHERE rowid = ?", (item_id,))
        grams = item_grams(title, text, tags)
        if grams:
            self.conn.execute(f"INSERT INTO {GRAMS_TABLE}(rowid, grams) VALUES (?, ?)",
                              (item_id, grams))

    def delete_item(self, item_id: int) -> None:
        """Remove an item from the table, FTS and vectors (and its tags, links, sources)."""
        with self.transaction():
            if not self.conn.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone():
                raise NotFound(f"no item with id {item_id}")
            self.conn.execute("DELETE FROM items_fts WHERE rowid = ?", (item_id,))
            self.conn.execute(f"DELETE FROM {GRAMS_TABLE} WHERE rowid = ?", (item_id,))
            self.delete_vectors([item_id])
            self.conn.execute("DELETE FROM items WHERE id = ?", (item_id,))

    def touch(self, ids: Sequence[int]) -> None:
        """Record an access (a retention signal)."""
        if not ids:
            return
        now = now_iso()
        with self.transaction():
            self.conn.executemany(
                "UPDATE items SET access_count = access_count + 1, last_accessed = ? WHERE id = ?",
                [(now, i) for i in ids])

    # ---- reads ----------------------------------------------------------------------------------
    def get_item(self, item_id: int) -> dict:
        rows = row_dicts(self.conn.execute(
            f"{ITEM_WITH_CONVERSATION} WHERE items.id = ?", (item_id,)))
        if not rows:
            raise NotFound(f"no item with id {item_id}")
        row = rows[0]
        row["tags"] = self.tags_of([item_id]).get(item_id, [])
        return row

    def get_items(self, ids: Sequence[int]) -> dict[int, dict]:
        out: dict[int, dict] = {}
        for chunk, q in chunks(dict.fromkeys(ids)):
            for row in row_dicts(self.conn.execute(
                    f"{ITEM_WITH_CONVERSATION} WHERE items.id IN ({q})", chunk)):
                row["tags"] = []
                out[row["id"]] = row
        for item_id, tags in self.tags_of(list(out)).items():
            out[item_id]["tags"] = tags
        return out

    def recent_items(self, *, exclude_kinds: Sequence[str] = (), since: str | None = None,
                     limit: int = 10) -> list[dict]:
        """The newest items (``created_at``, then id) not of ``exclude_kinds``, from ``since`` (an
        ISO time) on, with their conversation (as ``get_item``) and tags."""
        sql, params = f"{ITEM_WITH_CONVERSATION} WHERE 1", []
        if exclude_kinds:
            sql += f" AND items.kind NOT IN ({marks(exclude_kinds)})"
            params += list(exclude_kinds)
        if since:
            sql += " AND items.created_at >= ?"
            params.append(since)
        sql += " ORDER BY items.created_at DESC, items.id DESC LIMIT ?"
        return self._with_tags(row_dicts(self.conn.execute(sql, [*params, int(limit)])))

    def tags_of(self, ids: Sequence[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for chunk, q in chunks(ids):
            for item_id, tag in self.conn.execute(
                    f"SELECT item_id, tag FROM item_tags WHERE item_id IN ({q}) ORDER BY tag", chunk):
                out.setdefault(item_id, []).append(tag)
        return out

    def _with_tags(self, rows: list[dict]) -> list[dict]:
        tags = self.tags_of([r["id"] for r in rows])
        for r in rows:
            r["tags"] = tags.get(r["id"], [])
        return rows

    def standalone_items(self, kinds: Sequence[str]) -> list[dict]:
        """Items of these kinds outside conversations, oldest first, with their tags."""
        return self._with_tags(row_dicts(self.conn.execute(
            f"SELECT * FROM items WHERE kind IN ({marks(kinds)}) AND conversation_id IS NULL "
            "ORDER BY created_at, id", list(kinds))))

    def items_by_path(self, source: str, path: str) -> list[dict]:
        """Items imported from one file (a Markdown note and its sections), in key order."""
        return row_dicts(self.conn.execute(
            "SELECT id, key, meta FROM items WHERE source = ? AND path = ? ORDER BY id",
            (source, path)))

    def vault_files(self, vault: str) -> dict[str, list[int]]:
        """Relative path → ids of the Markdown items imported from the vault folder ``vault``
        (``meta.vault``, recorded by folder imports)."""
        out: dict[str, list[int]] = {}
        for item_id, path in self.conn.execute(
                "SELECT id, path FROM items WHERE source = 'markdown' AND "
                "json_extract(meta, '$.vault') = ? ORDER BY id", (vault,)):
            out.setdefault(path, []).append(item_id)
        return out

    def title_index(self, kinds: Sequence[str] = ("note", "section")) -> list[tuple]:
        """(id, title, heading, aliases JSON or None) of every item of these kinds, oldest first:
        for wikilink resolution (aliases come from Markdown front matter, kept in meta)."""
        return self.conn.execute(
            "SELECT id, title, heading, json_extract(meta, '$.aliases') FROM items "
            f"WHERE kind IN ({marks(kinds)}) AND title IS NOT NULL ORDER BY id",
            tuple(kinds)).fetchall()

    def items_for_embedding(self, ids: Sequence[int]) -> list[dict]:
        out: list[dict] = []
        for chunk, q in chunks(ids):
            out += row_dicts(self.conn.execute(
                f"SELECT id, title, text, role FROM items WHERE id IN ({q}) ORDER BY id", chunk))
        return out

    def iter_items(self, batch: int = 256, kinds: Sequence[str] | None = None
                   ) -> Iterator[list[dict]]:
        last = 0
        kind_sql, kparams = "", []
        if kinds:
            kind_sql = f" AND kind IN ({marks(kinds)})"
            kparams = list(kinds)
        while True:
            rows = row_dicts(self.conn.execute(
                f"SELECT id, kind, title, role, text FROM items WHERE id > ?{kind_sql} "
                "ORDER BY id LIMIT ?",
                [last, *kparams, batch]))
            if not rows:
                return
            yield rows
            last = rows[-1]["id"]

    def counts(self) -> dict:
        out = {
            "conversations": self.conn.execute("SELECT count(*) FROM conversations").fetchone()[0],
            "messages": 0, "notes": 0, "items": 0,
        }
        by_kind = dict(self.conn.execute("SELECT kind, count(*) FROM items GROUP BY kind"))
        out["messages"] = by_kind.get("message", 0)
        out["notes"] = sum(v for k, v in by_kind.items() if k != "message")
        out["items"] = sum(by_kind.values())
        out["by_kind"] = by_kind
        out["by_source"] = dict(self.conn.execute(
            "SELECT source, count(*) FROM items GROUP BY source"))
        out["tags"] = self.conn.execute("SELECT count(DISTINCT tag) FROM item_tags").fetchone()[0]
        out["links"] = self.conn.execute("SELECT count(*) FROM links").fetchone()[0]
        out["fts_rows"] = self.conn.execute("SELECT count(*) FROM items_fts").fetchone()[0]
        out["vectors"] = (self.conn.execute(f"SELECT count(*) FROM {VEC_TABLE}").fetchone()[0]
                          if self.has_vec_table() else 0)
        rng = self.conn.execute("SELECT min(created_at), max(created_at) FROM items").fetchone()
        out["oldest"], out["newest"] = rng
        model = self.vector_model()
        out["embedding_model"] = model[0] if model else None
        out["embedding_dim"] = model[1] if model else None
        return out

    # ---- search primitives ----------------------------------------------------------------------
    def fts_search(self, match: str, limit: int, filters: Filters | None = None
                   ) -> list[tuple[int, float]]:
        """(item id, bm25) best first; bm25 is negated so bigger is better."""
        return self._bm25_search("items_fts", "2.0, 1.0, 1.5", match, limit, filters)

    def gram_search(self, match: str, limit: int, filters: Filters | None = None
                    ) -> list[tuple[int, float]]:
        """Like ``fts_search``, on the gram index of unsegmented scripts (core/scripts.py)."""
        return self._bm25_search(GRAMS_TABLE, "", match, limit, filters)

    def _bm25_search(self, table: str, weights: str, match: str, limit: int,
                     filters: Filters | None) -> list[tuple[int, float]]:
        """The best ``limit`` rows of the FTS5 ``table`` for ``match`` by bm25 (column
        ``weights``), negated. Without filters the FTS table is read alone: joining ``items``
        cost a B-tree seek into the wide items rows for every matching row (~2/3 of the time
        for a common word at 1M items, BENCHMARKS.md). bm25 is computed once per row (the ORDER
        BY names the selected column)."""
        if not match:
            return []
        where, params = filter_sql(filters)
        args = ", " + weights if weights else ""
        if not where:
            sql = (f"SELECT rowid, bm25({table}{args}) AS s FROM {table} "
                   f"WHERE {table} MATCH ? ORDER BY s LIMIT ?")
        else:  # ties broken by id: the same hits whichever side the plan starts from
            join = "JOIN" if self._items_first(filters) else "CROSS JOIN"
            sql = (f"SELECT {table}.rowid, bm25({table}{args}) AS s FROM {table} {join} items "
                   f"ON items.id = {table}.rowid WHERE {table} MATCH ?{where} "
                   f"ORDER BY s, {table}.rowid LIMIT ?")
        return [(r[0], -r[1]) for r in self.conn.execute(sql, [match, *params, limit])]

    @staticmethod
    def _items_first(filters: Filters) -> bool:
        """May SQLite start a filtered search from an index on ``items`` and run the MATCH once
        per item? Only for a conversation or tag filter (left to its planner, few items). A kind,
        source or date filter starts from the FTS rows: the planner took the items index for
        those, and at 1M items that cost 44 s of CPU (kind = message, the last third of the
        dates) where reading the matching FTS rows first takes 0.1-0.3 s (BENCHMARKS.md)."""
        return bool(filters.conversation or filters.tags)

    def turn_neighbours(self, ids: Sequence[int], filters: Filters | None = None, span: int = 1
                        ) -> dict[int, list[tuple[int, int]]]:
        """item id → (id, distance) of the turns up to ``span`` positions before and after it in
        its conversation that pass ``filters``; items outside a conversation have none."""
        out: dict[int, list[tuple[int, int]]] = {}
        where, params = filter_sql(filters, alias="b")
        for chunk, q in chunks(dict.fromkeys(ids)):
            for a, b, d in self.conn.execute(
                    "SELECT a.id, b.id, abs(b.position - a.position) FROM items a JOIN items b "
                    "ON b.conversation_id = a.conversation_id "
                    "AND b.position BETWEEN a.position - ? AND a.position + ? AND b.id != a.id "
                    f"WHERE a.id IN ({q}) AND a.conversation_id IS NOT NULL{where} "
                    "ORDER BY a.id, b.position",
                    [int(span), int(span), *chunk, *params]):
                out.setdefault(a, []).append((b, d))
        return out
