"""Hybrid retrieval: FTS5 BM25 and vector KNN fused by reciprocal rank.

No SQL here: the store runs the two primitive searches, this module fuses and ranks them.
"""

from __future__ import annotations

import re
from datetime import datetime

from .models import Filters, Hit

RRF_K = 60
# Hybrid search settings, tuned on LoCoMo evidence retrieval (benchmarks/locomo.py; R@10 over
# categories 1-4, speakers embedded: 0.590 with k=60, equal weights, no neighbours; 0.619 with
# k=10 and vector weight 0.7; 0.688 with ±1 neighbours; 0.704 with the ±2 window):
FUSION_K = 10  # a small RRF k trusts the top of each ranking more
VECTOR_WEIGHT = 0.7  # BM25 is the stronger ranker on personal chat; vectors add paraphrases
NEIGHBOUR_WEIGHT = 0.5  # a strong chat line lends this share of its score to the turns around it,
NEIGHBOUR_SPAN = 2  # halved at each further step (±1: 0.5, ±2: 0.25); R@10 0.688 → 0.704
WORD = re.compile(r"\w+", re.UNICODE)
# Words that carry no topic; dropped from the keyword side (the vector side sees the whole query).
STOPWORDS = frozenset("""
a an and are as at be been but by can could did do does for from had has have how i i'm if in
is it its me my of on or our she he so that the their them then there these they this to was
we were what when where which who whom why will with would you your yours about into than s t
""".split())


def fts_query(text: str) -> str:
    """Turn free user text into a safe FTS5 expression: every word quoted, OR-ed.

    Quoting makes punctuation (``what's``, ``c++``, ``"``) and FTS keywords (``NOT``, ``NEAR``)
    plain text; BM25 then rewards documents that match more and rarer words."""
    words = [w.lower() for w in WORD.findall(text)]
    content = [w for w in words if w not in STOPWORDS]
    words = list(dict.fromkeys(content or words))[:64]
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


def tied_ranks(scored: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """(id, score) best first → (id, rank) where equal scores share their average rank.

    BM25 gives many short lines the same score ("called Ana about the keys", "… Ben about the
    keys"); ranking ties arbitrarily would hand the first of them a top rank they did not earn."""
    out: list[tuple[int, float]] = []
    i = 0
    while i < len(scored):
        j = i
        while j + 1 < len(scored) and abs(scored[j + 1][1] - scored[i][1]) <= 1e-9 * max(
                1.0, abs(scored[i][1])):
            j += 1
        rank = (i + j) / 2
        out.extend((item_id, rank) for item_id, _ in scored[i:j + 1])
        i = j + 1
    return out


def rrf(rankings: list[list[tuple[int, float]]], weights: list[float] | None = None,
        k: int = RRF_K) -> dict[int, float]:
    """Reciprocal-rank fusion of (id, score) lists, best first; ties share a rank."""
    scores: dict[int, float] = {}
    weights = weights or [1.0] * len(rankings)
    for ranking, w in zip(rankings, weights):
        for item_id, rank in tied_ranks(ranking):
            scores[item_id] = scores.get(item_id, 0.0) + w / (k + rank + 1)
    return scores


def with_neighbours(store, fused: dict[int, float], filters: Filters | None = None,
                    weight: float | None = None) -> dict[int, float]:
    """Conversation context: each turn next to a candidate gains ``weight`` × its score (half
    that two turns away).
    An answer often sits next to the line that matches the question ("what did you suggest?" →
    the reply), and multi-turn facts span neighbours."""
    weight = NEIGHBOUR_WEIGHT if weight is None else weight
    if not weight or not fused or not hasattr(store, "turn_neighbours"):
        return fused
    out = dict(fused)
    near = store.turn_neighbours(list(fused), filters, span=NEIGHBOUR_SPAN)
    for item_id, nbrs in near.items():
        for n, dist in nbrs:
            out[n] = out.get(n, 0.0) + weight * 0.5 ** (dist - 1) * fused[item_id]
    return out


def source_of(row: dict) -> dict:
    return {
        "type": row["source"],
        "conversation_id": row.get("conversation_external_id"),
        "message_id": row.get("external_id"),
        "path": row.get("path"),
        "title": row.get("title") or row.get("conversation_title"),
    }


def hit_from_row(row: dict, score: float, similarity: float | None = None,
                 bm25: float | None = None) -> Hit:
    return Hit(
        id=row["id"], kind=row["kind"], text=row["text"], score=score,
        created_at=row["created_at"], source=source_of(row), title=row.get("title"),
        role=row.get("role"), tags=row.get("tags", []), similarity=similarity, bm25=bm25,
        superseded=bool(row.get("valid_to")),
    )


def hybrid_search(store, embedder, query: str, *, limit: int = 10,
                  filters: Filters | None = None, now: datetime | None = None,
                  candidates: int | None = None, expand: bool = False,
                  retention_weight: float = 0.0) -> list[Hit]:
    """Best ``limit`` hits for ``query``; keyword and semantic rankings fused with RRF.

    Superseded facts (``valid_to`` set) stay findable but rank below current ones.
    ``retention_weight`` blends in the MemoryBank retention score and ``expand`` adds one-hop
    neighbours (sources, links) of the best hits: see memcli/digest/graph.py."""
    limit = max(1, int(limit))
    n = candidates or max(50, limit * 5)
    kw = store.fts_search(fts_query(query), n, filters)
    vec = []
    if embedder is not None and store.has_vec_table():
        qv = embedder.embed([query])[0]
        vec = store.vec_search(qv, n, filters)
    fused = rrf([kw, vec], [1.0, VECTOR_WEIGHT], k=FUSION_K)
    if not fused:
        return []
    fused = with_neighbours(store, fused, filters)
    keep = max(limit * 4, 40)  # rows are fetched for the best candidates only
    if len(fused) > keep:
        fused = dict(sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:keep])
    sims = dict(vec)
    bm = dict(kw)
    rows = store.get_items(list(fused))
    hits = []
    for item_id, score in fused.items():
        row = rows.get(item_id)
        if row is None:
            continue
        if row.get("valid_to"):
            score *= 0.5
        if retention_weight:
            from .digest.graph import apply_retention

            score = apply_retention(score, row, now, retention_weight)
        hits.append(hit_from_row(row, score, sims.get(item_id), bm.get(item_id)))
    hits.sort(key=lambda h: (-h.score, -(h.similarity or 0.0), h.id))
    if expand:
        from .digest.graph import expand as expand_hits

        hits = expand_hits(store, hits, now=now)
    return hits[:limit]
