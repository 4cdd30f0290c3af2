"""The only module that speaks SQL.

Tables (see migrations.py): ``items`` (verbatim and derived text), ``conversations``, ``item_tags``,
``links``, ``item_sources`` (derived → the items it rests on), ``items_fts`` (FTS5, rowid = item id)
and ``items_vec`` (sqlite-vec vec0, rowid = item id, created once the embedding model is known).
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from memcli.core.errors import MemcliError, ModelMismatch, NotFound
from memcli.core.models import Filters, NewItem, clean_text
from memcli.core.text import normalize_tag, normalize_tags
from memcli.core.timeutil import normalize, now_iso

VEC_TABLE = "items_vec"
MAX_KNN = 4096  # sqlite-vec's limit on k
# The coarse index (memcli/vecindex.py; tables vec_bits and vec_f16, kept in step with items_vec):
COARSE_MIN = 20_000  # fewer vectors than this: the exact vec0 scan takes ≤ ~20 ms, use it
COARSE_CANDIDATES = 1000  # Hamming-nearest re-scored exactly per search (at least limit × 8):
#   on real MiniLM vectors at 1M items they hold 0.970 of the exact top-10 (400: 0.961), +5 ms
EXACT_SUBSET = 20_000  # a kind/source/date/tag filter leaving at most this many items: re-score
#                        all of them exactly instead of filtering the Hamming candidates


def content_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).lower().encode("utf-8")).hexdigest()[:32]


def _vec_bytes(vec) -> bytes:
    import numpy as np

    return np.asarray(vec, dtype=np.float32).tobytes()


def coarse_put(conn, pairs: Sequence[tuple[int, object]]) -> None:
    """Write (item id, vector) pairs into the coarse index (vec_bits, vec_f16); also used by the
    migration that derives the index for memories indexed before it existed."""
    if not pairs:
        return
    import numpy as np

    from memcli.store import vecindex as vx

    vecs = np.stack([np.asarray(v, dtype=np.float32).reshape(-1) for _, v in pairs])
    bits = vx.pack_bits(vecs, vecs.shape[1])
    conn.executemany("INSERT OR REPLACE INTO vec_f16(item_id, embedding) VALUES (?, ?)",
                     [(int(i), vx.f16_bytes(v)) for (i, _), v in zip(pairs, vecs)])
    by_chunk: dict[int, dict[int, bytes]] = {}
    for (item_id, _), b in zip(pairs, bits):
        by_chunk.setdefault(int(item_id) // vx.CHUNK, {})[int(item_id) % vx.CHUNK] = b.tobytes()
    width = vx.chunk_bytes(bits.shape[1])
    for chunk, put in by_chunk.items():
        row = conn.execute("SELECT bits FROM vec_bits WHERE chunk = ?", (chunk,)).fetchone()
        blob = row[0] if row and len(row[0]) == width else None
        conn.execute("INSERT OR REPLACE INTO vec_bits(chunk, bits) VALUES (?, ?)",
                     (chunk, vx.update_chunk(blob, bits.shape[1], put)))


def _rows(cur) -> list[dict]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


class Store:
    def __init__(self, path: str | os.PathLike):
        from memcli.store import connection as dbmod
        from memcli.store import migrations

        self.path = Path(path)
        self.conn = dbmod.connect(self.path)
        self._depth = 0
        self._coarse_gen = 0  # bumped on every write to the coarse index by this connection
        self._coarse_cache: tuple | None = None  # ((data_version, gen), BitMatrix)
        try:
            dbmod.retry_locked(lambda: migrations.apply(self.conn))
        except Exception as exc:  # a file that is not SQLite, or a broken one
            self.conn.close()
            raise MemcliError(f"cannot open memory database {self.path}: {exc}") from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- transactions -------------------------------------------------------------------------
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

    def execute(self, sql: str, params: Sequence | dict = ()):
        return self.conn.execute(sql, params)

    # ---- meta and the vector index --------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def vector_model(self) -> tuple[str, int] | None:
        model, dim = self.get_meta("embedding_model"), self.get_meta("embedding_dim")
        return (model, int(dim)) if model and dim else None

    def has_vec_table(self) -> bool:
        return self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name = ?", (VEC_TABLE,)).fetchone() is not None

    def ensure_vector_index(self, model_id: str, dim: int) -> None:
        """Create the vec0 table for this model, or refuse if the DB was indexed by another."""
        current = self.vector_model()
        if current and current != (model_id, dim):
            raise ModelMismatch(
                f"this memory was indexed with {current[0]} ({current[1]} dims) but the embedder is "
                f"{model_id} ({dim} dims); run `memcli reindex` to re-embed with the current model")
        if current and self.has_vec_table():
            return
        with self.transaction():
            self._create_vec_table(dim)
            self.set_meta("embedding_model", model_id)
            self.set_meta("embedding_dim", str(dim))

    def _create_vec_table(self, dim: int) -> None:
        self.conn.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {VEC_TABLE} USING vec0("
            f"item_id INTEGER PRIMARY KEY, embedding float[{int(dim)}] distance_metric=cosine, "
            "kind TEXT, source TEXT, created_at TEXT)")

    def reset_vector_index(self, model_id: str, dim: int) -> None:
        with self.transaction():
            self.conn.execute(f"DROP TABLE IF EXISTS {VEC_TABLE}")
            self.conn.execute("DELETE FROM vec_bits")
            self.conn.execute("DELETE FROM vec_f16")
            self._coarse_gen += 1
            self._create_vec_table(dim)
            self.set_meta("embedding_model", model_id)
            self.set_meta("embedding_dim", str(dim))

    def put_vectors(self, rows: Iterable[tuple[int, object]]) -> None:
        """(item id, vector) pairs; replaces what was there. Items deleted meanwhile (embedding
        runs outside the transaction) are skipped."""
        written = []
        for item_id, vec in rows:
            self.conn.execute(f"DELETE FROM {VEC_TABLE} WHERE item_id = ?", (item_id,))
            meta = self.conn.execute(
                "SELECT kind, source, created_at FROM items WHERE id = ?", (item_id,)).fetchone()
            if meta is None:
                continue
            self.conn.execute(
                f"INSERT INTO {VEC_TABLE}(item_id, embedding, kind, source, created_at) "
                "VALUES (?, ?, ?, ?, ?)", (item_id, _vec_bytes(vec), *meta))
            written.append((item_id, vec))
        self.coarse_add(written)

    # ---- the coarse index (sign bits + float16 copies; see vecindex.py) -------------------------
    def coarse_add(self, pairs: Sequence[tuple[int, object]]) -> None:
        """Add or replace (item id, vector) pairs in the coarse index (vec_bits and vec_f16)."""
        if pairs:
            coarse_put(self.conn, pairs)
            self._coarse_gen += 1

    def _coarse_drop(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        from memcli.store import vecindex as vx

        self.conn.executemany("DELETE FROM vec_f16 WHERE item_id = ?", [(int(i),) for i in ids])
        by_chunk: dict[int, set[int]] = {}
        for item_id in ids:
            by_chunk.setdefault(int(item_id) // vx.CHUNK, set()).add(int(item_id) % vx.CHUNK)
        for chunk, drop in by_chunk.items():
            row = self.conn.execute("SELECT bits FROM vec_bits WHERE chunk = ?", (chunk,)).fetchone()
            present = set(vx.chunk_ids(row[0], chunk)) if row else set()
            drop = {s for s in drop if chunk * vx.CHUNK + s in present}
            if not drop:  # none of these items had a vector: leave the chunk alone
                continue
            blob = vx.update_chunk(row[0], None, {}, drop)
            if vx.chunk_ids(blob, chunk):
                self.conn.execute("UPDATE vec_bits SET bits = ? WHERE chunk = ?", (blob, chunk))
            else:
                self.conn.execute("DELETE FROM vec_bits WHERE chunk = ?", (chunk,))
        self._coarse_gen += 1

    def _bit_matrix(self, dim: int):
        """Every vector's sign bits, loaded once per process and reloaded only after a write
        (ours, or another connection's: PRAGMA data_version)."""
        from memcli.store import vecindex as vx

        key = (self.conn.execute("PRAGMA data_version").fetchone()[0], self._coarse_gen)
        if self._coarse_cache is None or self._coarse_cache[0] != key:
            chunks = self.conn.execute("SELECT chunk, bits FROM vec_bits ORDER BY chunk").fetchall()
            self._coarse_cache = (key, vx.BitMatrix(chunks, dim))
        return self._coarse_cache[1]

    def _f16_rows(self, ids: Sequence[int]) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        ids = [int(i) for i in ids]
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            q = ",".join("?" * len(chunk))
            out += self.conn.execute(
                f"SELECT item_id, embedding FROM vec_f16 WHERE item_id IN ({q})", chunk).fetchall()
        return out

    def coarse_inconsistencies(self) -> dict[str, list[int]]:
        """Vectors missing from the coarse index, and coarse entries with no vector."""
        from memcli.store import vecindex as vx

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
        todo = [int(i) for i in missing]
        for i in range(0, len(todo), 500):
            chunk = todo[i:i + 500]
            rows = self.conn.execute(
                f"SELECT item_id, embedding FROM {VEC_TABLE} WHERE item_id IN "
                f"({','.join('?' * len(chunk))})", chunk).fetchall()
            self.coarse_add([(r[0], np.frombuffer(r[1], dtype=np.float32)) for r in rows])

    # ---- conversations --------------------------------------------------------------------------
    def upsert_conversation(self, source: str, external_id: str, *, title: str | None = None,
                            created_at: str | None = None, updated_at: str | None = None,
                            path: str | None = None, meta: dict | None = None) -> int:
        source, external_id, title, path = map(clean_text, (source, external_id, title, path))
        row = self.conn.execute(
            "SELECT id FROM conversations WHERE source = ? AND external_id = ?",
            (source, external_id)).fetchone()
        if row:
            self.conn.execute(
                "UPDATE conversations SET title = COALESCE(?, title), "
                "updated_at = COALESCE(?, updated_at) WHERE id = ?", (title, updated_at, row[0]))
            return row[0]
        cur = self.conn.execute(
            "INSERT INTO conversations(source, external_id, title, created_at, updated_at, path, meta)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (source, external_id, title, normalize(created_at), normalize(updated_at), path,
             json.dumps(meta) if meta else None))
        return cur.lastrowid

    def conversation(self, conv_id: int) -> dict | None:
        cur = self.conn.execute("SELECT * FROM conversations WHERE id = ?", (conv_id,))
        rows = _rows(cur)
        return rows[0] if rows else None

    def find_conversation(self, source: str, external_id: str) -> dict | None:
        rows = _rows(self.conn.execute(
            "SELECT * FROM conversations WHERE source = ? AND external_id = ?", (source, external_id)))
        return rows[0] if rows else None

    def conversation_messages(self, conv_id: int) -> list[dict]:
        return _rows(self.conn.execute(
            "SELECT * FROM items WHERE conversation_id = ? ORDER BY position, id", (conv_id,)))

    def neighbours(self, conv_id: int, position: int, before: int = 2, after: int = 2
                   ) -> tuple[list[dict], list[dict]]:
        """Messages just before and just after ``position`` in a conversation, in order."""
        cols = "id, kind, role, text, title, created_at, position"
        prev = _rows(self.conn.execute(
            f"SELECT {cols} FROM items WHERE conversation_id = ? AND position < ? "
            "ORDER BY position DESC, id DESC LIMIT ?", (conv_id, position, before)))
        nxt = _rows(self.conn.execute(
            f"SELECT {cols} FROM items WHERE conversation_id = ? AND position > ? "
            "ORDER BY position, id LIMIT ?", (conv_id, position, after)))
        return prev[::-1], nxt

    def next_position(self, conv_id: int) -> int:
        row = self.conn.execute(
            "SELECT COALESCE(MAX(position), -1) + 1 FROM items WHERE conversation_id = ?",
            (conv_id,)).fetchone()
        return row[0]

    # ---- items ----------------------------------------------------------------------------------
    def key_exists(self, key: str) -> bool:
        return self.conn.execute("SELECT 1 FROM items WHERE key = ?", (key,)).fetchone() is not None

    def existing_keys(self, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(keys), 500):
            chunk = list(keys[i:i + 500])
            q = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.conn.execute(
                f"SELECT key FROM items WHERE key IN ({q})", chunk))
        return found

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
            if vector is not None:
                self.conn.execute(
                    f"INSERT INTO {VEC_TABLE}(item_id, embedding, kind, source, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (item_id, _vec_bytes(vector), item.kind, item.source, created))
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

    def get_item(self, item_id: int) -> dict:
        rows = _rows(self.conn.execute(
            "SELECT items.*, c.external_id AS conversation_external_id, c.title AS conversation_title"
            " FROM items LEFT JOIN conversations c ON c.id = items.conversation_id"
            " WHERE items.id = ?", (item_id,)))
        if not rows:
            raise NotFound(f"no item with id {item_id}")
        row = rows[0]
        row["tags"] = self.tags_of([item_id]).get(item_id, [])
        return row

    def get_items(self, ids: Sequence[int]) -> dict[int, dict]:
        out: dict[int, dict] = {}
        ids = list(dict.fromkeys(ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            q = ",".join("?" * len(chunk))
            for row in _rows(self.conn.execute(
                    "SELECT items.*, c.external_id AS conversation_external_id, "
                    "c.title AS conversation_title FROM items "
                    "LEFT JOIN conversations c ON c.id = items.conversation_id "
                    f"WHERE items.id IN ({q})", chunk)):
                row["tags"] = []
                out[row["id"]] = row
        for item_id, tags in self.tags_of(list(out)).items():
            out[item_id]["tags"] = tags
        return out

    def tags_of(self, ids: Sequence[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for i in range(0, len(ids), 500):
            chunk = list(ids[i:i + 500])
            q = ",".join("?" * len(chunk))
            for item_id, tag in self.conn.execute(
                    f"SELECT item_id, tag FROM item_tags WHERE item_id IN ({q}) ORDER BY tag", chunk):
                out.setdefault(item_id, []).append(tag)
        return out

    def delete_item(self, item_id: int) -> None:
        """Remove an item from the table, FTS and vectors (and its tags, links, sources)."""
        with self.transaction():
            if not self.conn.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone():
                raise NotFound(f"no item with id {item_id}")
            self.conn.execute("DELETE FROM items_fts WHERE rowid = ?", (item_id,))
            if self.has_vec_table():
                self.conn.execute(f"DELETE FROM {VEC_TABLE} WHERE item_id = ?", (item_id,))
            self._coarse_drop([item_id])
            self.conn.execute("DELETE FROM items WHERE id = ?", (item_id,))

    def orphaned_conversations(self) -> list[int]:
        return [r[0] for r in self.conn.execute(
            "SELECT id FROM conversations c WHERE NOT EXISTS "
            "(SELECT 1 FROM items WHERE conversation_id = c.id)")]

    def delete_conversation(self, conv_id: int) -> None:
        with self.transaction():
            for (item_id,) in self.conn.execute(
                    "SELECT id FROM items WHERE conversation_id = ?", (conv_id,)).fetchall():
                self.delete_item(item_id)
            self.conn.execute("DELETE FROM conversations WHERE id = ?", (conv_id,))

    def touch(self, ids: Sequence[int]) -> None:
        """Record an access (a retention signal)."""
        if not ids:
            return
        now = now_iso()
        with self.transaction():
            self.conn.executemany(
                "UPDATE items SET access_count = access_count + 1, last_accessed = ? WHERE id = ?",
                [(now, i) for i in ids])

    # ---- links and provenance -------------------------------------------------------------------
    def add_link(self, src_id: int, dst_id: int | None, *, target: str | None = None,
                 type: str = "related", reason: str | None = None) -> None:
        self.conn.execute(
            "INSERT INTO links(src_id, dst_id, target, type, reason, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(src_id, target, type) DO UPDATE SET "
            "dst_id = COALESCE(excluded.dst_id, dst_id), reason = COALESCE(excluded.reason, reason)",
            (src_id, dst_id, target if target is not None else str(dst_id), type, reason, now_iso()))

    def links_of(self, item_id: int) -> list[dict]:
        return _rows(self.conn.execute(
            "SELECT l.dst_id AS id, l.target, l.type, l.reason, i.title, i.kind FROM links l "
            "LEFT JOIN items i ON i.id = l.dst_id WHERE l.src_id = ? ORDER BY l.rowid", (item_id,)))

    def backlinks_of(self, item_id: int) -> list[dict]:
        return _rows(self.conn.execute(
            "SELECT l.src_id AS id, l.type, l.reason, i.title, i.kind FROM links l "
            "JOIN items i ON i.id = l.src_id WHERE l.dst_id = ? ORDER BY l.rowid", (item_id,)))

    def unresolved_links(self) -> list[dict]:
        return _rows(self.conn.execute(
            "SELECT rowid, src_id, target, type, reason FROM links WHERE dst_id IS NULL"))

    def resolve_link(self, rowid: int, dst_id: int) -> None:
        self.conn.execute("UPDATE links SET dst_id = ? WHERE rowid = ?", (dst_id, rowid))

    def add_sources(self, item_id: int, source_ids: Iterable[int]) -> None:
        self.conn.executemany(
            "INSERT OR IGNORE INTO item_sources(item_id, source_id) VALUES (?, ?)",
            [(item_id, s) for s in source_ids])

    def sources_of(self, item_id: int) -> list[int]:
        return [r[0] for r in self.conn.execute(
            "SELECT source_id FROM item_sources WHERE item_id = ? ORDER BY source_id", (item_id,))]

    def derived_from(self, source_id: int) -> list[int]:
        return [r[0] for r in self.conn.execute(
            "SELECT item_id FROM item_sources WHERE source_id = ?", (source_id,))]

    def find_by_title(self, title: str, kinds: Sequence[str] = ("note", "section")) -> int | None:
        q = ",".join("?" * len(kinds))
        row = self.conn.execute(
            f"SELECT id FROM items WHERE lower(title) = lower(?) AND kind IN ({q}) "
            "ORDER BY (heading IS NULL) DESC, id LIMIT 1", (title, *kinds)).fetchone()
        return row[0] if row else None

    # ---- file imports (used by memcli.ingest) ---------------------------------------------------
    def items_by_path(self, source: str, path: str) -> list[dict]:
        """Items imported from one file (a Markdown note and its sections), in key order."""
        return _rows(self.conn.execute(
            "SELECT id, key, meta FROM items WHERE source = ? AND path = ? ORDER BY id",
            (source, path)))

    def detach_links_to(self, ids: Sequence[int]) -> None:
        """Make links that point at these items unresolved again (before the items are replaced),
        so the foreign key's ON DELETE CASCADE does not drop other notes' links."""
        for i in range(0, len(ids), 500):
            chunk = list(ids[i:i + 500])
            q = ",".join("?" * len(chunk))
            self.conn.execute(f"UPDATE links SET dst_id = NULL WHERE dst_id IN ({q})", chunk)

    def title_index(self, kinds: Sequence[str] = ("note", "section")) -> list[tuple]:
        """(id, title, heading, aliases JSON or None) of every item of these kinds, oldest first:
        for wikilink resolution (aliases come from Markdown front matter, kept in meta)."""
        q = ",".join("?" * len(kinds))
        return self.conn.execute(
            "SELECT id, title, heading, json_extract(meta, '$.aliases') FROM items "
            f"WHERE kind IN ({q}) AND title IS NOT NULL ORDER BY id", tuple(kinds)).fetchall()

    # ---- digest: progress, history, derived notes (used by memcli.digest) -----------------------
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
        q = ",".join("?" * len(kinds))
        sql = (f"SELECT * FROM items i WHERE i.kind IN ({q}) AND i.conversation_id IS NULL AND "
               "i.source != 'digest' AND NOT EXISTS (SELECT 1 FROM digest_state d "
               "WHERE d.scope = 'item' AND d.ref_id = i.id) ORDER BY i.id")
        params: list = list(kinds)
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return _rows(self.conn.execute(sql, params))

    def mark_digested(self, scope: str, ref_id: int, upto: int = -1, mode: str = "") -> None:
        self.conn.execute(
            "INSERT INTO digest_state(scope, ref_id, upto, mode, digested_at) VALUES (?,?,?,?,?) "
            "ON CONFLICT(scope, ref_id) DO UPDATE SET upto = excluded.upto, mode = excluded.mode, "
            "digested_at = excluded.digested_at", (scope, ref_id, upto, mode, now_iso()))

    def add_history(self, item_id: int, field: str, old, new, reason: str | None = None) -> None:
        def enc(v):
            return v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False)

        self.conn.execute(
            "INSERT INTO note_history(item_id, changed_at, field, old_value, new_value, reason) "
            "VALUES (?,?,?,?,?,?)", (item_id, now_iso(), field, enc(old), enc(new), reason))

    def history_of(self, item_id: int) -> list[dict]:
        return _rows(self.conn.execute(
            "SELECT changed_at, field, old_value, new_value, reason FROM note_history "
            "WHERE item_id = ? ORDER BY id", (item_id,)))

    def items_with_hash(self, text: str, kinds: Sequence[str]) -> list[int]:
        q = ",".join("?" * len(kinds))
        return [r[0] for r in self.conn.execute(
            f"SELECT id FROM items WHERE content_hash = ? AND kind IN ({q}) ORDER BY id",
            (content_hash(text), *kinds))]

    def set_superseded(self, old_id: int, new_id: int, valid_to: str) -> None:
        self.conn.execute("UPDATE items SET valid_to = ?, superseded_by = ? WHERE id = ?",
                          (valid_to, new_id, old_id))

    def current_facts_with_attribute(self, attribute: str, subject: str) -> list[dict]:
        """Facts still valid whose meta names this subject/attribute (supersession candidates)."""
        return _rows(self.conn.execute(
            "SELECT * FROM items WHERE kind = 'fact' AND valid_to IS NULL AND "
            "lower(json_extract(meta, '$.subject')) = ? AND (json_extract(meta, '$.attribute') = ?"
            " OR EXISTS (SELECT 1 FROM json_each(items.meta, '$.attributes') WHERE value = ?)) "
            "ORDER BY created_at, id", (subject.lower(), attribute, attribute)))

    def list_derived(self, kinds: Sequence[str], *, tags: Sequence[str] | None = None,
                     since: str | None = None, limit: int | None = None,
                     current_only: bool = False) -> list[dict]:
        q = ",".join("?" * len(kinds))
        sql = f"SELECT * FROM items WHERE kind IN ({q})"
        params: list = list(kinds)
        if tags:
            sql += (" AND EXISTS (SELECT 1 FROM item_tags t WHERE t.item_id = items.id AND "
                    f"t.tag IN ({','.join('?' * len(tags))}))")
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
        rows = _rows(self.conn.execute(sql, params))
        tags_ = self.tags_of([r["id"] for r in rows])
        for r in rows:
            r["tags"] = tags_.get(r["id"], [])
        return rows

    def sources_map(self, ids: Sequence[int]) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        ids = list(ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            q = ",".join("?" * len(chunk))
            for item_id, src in self.conn.execute(
                    f"SELECT item_id, source_id FROM item_sources WHERE item_id IN ({q}) "
                    "ORDER BY source_id", chunk):
                out.setdefault(item_id, []).append(src)
        return out

    def linked_ids(self, ids: Sequence[int]) -> dict[int, list[tuple[int, str]]]:
        """Both directions of resolved links: id → [(other id, type)]."""
        out: dict[int, list[tuple[int, str]]] = {}
        ids = list(ids)
        for i in range(0, len(ids), 400):
            chunk = ids[i:i + 400]
            q = ",".join("?" * len(chunk))
            for a, b, t in self.conn.execute(
                    f"SELECT src_id, dst_id, type FROM links WHERE dst_id IS NOT NULL AND "
                    f"(src_id IN ({q}) OR dst_id IN ({q}))", chunk + chunk):
                if a in chunk:
                    out.setdefault(a, []).append((b, t))
                if b in chunk:
                    out.setdefault(b, []).append((a, t))
        return out

    def derived_without_sources(self, kinds: Sequence[str]) -> list[int]:
        q = ",".join("?" * len(kinds))
        return [r[0] for r in self.conn.execute(
            f"SELECT id FROM items i WHERE kind IN ({q}) AND NOT EXISTS "
            "(SELECT 1 FROM item_sources s WHERE s.item_id = i.id)", list(kinds))]

    def duplicate_hash_groups(self, kind: str) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM (SELECT content_hash FROM items WHERE kind = ? "
            "GROUP BY content_hash HAVING count(*) > 1)", (kind,)).fetchone()[0]

    def all_conversations(self) -> list[dict]:
        return _rows(self.conn.execute("SELECT * FROM conversations ORDER BY id"))

    def standalone_items(self, kinds: Sequence[str]) -> list[dict]:
        """Items of these kinds outside conversations, oldest first, with their tags."""
        q = ",".join("?" * len(kinds))
        rows = _rows(self.conn.execute(
            f"SELECT * FROM items WHERE kind IN ({q}) AND conversation_id IS NULL "
            "ORDER BY created_at, id", list(kinds)))
        tags = self.tags_of([r["id"] for r in rows])
        for r in rows:
            r["tags"] = tags.get(r["id"], [])
        return rows

    # ---- search primitives ----------------------------------------------------------------------
    @staticmethod
    def _column_filters(f: Filters, prefix: str = "") -> tuple[list[str], list]:
        """Conditions on kind, source and date: columns of ``items`` and metadata columns of the
        vec0 table alike (so the vector side filters inside its KNN scan)."""
        parts, params = [], []
        if f.kinds:
            parts.append(f"{prefix}kind IN ({','.join('?' * len(f.kinds))})")
            params += list(f.kinds)
        if f.sources:
            parts.append(f"{prefix}source IN ({','.join('?' * len(f.sources))})")
            params += list(f.sources)
        if f.since:
            parts.append(f"{prefix}created_at >= ?")
            params.append(f.since)
        if f.until:
            parts.append(f"{prefix}created_at < ?")
            params.append(f.until)
        return parts, params

    def _filter_sql(self, f: Filters | None, alias: str = "items") -> tuple[str, list]:
        if f is None or f.empty():
            return "", []
        parts, params = self._column_filters(f, alias + ".")
        if f.tags:
            parts.append(f"EXISTS (SELECT 1 FROM item_tags t WHERE t.item_id = {alias}.id AND "
                         f"t.tag IN ({','.join('?' * len(f.tags))}))")
            params += [normalize_tag(t) for t in f.tags]
        if f.conversation:
            parts.append(f"{alias}.conversation_id IN (SELECT id FROM conversations "
                         "WHERE external_id = ?)")
            params.append(f.conversation)
        return " AND " + " AND ".join(parts), params

    def fts_search(self, match: str, limit: int, filters: Filters | None = None
                   ) -> list[tuple[int, float]]:
        """(item id, bm25) best first; bm25 is negated so bigger is better."""
        if not match:
            return []
        where, params = self._filter_sql(filters)
        sql = ("SELECT items_fts.rowid, -bm25(items_fts, 2.0, 1.0, 1.5) AS s FROM items_fts "
               "JOIN items ON items.id = items_fts.rowid "
               f"WHERE items_fts MATCH ?{where} ORDER BY bm25(items_fts, 2.0, 1.0, 1.5) LIMIT ?")
        return [(r[0], r[1]) for r in self.conn.execute(sql, [match, *params, limit])]

    def turn_neighbours(self, ids: Sequence[int], filters: Filters | None = None, span: int = 1
                   ) -> dict[int, list[tuple[int, int]]]:
        """item id → (id, distance) of the turns up to ``span`` positions before and after it in
        its conversation that pass ``filters``; items outside a conversation have none."""
        out: dict[int, list[tuple[int, int]]] = {}
        where, params = self._filter_sql(filters, alias="b")
        ids = list(dict.fromkeys(ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            q = ",".join("?" * len(chunk))
            for a, b, d in self.conn.execute(
                    "SELECT a.id, b.id, abs(b.position - a.position) FROM items a JOIN items b "
                    "ON b.conversation_id = a.conversation_id "
                    "AND b.position BETWEEN a.position - ? AND a.position + ? AND b.id != a.id "
                    f"WHERE a.id IN ({q}) AND a.conversation_id IS NOT NULL{where} "
                    "ORDER BY a.id, b.position",
                    [int(span), int(span), *chunk, *params]):
                out.setdefault(a, []).append((b, d))
        return out

    def vec_search(self, vector, limit: int, filters: Filters | None = None, *,
                   exact: bool = False) -> list[tuple[int, float]]:
        """(item id, cosine similarity) best first.

        Small stores (and ``exact``): sqlite-vec's exact scan; kind/source/date filter inside it,
        tags and conversation after, over-fetching to keep k results. From ``COARSE_MIN`` vectors
        on: the coarse index (vecindex.py), re-scored exactly against float16 copies."""
        if not self.has_vec_table():
            return []
        f = filters or Filters()
        if not exact:
            hits = self._coarse_search(vector, limit, f)
            if hits is not None:
                return hits
        pre, params = self._column_filters(f)
        post = bool(f.tags or f.conversation)
        k = min(MAX_KNN, limit * 20 if post else limit)
        extra = "".join(" AND " + p for p in pre)
        rows = self.conn.execute(
            f"SELECT item_id, distance FROM {VEC_TABLE} WHERE embedding MATCH ? AND k = ?{extra}"
            " ORDER BY distance", [_vec_bytes(vector), k, *params]).fetchall()
        hits = [(r[0], 1.0 - r[1]) for r in rows if r[1] is not None]
        if post and hits:
            post_f = Filters(tags=f.tags, conversation=f.conversation)
            where, pparams = self._filter_sql(post_f)
            ids = [h[0] for h in hits]
            q = ",".join("?" * len(ids))
            keep = {r[0] for r in self.conn.execute(
                f"SELECT id FROM items WHERE id IN ({q}){where}", [*ids, *pparams])}
            hits = [h for h in hits if h[0] in keep]
        return hits[:limit]

    def _coarse_search(self, vector, limit: int, f: Filters) -> list[tuple[int, float]] | None:
        """The coarse path of ``vec_search``; None means "use the exact scan"."""
        import numpy as np

        from memcli.store import vecindex as vx

        top = self.conn.execute("SELECT max(chunk) FROM vec_bits").fetchone()[0]
        if top is None or (top + 1) * vx.CHUNK < COARSE_MIN:  # certainly small: skip loading
            return None
        vec = np.asarray(vector, dtype=np.float32).reshape(-1)
        dim = int(vec.shape[0])
        bm = self._bit_matrix(dim)
        if len(bm) < COARSE_MIN:
            return None
        want = max(COARSE_CANDIDATES, limit * 8)
        if f.empty():
            return vx.rescore(vec, self._f16_rows(bm.nearest(vec, want, dim)))[:limit]
        where, params = self._filter_sql(f)
        subset = [r[0] for r in self.conn.execute(
            f"SELECT id FROM items WHERE 1 = 1{where} LIMIT ?", [*params, EXACT_SUBSET + 1])]
        if len(subset) <= EXACT_SUBSET:  # a narrow filter: every item that passes, exactly
            return vx.rescore(vec, self._f16_rows(subset))[:limit]
        # A broad filter: most of the Hamming-nearest pass it; fetch more and keep those that do.
        cand = [int(i) for i in bm.nearest(vec, min(len(bm), want * 4), dim)]
        keep: set[int] = set()
        for i in range(0, len(cand), 500):
            chunk = cand[i:i + 500]
            q = ",".join("?" * len(chunk))
            keep.update(r[0] for r in self.conn.execute(
                f"SELECT id FROM items WHERE id IN ({q}){where}", [*chunk, *params]))
        hits = vx.rescore(vec, self._f16_rows([c for c in cand if c in keep][:want]))
        return hits[:limit] if len(hits) >= limit else None

    def approx_vectors(self, ids: Sequence[int]) -> dict:
        """item id → float32 array from the float16 copies (a primary-key read; sqlite-vec's
        own rows cost a chunk read each), falling back to the exact vector where none is kept."""
        import numpy as np

        out = {int(i): np.frombuffer(b, dtype=np.float16).astype(np.float32)
               for i, b in self._f16_rows(ids)}
        rest = [i for i in ids if int(i) not in out]
        out.update((i, np.frombuffer(b, dtype=np.float32)) for i, b in self.vectors_of(rest).items())
        return out

    def vectors_of(self, ids: Sequence[int]) -> dict[int, bytes]:
        if not self.has_vec_table() or not ids:
            return {}
        q = ",".join("?" * len(ids))
        return {r[0]: r[1] for r in self.conn.execute(
            f"SELECT item_id, embedding FROM {VEC_TABLE} WHERE item_id IN ({q})", list(ids))}

    # ---- maintenance (memcli doctor; see maintenance.py) ----------------------------------------
    def integrity_errors(self) -> list[str]:
        """PRAGMA integrity_check plus FTS5's own index check; [] when healthy."""
        errors = [r[0] for r in self.conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
        try:
            self.conn.execute("INSERT INTO items_fts(items_fts) VALUES ('integrity-check')")
        except Exception as exc:  # SQLITE_CORRUPT_VTAB: the index disagrees with its content
            errors.append(f"full-text index: {exc}")
        return errors

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

    def rewrite_fts(self, ids: Sequence[int]) -> None:
        """(Re)write the FTS rows of these items from the items table; drop rows of gone ids."""
        for item_id in ids:
            self.conn.execute("DELETE FROM items_fts WHERE rowid = ?", (item_id,))
            row = self.conn.execute("SELECT title, text FROM items WHERE id = ?",
                                    (item_id,)).fetchone()
            if row is None:
                continue
            tags = [r[0] for r in self.conn.execute(
                "SELECT tag FROM item_tags WHERE item_id = ? ORDER BY tag", (item_id,))]
            self.conn.execute("INSERT INTO items_fts(rowid, title, text, tags) VALUES (?, ?, ?, ?)",
                              (item_id, row[0] or "", row[1], " ".join(tags)))

    def rebuild_fts(self) -> None:
        """Rebuild the whole FTS5 index from its stored content (repairs a corrupt index)."""
        self.conn.execute("INSERT INTO items_fts(items_fts) VALUES ('rebuild')")

    def vec_table_dim(self) -> int | None:
        import re

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

    def delete_vectors(self, ids: Sequence[int]) -> None:
        for item_id in ids:
            self.conn.execute(f"DELETE FROM {VEC_TABLE} WHERE item_id = ?", (item_id,))
        self._coarse_drop(list(ids))

    def items_for_embedding(self, ids: Sequence[int]) -> list[dict]:
        out: list[dict] = []
        for i in range(0, len(ids), 500):
            chunk = list(ids[i:i + 500])
            q = ",".join("?" * len(chunk))
            out += _rows(self.conn.execute(
                f"SELECT id, title, text, role FROM items WHERE id IN ({q}) ORDER BY id", chunk))
        return out

    def reindex_btrees(self) -> None:
        """REINDEX: rebuilds every ordinary index (repairs 'row missing from index' damage)."""
        self.conn.execute("REINDEX")

    def backup_to(self, dest: str | os.PathLike) -> None:
        """Copy the live database into ``dest`` with SQLite's online backup API: one consistent
        snapshot even while other processes write (WAL readers never block writers). The copy is
        switched to a rollback journal so it is one self-contained file."""
        from memcli.store import connection as dbmod

        target = dbmod.sqlite_module().connect(str(dest), isolation_level=None)
        try:
            self.conn.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()

    # ---- bulk reads -----------------------------------------------------------------------------
    def iter_items(self, batch: int = 256, kinds: Sequence[str] | None = None
                   ) -> Iterator[list[dict]]:
        last = 0
        kind_sql, kparams = "", []
        if kinds:
            kind_sql = f" AND kind IN ({','.join('?' * len(kinds))})"
            kparams = list(kinds)
        while True:
            rows = _rows(self.conn.execute(
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
