"""Hybrid retrieval: FTS5 BM25 and vector KNN fused by reciprocal rank.

No SQL here: the store runs the two primitive searches, this module fuses and ranks them.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from functools import lru_cache

from memcli.core.models import Filters, Hit, speaker_name
from memcli.core.scripts import gram_query, has_unsegmented
from memcli.core.text import FTS_WORD, FUNCTION_WORDS, LOOSE_SUFFIXES, stem, words
from memcli.retrieval.attribute_query import lead_facts, question_attribute
from memcli.retrieval.dates import (
    asks_about_past,
    asks_for_earliest,
    names_a_time,
    without_time_cues,
)
from memcli.retrieval.graph import apply_retention, expand as expand_hits
from memcli.retrieval.hits import SUPERSEDED_WEIGHT, hit_from_row
from memcli.retrieval.validity import newest_restatement_first, prefer_valid

RRF_K = 60  # the textbook reciprocal-rank-fusion k (``rrf``'s default)
# Hybrid search settings, tuned on LoCoMo evidence retrieval (benchmarks/locomo.py; the history of
# each is in BENCHMARKS.md):
FUSION_K = 10  # a small RRF k trusts the top of each ranking more
VECTOR_WEIGHT = 0.7  # BM25 is the stronger ranker on personal chat; vectors add paraphrases
NEIGHBOUR_WEIGHT = 0.5  # a strong chat line lends this share of its score to the turns around it,
NEIGHBOUR_SPAN = 2  # halved at each further step (±1: 0.5, ±2: 0.25)
# A conversation's opening turn has neighbours on one side only, so the boost gave it about half
# what a middle turn of the same chat gets, although the opening message is where people say what
# the chat is about. A turn within NEIGHBOUR_SPAN of the start has its neighbour gain scaled up to
# the full span's weight (at most EDGE_FILL×): the first turn counts its one side twice. The last
# turns are left as they are (closing lines are mostly thanks and goodbyes; filling them too did
# slightly worse on LoCoMo). BENCHMARKS.md, issue 15.
EDGE_FILL = 2.0
FILL_BELOW_LENDER = 0.99  # ... and never past the score of the turn that lends it the most
# A note is its own context: it has no neighbouring turns to gain from, so the person's notes
# (kind note/section, outside any conversation) are lifted by the median gain the best
# conversation turns got from their neighbours in the same search (NOTE_LIFT_SCAN of them).
# Chat turns among themselves rank exactly as before.
NOTE_LIFT = True
NOTE_LIFT_SCAN = 20
NOTE_KINDS = ("note", "section")
# Rare-word coverage: a candidate's score × (1 − w + w·C), C = the share of the query's words it
# contains, each word weighted by its rarity among the candidates (log(1 + n/df)). Rank fusion
# forgets that one item matched the question's rare words and another only its common one; this
# puts part of it back. The best COVERAGE_SCAN fused candidates are read; the rest count as C = 0.
COVERAGE_WEIGHT = 0.3
COVERAGE_SCAN = 200
# A question that names a speaker ("What did Caroline research?") asks about that person's own
# turns: the name is dropped from both queries (the keyword side matched it only where the other
# person says it, the vector side matched every "Caroline: …" line alike) and that speaker's turns
# score × (1 + SPEAKER_BOOST). Such a query costs a second FTS search and a second embedded text.
SPEAKER_BOOST = 1.0
SPEAKER_SCAN = 50  # keyword hits whose roles name the speakers a query may refer to
# The same for a chat with an assistant (roles user/assistant): a question in the first person
# ("Where do I keep my sneakers?") asks about what the person said, so user turns score
# × (1 + ROLE_BOOST); one about what the assistant said ("what did you recommend…", "your
# suggestion") asks for assistant turns; the person's own notes count as theirs. Named speakers
# (SPEAKER_BOOST) are handled above and take precedence. Tuned on the LongMemEval-S dev split.
ROLE_BOOST = 0.5
# "Before", "previously", "former" steer validity (dates.asks_about_past) and are no keyword terms:
# the statement of an older value never says them, so as terms they match only lines that happen
# to say "before" (dates.without_time_cues; BENCHMARKS.md, issue 14, fifth round).
TIME_CUE_KEYWORDS = False
CANDIDATES_MIN, CANDIDATES_PER_HIT = 50, 5  # each side returns max(50, 5 × limit) candidates
KEEP_MIN, KEEP_PER_HIT = 40, 4  # rows are fetched for the best max(40, 4 × limit) fused ones


def fts_query(text: str) -> str:
    """Turn free user text into a safe FTS5 expression: every word quoted, OR-ed.

    Quoting makes punctuation (``what's``, ``c++``, ``"``) and FTS keywords (``NOT``, ``NEAR``)
    plain text; BM25 then rewards documents that match more and rarer words."""
    tokens = words(text, FTS_WORD)
    content = [w for w in tokens if w not in FUNCTION_WORDS]
    tokens = list(dict.fromkeys(content or tokens))[:64]
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in tokens)


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


def query_terms(text: str) -> list[str]:
    """The words the keyword side searches for (``fts_query``), loosely stemmed."""
    tokens = words(text, FTS_WORD)
    content = [w for w in tokens if w not in FUNCTION_WORDS] or tokens
    return list(dict.fromkeys(stem(w, LOOSE_SUFFIXES) for w in content))


@lru_cache(maxsize=64)
def _terms_pattern(terms: tuple[str, ...]) -> re.Pattern:
    alts = "|".join(map(re.escape, sorted(terms, key=len, reverse=True)))
    suffixes = "|".join(LOOSE_SUFFIXES)
    return re.compile(rf"\b({alts})(?:{suffixes})?\b")


def matched_terms(terms: list[str], row: dict) -> frozenset[str]:
    """Which of ``terms`` a stored item's title and text contain (as a word, or with one of the
    loose suffixes: one regex scan per text, this runs on hundreds of candidates per search)."""
    if not terms:
        return frozenset()
    text = f"{row.get('title') or ''} {row['text']}".lower()
    if not any(t in text for t in terms):  # substring checks first: far cheaper than the regex
        return frozenset()
    return frozenset(_terms_pattern(tuple(terms)).findall(text))


def with_neighbours(store, fused: dict[int, float], filters: Filters | None = None,
                    weight: float | None = None, rows: dict[int, dict] | None = None
                    ) -> dict[int, float]:
    """Conversation context: each turn next to a candidate gains ``weight`` × its score (half
    that two turns away).
    An answer often sits next to the line that matches the question ("what did you suggest?" →
    the reply), and multi-turn facts span neighbours; a turn near the start of its conversation
    (``rows`` give its position) makes up for the side it lacks (``EDGE_FILL``). Notes are lifted
    to the same scale (``lift_notes``; ``rows``: item rows the caller already read, id → row,
    added to)."""
    weight = NEIGHBOUR_WEIGHT if weight is None else weight
    if not weight or not fused:
        return fused
    out = dict(fused)
    near = store.turn_neighbours(list(fused), filters, span=NEIGHBOUR_SPAN)
    gain: dict[int, float] = {}
    for item_id, nbrs in near.items():
        for n, dist in nbrs:
            gain[n] = gain.get(n, 0.0) + weight * 0.5 ** (dist - 1) * fused[item_id]
    plain = {n: fused.get(n, 0.0) + g for n, g in gain.items()}  # scores before any fill
    if EDGE_FILL and rows:  # the opening turns among the candidates whose rows were read
        full = 2 * sum(0.5 ** (d - 1) for d in range(1, NEIGHBOUR_SPAN + 1))
        for n, g in gain.items():
            position = (rows.get(n) or {}).get("position")
            have = sum(0.5 ** (d - 1) for _, d in near.get(n, ()))
            if position is not None and position < NEIGHBOUR_SPAN and have:
                # never past the turn that lends the most: "Hi there!" stays below the line
                # after it that holds the searched word
                top = max((plain.get(i, fused.get(i, 0.0)) for i, _ in near.get(n, ())
                           if i in fused), default=0.0)
                room = FILL_BELOW_LENDER * top - fused.get(n, 0.0)
                gain[n] = max(g, min(g * min(EDGE_FILL, full / have), room))
    for n, g in gain.items():
        out[n] = out.get(n, 0.0) + g
    # notes are lifted by the gain turns get from both sides, not by the openings' fill
    return lift_notes(store, fused, out, near, {} if rows is None else rows,
                      scale=plain) if NOTE_LIFT else out


def lift_notes(store, fused: dict[int, float], out: dict[int, float],
               near: dict[int, list], rows: dict[int, dict],
               scale: dict[int, float] | None = None) -> dict[int, float]:
    """Notes × the median neighbour gain (``scale / fused``, ``scale`` = ``out`` unless given)
    of the best ``NOTE_LIFT_SCAN`` turns that have neighbours, so a note competes with chat
    lines on the same scale."""
    scale = out if scale is None else scale
    best = sorted(fused, key=lambda i: (-fused[i], i))[:NOTE_LIFT_SCAN]
    gains = sorted(scale.get(i, fused[i]) / fused[i] for i in best if i in near and fused[i] > 0)
    alone = [i for i in best if i not in near]
    if not gains or not alone:
        return out
    gain = gains[len(gains) // 2]
    if gain <= 1.0:
        return out
    rows.update(store.get_items([i for i in alone if i not in rows]))  # read once per search
    for i in alone:
        row = rows.get(i)
        if row is not None and row.get("kind") in NOTE_KINDS and row.get("conversation_id") is None:
            out[i] = out[i] * gain
    return out


def rarity_weights(terms: list[str], matched: dict[int, frozenset[str]]) -> dict[str, float]:
    """log(1 + n/df) of each term over the ``n`` candidates; terms no candidate holds: none."""
    n = len(matched)
    df = {t: sum(1 for m in matched.values() if t in m) for t in terms}
    return {t: math.log(1.0 + n / d) for t, d in df.items() if d}


def with_coverage(fused: dict[int, float], matched: dict[int, frozenset[str]],
                  terms: list[str], weight: float | None = None) -> dict[int, float]:
    """Each candidate × (1 − w + w·C), C its rarity-weighted share of the query's words."""
    weight = COVERAGE_WEIGHT if weight is None else weight
    idf = rarity_weights(terms, matched) if weight else {}
    total = sum(idf.values())
    if not total:
        return fused
    return {i: s * ((1.0 - weight) + weight * sum(idf.get(t, 0.0) for t in matched.get(i, ()))
                    / total) for i, s in fused.items()}


def named_speakers(query: str, roles) -> set[str]:
    """The speakers among ``roles`` (people's names, see models.speaker_name) that ``query``
    names: every word of the name, or its first word, occurs in the query ("Caroline's" names
    Caroline). Names that are stop words ("Will") never match."""
    said = set(words(query, FTS_WORD))
    out = set()
    for role in roles:
        name = speaker_name(role)
        parts = words(name or "", FTS_WORD)
        if parts and (all(p in said for p in parts)
                      or (len(parts[0]) > 2 and parts[0] in said)) \
                and not any(p in FUNCTION_WORDS for p in parts):
            out.add(name)
    return out


def without_names(query: str, names: set[str]) -> str:
    """``query`` with the words of ``names`` (and a possessive 's) removed; ``query`` itself when
    nothing but the names and stop words would be left."""
    parts = sorted({w for n in names for w in FTS_WORD.findall(n)}, key=len, reverse=True)
    if not parts:
        return query
    pat = r"\b(?:%s)(?:'s|’s)?\b" % "|".join(map(re.escape, parts))
    rest = " ".join(re.sub(pat, " ", query, flags=re.IGNORECASE).split())
    content = [w for w in words(rest, FTS_WORD) if w not in FUNCTION_WORDS]
    return rest if content else query


_ASSISTANT_SAID = re.compile(
    r"\b(?:did you|have you|(?:could|can|would) you remind me|you (?:could|can|would) remind me|"
    r"you (?:\w+ed|told|said|gave|wrote|made|sent|did|were|was|came up|put|found|chose|thought|"
    r"meant|had)|your (?:suggestion|recommendation|advice|answer|reply|"
    r"list|tips?|idea)s?|(?:you|we) (?:talked|discussed|spoke|chatted)|our (?:previous |last |"
    r"earlier )?(?:chat|conversation|discussion))\b", re.IGNORECASE)
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i've|i'd|i'll|me|my|mine|myself)\b", re.IGNORECASE)


def addressed_role(query: str) -> str | None:
    """``"assistant"`` when a question asks what the assistant said in a chat, ``"user"`` when it
    asks in the first person about the person's own life, else None."""
    q = query.replace("’", "'")
    if _ASSISTANT_SAID.search(q):
        return "assistant"
    return "user" if _FIRST_PERSON.search(q) else None


def said_by(row: dict, role: str) -> bool:
    """Is the item in the voice ``addressed_role`` asked for? The person's own notes count as
    theirs (``user``) as much as their chat turns."""
    if row.get("role") == role:
        return True
    return role == "user" and not row.get("role") and row.get("kind") in ("note", "section")


def cosines(store, qv, ids) -> dict[int, float]:
    """Cosine similarity of ``qv`` to the stored vectors of ``ids``."""
    import numpy as np

    vecs = store.approx_vectors(list(ids))
    if not vecs:
        return {}
    q = np.asarray(qv, dtype=np.float32)
    m = np.stack(list(vecs.values()))
    sims = (m @ q) / np.maximum(np.linalg.norm(m, axis=1) * np.linalg.norm(q), 1e-12)
    return dict(zip(vecs, sims.tolist()))


def about_past(query: str, filters: Filters | None, now: datetime | None) -> bool:
    """Does the search want earlier values of changed facts? Its words say so ("before", "used
    to", "previous": dates.asks_about_past), or its date window ended over a day before now."""
    if asks_about_past(query):
        return True
    if filters is None or not filters.until:
        return False
    from memcli.core.timeutil import iso, utcnow

    ref = now or utcnow()
    return filters.until < iso(ref - timedelta(days=1))


def hybrid_search(store, embedder, query: str, *, limit: int = 10,
                  filters: Filters | None = None, now: datetime | None = None,
                  candidates: int | None = None, expand: bool = False,
                  retention_weight: float = 0.0) -> list[Hit]:
    """Best ``limit`` hits for ``query``; keyword and semantic rankings fused with RRF.

    Superseded facts (``valid_to`` set) stay findable but rank below current ones, and so does
    the message that stated a superseded value below the one that superseded it; a question
    about the past gets the older side first (memcli/retrieval/validity.py).
    ``retention_weight``, ``expand``: the retention score, one-hop neighbours (graph.py)."""
    limit = max(1, int(limit))
    n = candidates or max(CANDIDATES_MIN, limit * CANDIDATES_PER_HIT)
    keyword_text = (lambda q: q) if TIME_CUE_KEYWORDS else without_time_cues
    kw = store.fts_search(fts_query(keyword_text(query)), n, filters)
    # CJK and other unsegmented scripts: a third ranking from the gram index (core/scripts.py);
    # a query without such characters searches exactly as before
    grams = store.gram_search(gram_query(query), n, filters) if has_unsegmented(query) else []
    rows: dict[int, dict] = {}
    names: set[str] = set()
    search_text = query
    if SPEAKER_BOOST and kw:
        rows = store.get_items([i for i, _ in kw[:SPEAKER_SCAN]])
        names = named_speakers(query, {r.get("role") for r in rows.values()})
        search_text = without_names(query, names) if names else query
        if search_text != query:
            kw = store.fts_search(fts_query(keyword_text(search_text)), n, filters)
    vec = []
    full_qv = None  # the whole question's vector, when the vector side searched without names
    if embedder is not None and store.has_vec_table():
        qv, *rest = embedder.embed([search_text] if search_text == query else [search_text, query])
        full_qv = rest[0] if rest else None
        vec = store.vec_search(qv, n, filters)
    fused = rrf([kw, vec, grams] if grams else [kw, vec], [1.0, VECTOR_WEIGHT, 1.0], k=FUSION_K)
    if not fused:
        return []
    if COVERAGE_WEIGHT:
        terms = query_terms(keyword_text(search_text))
        scan = sorted(fused, key=lambda i: (-fused[i], i))[:COVERAGE_SCAN]
        rows.update(store.get_items([i for i in scan if i not in rows]))
        fused = with_coverage(fused, {i: matched_terms(terms, rows[i]) for i in scan if i in rows},
                              terms)
    fused = with_neighbours(store, fused, filters, rows=rows)
    keep = max(limit * KEEP_PER_HIT, KEEP_MIN)
    if names:
        # only a candidate that the boost could lift above the keep-th score needs its role
        floor = sorted(fused.values(), reverse=True)[min(keep, len(fused)) - 1]
        rows.update(store.get_items([i for i, s in fused.items()
                                     if i not in rows and s * (1.0 + SPEAKER_BOOST) >= floor]))
        fused = {i: s * (1.0 + SPEAKER_BOOST)
                 if i in rows and speaker_name(rows[i].get("role")) in names else s
                 for i, s in fused.items()}
    role = addressed_role(query) if ROLE_BOOST and not names else None
    if role:  # as for names: only a candidate the boost could lift into the kept ones
        floor = sorted(fused.values(), reverse=True)[min(keep, len(fused)) - 1]
        rows.update(store.get_items([i for i, s in fused.items()
                                     if i not in rows and s * (1.0 + ROLE_BOOST) >= floor]))
        fused = {i: s * (1.0 + ROLE_BOOST) if i in rows and said_by(rows[i], role) else s
                 for i, s in fused.items()}
    if len(fused) > keep:
        fused = dict(sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:keep])
    past = about_past(query, filters, now)
    before = dict(fused)  # what the steps below lift (the value asked for) `ask` quotes
    if names_a_time(query):  # undigested restatements: reordered only when the question says
        fused = newest_restatement_first(store, fused, past=past, query=query,  # which value
                                         rows=rows)  # it wants
    elif not past:  # no time words: the present, by the question's words (validity.BY_WORDS)
        fused = newest_restatement_first(store, fused, past=False, query=query, words_only=True,
                                         rows=rows)
    lifted = {i for i, s in fused.items() if s > before.get(i, 0.0)}  # the newest restatement
    asked = question_attribute(embedder, query, qv, store) if vec else None
    placed: set[int] = set()  # digest's facts of the attribute: the memory holds the answer
    if asked:  # the person's facts of the attribute asked about lead (retrieval/attribute_query)
        fused = lead_facts(store, embedder, fused, asked, past=past, rows=rows, filters=filters,
                           placed_out=placed)
    if past:  # the one before the newest, found by meaning alone: ranked first, not quoted
        before = dict(fused)
    fused = prefer_valid(store, fused, past=past,  # changed facts: current (or older) value first
                         earliest=past and asks_for_earliest(query))
    lifted |= placed | {i for i, s in fused.items() if s > before.get(i, 0.0)}
    sims, bm = dict(vec), {**dict(grams), **dict(kw)}
    rows.update(store.get_items([i for i in fused if i not in rows]))
    hits = []
    for item_id, score in ((i, s) for i, s in fused.items() if i in rows):
        row = rows[item_id]
        if row.get("valid_to") and not past:
            score *= SUPERSEDED_WEIGHT
        if retention_weight:
            score = apply_retention(score, row, now, retention_weight)
        hits.append(hit_from_row(row, score, sims.get(item_id), bm.get(item_id),
                                 lifted=item_id in lifted, placed=item_id in placed))
    hits.sort(key=lambda h: (-h.score, -(h.similarity or 0.0), h.id))
    if expand:
        hits = expand_hits(store, hits, now=now)
    hits = hits[:limit]
    if full_qv is not None:
        # the similarity a hit reports (ask's abstention reads it): the whole question's
        full = cosines(store, full_qv, [h.id for h in hits if h.similarity is not None])
        for h in hits:
            h.similarity = full.get(h.id, h.similarity)
    return hits
