"""The vectors: sqlite-vec's vec0 table ``items_vec`` (rowid = item id, created once the embedding
model is known) and the coarse index kept in step with it (vecindex.py; tables ``vec_bits`` and
``vec_f16``)."""

from __future__ import annotations

from typing import Iterable, Sequence

import memcli.store.vecindex as vx
from memcli.core.errors import ModelMismatch
from memcli.core.models import Filters
from memcli.store.sql import chunks, column_filters, filter_sql

VEC_TABLE = "items_vec"
MAX_KNN = 4096  # sqlite-vec's limit on k
COARSE_MIN = 20_000  # fewer vectors than this: the exact vec0 scan takes ≤ ~20 ms, use it
COARSE_CANDIDATES = 1000  # Hamming-nearest re-scored exactly per search (at least limit × 8):
#   on real MiniLM vectors at 1M items they hold 0.970 of the exact top-10 (400: 0.961), +5 ms
EXACT_SUBSET = 20_000  # a kind/source/date/tag filter leaving at most this many items: re-score
#                        all of them exactly instead of filtering the Hamming candidates


def vec_bytes(vec) -> bytes:
    import numpy as np

    return np.asarray(vec, dtype=np.float32).tobytes()


def coarse_put(conn, pairs: Sequence[tuple[int, object]]) -> None:
    """Write (item id, vector) pairs into the coarse index (vec_bits, vec_f16); also used by the
    migration that derives the index for memories indexed before it existed."""
    if not pairs:
        return
    import numpy as np

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


class VectorsMixin:
    # ---- the vec0 table -------------------------------------------------------------------------
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

    def _insert_vector(self, item_id: int, vec, kind: str, source: str, created_at: str) -> None:
        """The vec0 row alone (the item's kind, source and date are its filter columns)."""
        self.conn.execute(
            f"INSERT INTO {VEC_TABLE}(item_id, embedding, kind, source, created_at) "
            "VALUES (?, ?, ?, ?, ?)", (item_id, vec_bytes(vec), kind, source, created_at))

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
            self._insert_vector(item_id, vec, *meta)
            written.append((item_id, vec))
        self.coarse_add(written)

    def delete_vectors(self, ids: Sequence[int]) -> None:
        """Drop these items' vectors from the vec0 table (if there is one) and the coarse index."""
        if self.has_vec_table():
            for item_id in ids:
                self.conn.execute(f"DELETE FROM {VEC_TABLE} WHERE item_id = ?", (item_id,))
        self._coarse_drop(list(ids))

    def kind_vectors(self, kinds: Sequence[str], limit: int, after: int = 0
                     ) -> list[tuple[int, str, bytes]] | None:
        """(item id, kind, float32 vector) of every item of these kinds with an id above
        ``after`` that has a vector, or None when more than ``limit`` items are of these kinds
        (too many to hold in memory)."""
        if not self.has_vec_table() or not kinds:
            return []
        q = ", ".join("?" * len(kinds))
        n = self.conn.execute(f"SELECT count(*) FROM items WHERE kind IN ({q})",
                              list(kinds)).fetchone()[0]
        if n > limit:
            return None
        rows = self.conn.execute(f"SELECT id, kind FROM items WHERE kind IN ({q}) AND id > ? "
                                 "ORDER BY id", [*kinds, after]).fetchall()
        vecs = self.vectors_of([r[0] for r in rows])
        return [(i, k, vecs[i]) for i, k in rows if i in vecs]

    def vectors_of(self, ids: Sequence[int]) -> dict[int, bytes]:
        if not self.has_vec_table() or not ids:
            return {}
        out: dict[int, bytes] = {}
        for chunk, q in chunks(ids):
            out.update(self.conn.execute(
                f"SELECT item_id, embedding FROM {VEC_TABLE} WHERE item_id IN ({q})", chunk))
        return out

    # ---- the coarse index (sign bits + float16 copies; see vecindex.py) -------------------------
    def coarse_add(self, pairs: Sequence[tuple[int, object]]) -> None:
        """Add or replace (item id, vector) pairs in the coarse index (vec_bits and vec_f16)."""
        if pairs:
            coarse_put(self.conn, pairs)
            self._coarse_gen += 1

    def _coarse_drop(self, ids: Sequence[int]) -> None:
        if not ids:
            return
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
        key = (self.conn.execute("PRAGMA data_version").fetchone()[0], self._coarse_gen)
        if self._coarse_cache is None or self._coarse_cache[0] != key:
            chunk_rows = self.conn.execute(
                "SELECT chunk, bits FROM vec_bits ORDER BY chunk").fetchall()
            self._coarse_cache = (key, vx.BitMatrix(chunk_rows, dim))
        return self._coarse_cache[1]

    def _f16_rows(self, ids: Sequence[int]) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        for chunk, q in chunks(int(i) for i in ids):
            out += self.conn.execute(
                f"SELECT item_id, embedding FROM vec_f16 WHERE item_id IN ({q})", chunk).fetchall()
        return out

    def approx_vectors(self, ids: Sequence[int]) -> dict:
        """item id → float32 array from the float16 copies (a primary-key read; sqlite-vec's
        own rows cost a chunk read each), falling back to the exact vector where none is kept."""
        import numpy as np

        out = {int(i): np.frombuffer(b, dtype=np.float16).astype(np.float32)
               for i, b in self._f16_rows(ids)}
        rest = [i for i in ids if int(i) not in out]
        out.update((i, np.frombuffer(b, dtype=np.float32)) for i, b in self.vectors_of(rest).items())
        return out

    # ---- search ---------------------------------------------------------------------------------
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
        pre, params = column_filters(f)
        post = bool(f.tags or f.conversation)
        k = min(MAX_KNN, limit * 20 if post else limit)
        extra = "".join(" AND " + p for p in pre)
        rows = self.conn.execute(
            f"SELECT item_id, distance FROM {VEC_TABLE} WHERE embedding MATCH ? AND k = ?{extra}"
            " ORDER BY distance", [vec_bytes(vector), k, *params]).fetchall()
        hits = [(r[0], 1.0 - r[1]) for r in rows if r[1] is not None]
        if post and hits:
            keep = self._passing([h[0] for h in hits],
                                 Filters(tags=f.tags, conversation=f.conversation))
            hits = [h for h in hits if h[0] in keep]
        return hits[:limit]

    def _passing(self, ids: Sequence[int], f: Filters) -> set[int]:
        """Those of ``ids`` whose items pass ``f``."""
        where, params = filter_sql(f)
        keep: set[int] = set()
        for chunk, q in chunks(int(i) for i in ids):
            keep.update(r[0] for r in self.conn.execute(
                f"SELECT id FROM items WHERE id IN ({q}){where}", [*chunk, *params]))
        return keep

    def _coarse_search(self, vector, limit: int, f: Filters) -> list[tuple[int, float]] | None:
        """The coarse path of ``vec_search``; None means "use the exact scan"."""
        import numpy as np

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
        where, params = filter_sql(f)
        subset = [r[0] for r in self.conn.execute(
            f"SELECT id FROM items WHERE 1 = 1{where} LIMIT ?", [*params, EXACT_SUBSET + 1])]
        if len(subset) <= EXACT_SUBSET:  # a narrow filter: every item that passes, exactly
            return vx.rescore(vec, self._f16_rows(subset))[:limit]
        # A broad filter: most of the Hamming-nearest pass it; fetch more and keep those that do.
        cand = [int(i) for i in bm.nearest(vec, min(len(bm), want * 4), dim)]
        keep = self._passing(cand, f)
        hits = vx.rescore(vec, self._f16_rows([c for c in cand if c in keep][:want]))
        return hits[:limit] if len(hits) >= limit else None
