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
EMBED_BUDGET_CHARS = 120_000  # what the parts of one long note are embedded by, together


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
        where = data_dir(home)
        if where.exists() and not where.is_dir():
            hint = (f" (did you mean --home {where.parent}?)" if where.name == DB_NAME else "")
            raise MemcliError(f"{where} is a file, not a directory: --home / MEMCLI_HOME name the "
                              f"data directory that holds {DB_NAME}{hint}")
        self.home = ensure_private_dir(where)
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
                 key: str | None = None, meta: dict | None = None, lossy: bool = False,
                 origin: str = "the note") -> int:
        """Store a note; ``meta``: provenance details kept with it (the MCP server records the
        client that sent the note, ``{"client": name, "client_version": …}``). Returns its id
        (a long note's first section: ``remember_parts`` returns them all)."""
        return self.remember_parts(text, title=title, tags=tags, created_at=created_at,
                                   source=source, kind=kind, key=key, meta=meta, lossy=lossy,
                                   origin=origin)[0]

    def remember_parts(self, text: str, *, title: str | None = None, tags: Iterable[str] = (),
                       created_at: str | None = None, source: str = "cli", kind: str = "note",
                       key: str | None = None, meta: dict | None = None, lossy: bool = False,
                       origin: str = "the note") -> list[int]:
        """``remember``, returning every id: a note over ``[limits] note_mb`` is refused; one
        longer than a few pages is stored as sections that cite their position
        (memcli/core/sections.py). Invalid UTF-8 or a NUL byte (in the text, title or a tag)
        is refused with where it is, unless ``lossy`` (then replaced / dropped)."""
        from memcli.core.sections import size_problem, split_long, text_problem

        tags = list(tags)
        if not lossy:
            for what, value in [(origin, text), ("the title", title),
                                *(("a tag", t) for t in tags)]:
                problem = text_problem(value)
                if problem:
                    raise MemcliError(f"{what} holds {problem}; fix its encoding, or add "
                                      "--lossy to store it with the bad bytes replaced")
        too_big = size_problem(text, self.config.limits_note_mb, origin, "note_mb")
        if too_big:
            raise MemcliError(too_big)
        text = text.strip()
        if not text:
            raise MemcliError("nothing to remember: the note is empty")
        parts = split_long(clean_text(text))
        if parts is None:
            items = [NewItem(text=text, title=title, tags=tags, kind=kind, source=source,
                             created_at=created_at, key=key, meta=meta)]
        else:
            import hashlib

            digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:20]
            base = key or f"{source}:note:{digest}"
            items = [NewItem(text=p.text, title=f"{title} · {p.heading}" if title else p.heading,
                             tags=tags, kind="section", source=source,
                             created_at=created_at, key=f"{base}#{n}", heading=p.heading,
                             meta={**(meta or {}), "part": n + 1, "parts": len(parts),
                                   "lines": [p.first_line, p.last_line]})
                     for n, p in enumerate(parts)]
        vectors = None
        if parts is not None:  # a huge note: each part is embedded by its head (the model reads
            head = max(600, EMBED_BUDGET_CHARS // len(parts))  # 256 tokens at most anyway);
            self._check_model()  # every word of it is in the keyword index
            vectors = self.embedder.embed([embed_text(it.title, it.text[:head]) for it in items])
        ids = self.add_items(items, vectors=vectors)
        if any(i is None for i in ids):
            raise MemcliError("this note is already stored")
        return ids

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
               now: datetime | None = None, structure: bool = False,
               diverse: bool = True) -> list[Hit]:
        """``structure=True`` uses the digested structure: one-hop expansion along sources and
        links, and the retention score as a small ranking signal (memcli/retrieval/graph.py).
        ``diverse``: at most ``PER_CONVERSATION`` hits of one conversation in the first
        ``DIVERSE_TOP`` (``AGGREGATE_TOP`` for a question that counts or adds up; the rest are
        demoted below them, not dropped: memcli/retrieval/diversity.py), so every front end
        shows the same diverse first page."""
        from memcli.retrieval.diversity import PER_CONVERSATION, cap_per_conversation, diverse_top
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
        # a capped conversation's hits make room for the next ones: fetch enough to fill the top
        top = diverse_top(query)
        fetch = max(limit, top * PER_CONVERSATION) if diverse else limit
        hits = hybrid_search(self.store, embedder, query, limit=fetch, filters=filters, now=now,
                             expand=structure, retention_weight=0.1 if structure else 0.0)
        return (cap_per_conversation(hits, top=top) if diverse else hits)[:limit]

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
        if row["source"] in ("digest", "mcp") and row.get("meta"):
            import json  # keywords/context of derived notes; the client that sent an MCP note

            meta = json.loads(row["meta"]) or {}
            out.update({k: meta[k] for k in ("keywords", "context", "type", "client")
                        if meta.get(k)})
        history = self.store.history_of(item_id)
        if history:
            out["history"] = history
        if row["conversation_id"] is not None:
            conv = self.store.conversation(row["conversation_id"])
            out["conversation"] = {"id": conv["external_id"], "title": conv["title"],
                                   "source": conv["source"], "position": row["position"]}
        return out

    def forget(self, item_id: int) -> list[int]:
        """Delete an item everywhere, with every derived note that rests on it (whatever else it
        rests on: its text may repeat this item's), then scrub the file so the text cannot be
        recovered (README, "What forget guarantees"). A fact a removed one had superseded is
        current again (or superseded by the removed one's own successor); the items the removed
        notes also rested on are queued for `digest` again, which re-derives what they say.
        Returns the removed ids, the given one first."""
        store = self.store
        removed: list[int] = []
        with store.transaction():
            store.get_item(item_id)  # NotFound before anything changes
            doomed = [item_id]
            while doomed:
                current = doomed.pop()
                if current not in removed:
                    removed.append(current)
                    doomed.extend(store.derived_from(current))
            gone = set(removed)
            rest = {s for d in removed[1:] for s in store.sources_of(d)} - gone
            for row in store.superseded_by_any(removed):
                if row["id"] in gone:
                    continue
                successor, valid_to, steps = row["superseded_by"], None, len(gone)
                while successor in gone and steps:  # walk past forgotten successors to a kept one
                    steps -= 1
                    nxt = store.get_item(successor)
                    successor, valid_to = nxt["superseded_by"], nxt["valid_to"]
                store.reopen_superseded(row["id"], row["superseded_by"], successor,
                                        valid_to if successor is not None else None)
            for current in removed:
                store.delete_item(current)
            store.undigest(sorted(rest))
            for conv_id in store.orphaned_conversations():
                store.delete_conversation(conv_id)
        store.scrub()
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
