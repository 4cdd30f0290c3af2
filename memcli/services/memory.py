"""The library API every front end uses: remember, recall, show, forget, stats, reindex.

``Memory`` owns one Store and (lazily) one embedder. CLI and TUI only parse, call and format.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Sequence

from memcli.core.config import DB_NAME, Config, data_dir, ensure_private_dir
from memcli.core.errors import MemcliError
from memcli.core.models import Filters, Hit, NewItem, clean_text
from memcli.core.timeutil import iso, parse_user_date, utcnow

Progress = Callable[[int], None]


def embed_text(title: str | None, text: str, role: str | None = None) -> str:
    """What the embedder sees for an item: the title gives short notes their topic, and a named
    speaker ("Caroline: …") ties a chat line to its person (BENCHMARKS.md, LoCoMo). Generic roles
    (user/assistant) add nothing."""
    from memcli.core.models import speaker_name

    who = speaker_name(role)
    if who and not text.startswith(who + ":"):
        text = f"{who}: {text}"
    return f"{title}\n{text}" if title and title not in text[:200] else text


class Memory:
    def __init__(self, home: str | os.PathLike | None = None, *, config: Config | None = None,
                 embedder=None, llm=None):
        self.home = ensure_private_dir(data_dir(home))
        self.config = config or Config.load(home)
        from memcli.store import Store

        self.store = Store(self.home / DB_NAME)
        self._embedder = embedder
        self._llm = llm

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Memory":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def db_path(self) -> Path:
        return self.store.path

    # ---- models ---------------------------------------------------------------------------------
    @property
    def embedder(self):
        if self._embedder is None:
            from memcli.backends.factory import make_embedder

            self._embedder = make_embedder(self.config.embedding_backend)
        return self._embedder

    @property
    def llm(self):
        """The configured LLM backend (``config.llm_backend``), built on first use."""
        if self._llm is None:
            from memcli.backends.factory import make_llm

            self._llm = make_llm(self.config)
        return self._llm

    def _check_model(self) -> None:
        """Refuse to search or write with a different model than the one the index was built by."""
        current = self.store.vector_model()
        e = self.embedder
        if current is None or not self.store.has_vec_table():
            self.store.ensure_vector_index(e.model_id, e.dim)
        elif current != (e.model_id, e.dim):
            self.store.ensure_vector_index(e.model_id, e.dim)  # raises ModelMismatch

    # ---- writing --------------------------------------------------------------------------------
    def add_items(self, items: Sequence[NewItem], *, conversation_id: int | None = None,
                  vectors=None) -> list[int | None]:
        """Embed and store items in one transaction; items whose key exists are skipped (None)."""
        if not items:
            return []
        self._check_model()
        keys = [it.key for it in items if it.key]
        existing = self.store.existing_keys(keys) if keys else set()
        todo = [i for i, it in enumerate(items) if not (it.key and it.key in existing)]
        if vectors is None and todo:
            vectors_todo = self.embedder.embed([embed_text(items[i].title, items[i].text,
                                                           items[i].role) for i in todo])
        else:
            vectors_todo = [vectors[i] for i in todo] if vectors is not None else []
        ids: list[int | None] = [None] * len(items)
        with self.store.transaction():
            added = []
            for j, i in enumerate(todo):
                ids[i] = self.store.insert_item(items[i], conversation_id=conversation_id,
                                                vector=vectors_todo[j], coarse=False)
                if ids[i] is not None:
                    added.append((ids[i], vectors_todo[j]))
            self.store.coarse_add(added)  # one write per chunk of the coarse index, not per item
        return ids

    def remember(self, text: str, *, title: str | None = None, tags: Iterable[str] = (),
                 created_at: str | None = None, source: str = "cli", kind: str = "note",
                 key: str | None = None) -> int:
        text = text.strip()
        if not text:
            raise MemcliError("nothing to remember: the note is empty")
        [item_id] = self.add_items([NewItem(text=text, title=title, tags=list(tags), kind=kind,
                                            source=source, created_at=created_at, key=key)])
        if item_id is None:
            raise MemcliError("this note is already stored")
        return item_id

    # ---- reading --------------------------------------------------------------------------------
    def resolve_now(self, as_of: str | None) -> datetime:
        return parse_user_date(as_of, utcnow(), what="--as-of date") if as_of else utcnow()

    def make_filters(self, *, kinds=None, sources=None, tags=None, since: str | None = None,
                     until: str | None = None, now: datetime | None = None,
                     conversation: str | None = None) -> Filters:
        now = now or utcnow()
        f = Filters(kinds=list(kinds) or None if kinds else None,
                    sources=list(sources) or None if sources else None,
                    tags=list(tags) or None if tags else None, conversation=conversation)
        if since:
            f.since = iso(parse_user_date(since, now, what="--since date"))
        if until:
            f.until = iso(parse_user_date(until, now, what="--until date"))
        if f.since and f.until and f.since >= f.until:
            raise MemcliError(f"--since ({f.since}) must be before --until ({f.until})")
        return f

    def search(self, query: str, *, limit: int | None = None, filters: Filters | None = None,
               now: datetime | None = None, structure: bool = False) -> list[Hit]:
        """``structure=True`` uses the digested structure: one-hop expansion along sources and
        links, and the retention score as a small ranking signal (memcli/retrieval/graph.py)."""
        from memcli.retrieval.hybrid import hybrid_search

        query = clean_text(query)
        if not query or not query.strip():
            raise MemcliError("the search query is empty")
        limit = self.config.search_limit if limit is None else limit
        if limit < 1:
            raise MemcliError("-n must be at least 1")
        limit = min(limit, 10_000)  # more hits than anyone reads; keeps SQL integers in range
        if self.store.vector_model() is not None:
            self._check_model()
            embedder = self.embedder
        else:  # nothing embedded yet: keyword search only, and don't load a model for nothing
            embedder = None
        return hybrid_search(self.store, embedder, query, limit=limit, filters=filters, now=now,
                             expand=structure, retention_weight=0.1 if structure else 0.0)

    def show(self, item_id: int) -> dict:
        from memcli.retrieval.hits import source_of

        row = self.store.get_item(item_id)
        out = {
            "id": row["id"], "kind": row["kind"], "title": row["title"], "text": row["text"],
            "role": row["role"], "created_at": row["created_at"], "added_at": row["added_at"],
            "tags": row["tags"], "source": source_of(row),
            "importance": row["importance"], "access_count": row["access_count"],
        }
        sources = self.store.sources_of(item_id)
        if sources:
            out["sources"] = sources
        links, backlinks = self.store.links_of(item_id), self.store.backlinks_of(item_id)
        if links:
            out["links"] = links
        if backlinks:
            out["backlinks"] = backlinks
        for key in ("valid_from", "valid_to", "superseded_by"):
            if row.get(key) is not None and (key != "valid_from" or row["kind"] != "message"):
                out[key] = row[key]
        if row["source"] == "digest" and row.get("meta"):  # keywords/context of derived notes
            import json

            meta = json.loads(row["meta"]) or {}
            out.update({k: meta[k] for k in ("keywords", "context", "type") if meta.get(k)})
        history = self.store.history_of(item_id)
        if history:
            out["history"] = history
        if row["conversation_id"] is not None:
            conv = self.store.conversation(row["conversation_id"])
            out["conversation"] = {"id": conv["external_id"], "title": conv["title"],
                                   "source": conv["source"], "position": row["position"]}
        return out

    def forget(self, item_id: int) -> list[int]:
        """Delete an item everywhere, plus derived notes that rested only on it. Returns ids."""
        removed: list[int] = []
        with self.store.transaction():
            self.store.get_item(item_id)  # NotFound before anything changes
            doomed = [item_id]
            while doomed:
                current = doomed.pop()
                if current in removed:
                    continue
                for derived in self.store.derived_from(current):
                    rest = [s for s in self.store.sources_of(derived)
                            if s != current and s not in removed]
                    if not rest:
                        doomed.append(derived)
                self.store.delete_item(current)
                removed.append(current)
            for conv_id in self.store.orphaned_conversations():
                self.store.delete_conversation(conv_id)
        return removed

    def stats(self) -> dict:
        out = self.store.counts()
        out["database"] = str(self.db_path)
        try:
            out["size_bytes"] = self.db_path.stat().st_size
        except OSError:
            pass
        return out

    def reindex(self, progress: Progress | None = None, batch: int = 256) -> int:
        """Re-embed every item with the current embedder (after changing models).

        The model runs outside any transaction and each batch is written in its own short one,
        so other writers (an `add`, the chat) never wait for the whole re-embedding. If it is
        interrupted, search still works (keyword side + the vectors written so far) and
        `memcli doctor --fix` (or another reindex) embeds the rest."""
        e = self.embedder
        total = 0
        self.store.reset_vector_index(e.model_id, e.dim)
        for rows in self.store.iter_items(batch=batch):
            vecs = e.embed([embed_text(r["title"], r["text"], r.get("role")) for r in rows])
            with self.store.transaction():
                self.store.put_vectors((r["id"], v) for r, v in zip(rows, vecs))
            total += len(rows)
            if progress:
                progress(len(rows))
        return total
