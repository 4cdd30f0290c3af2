"""Verbatim items ranked with the help of the digested structure: derived notes found by search
vote for the messages they came from (for citing, and for turn-level evaluation)."""

from __future__ import annotations

from memcli.retrieval.graph import DERIVED, verbatim_sources
from memcli.retrieval.hits import hit_from_row
from memcli.retrieval.hybrid import hybrid_search

RECALL_MIN, RECALL_PER_HIT = 50, 5  # recall_verbatim searches max(50, 5 × limit) hits to map back
LINK_SEEDS = 20  # recall_verbatim follows links of the derived notes among this many best hits

def recall_verbatim(memory, query: str, *, limit: int = 10, filters=None, now=None,
                    summary_sources: int = 5, link_weight: float = 0.0,
                    candidates: int | None = None) -> list:
    """Verbatim items ranked with the help of the digested structure.

    The hybrid search runs over everything (messages, notes, facts, summaries); then, best hit
    first, each hit is replaced by the verbatim items it rests on (a message by itself, a fact by
    its message, a summary by its ``summary_sources`` messages closest to the query), keeping the
    first occurrence. With ``link_weight`` > 0, notes linked to the best derived hits (one hop)
    join the candidates with that fraction of the hit's score. On a memory with no derived notes
    this is the plain verbatim ranking."""
    import numpy as np

    store = memory.store
    embedder = memory.embedder if store.vector_model() is not None else None
    if embedder is not None:
        memory._check_model()
    hits = hybrid_search(store, embedder, query, limit=max(limit * RECALL_PER_HIT, RECALL_MIN),
                         filters=filters, now=now, candidates=candidates)
    if link_weight > 0:
        derived = [h for h in hits[:LINK_SEEDS] if h.kind in DERIVED]
        lmap = store.linked_ids([h.id for h in derived])
        seen = {h.id for h in hits}
        extra = []
        for h in derived:
            for other, typ in lmap.get(h.id, []):
                if other not in seen and typ != "supersedes":
                    seen.add(other)
                    extra.append((other, link_weight * h.score))
        rows = store.get_items([i for i, _ in extra])
        hits = sorted(hits + [hit_from_row(rows[i], sc) for i, sc in extra if i in rows],
                      key=lambda h: (-h.score, h.id))
    vmap = verbatim_sources(store, [h.id for h in hits])
    direct = {h.id: h.score for h in hits if h.kind not in DERIVED}
    sim: dict[int, float] = {}
    if embedder is not None:
        qv = np.asarray(embedder.embed([query])[0], dtype=np.float32)
        wanted = list({s for h in hits if h.kind in DERIVED for s in vmap.get(h.id, [])})
        for i, b in store.vectors_of(wanted).items():
            v = np.frombuffer(b, dtype=np.float32)
            if v.shape == qv.shape:
                sim[i] = float(v @ qv)
    order: list[tuple[int, float]] = []
    placed: set[int] = set()
    for h in hits:
        srcs = sorted(vmap.get(h.id, []),
                      key=lambda s: (-(direct.get(s, 0.0) * 10 + sim.get(s, 0.0)), s))
        if h.kind == "summary":
            srcs = srcs[:summary_sources]
        for s in srcs:
            if s not in placed:
                placed.add(s)
                order.append((s, h.score))
        if len(order) >= limit:
            break
    rows = store.get_items([i for i, _ in order[:limit]])
    return [hit_from_row(rows[i], sc) for i, sc in order[:limit] if i in rows]
