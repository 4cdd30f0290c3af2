"""Facts that changed, in the ranking: a question about the present gets the current value before
the superseded one, a question about the past the older value first, and this reaches the verbatim
layer: the message that stated a superseded value ranks below the message that superseded it.

A supersession takes part only when the question found one of its two facts (so a message is never
demoted for a question about something else it said). No SQL: the store lists the supersessions
(store/digest_state.supersessions_near) and the sources of each fact."""

from __future__ import annotations

import re

from memcli.core.models import DERIVED_KINDS

LIFT = 1.05  # the preferred item of a pair scores this much above the other
STALE = 0.8  # for a present question the stale message also keeps this share of its score


def prefer_valid(store, fused: dict[int, float], *, past: bool,
                 earliest: bool = False) -> dict[int, float]:
    """``fused`` (id → score) with each relevant supersession's preferred side ranked first: the
    newer fact and its message (present); for the past the value just before the current one
    ("where did I live before?", "my previous job"), or the first one when ``earliest`` ("which
    car did I drive first?"). Items the question did not find but a found one points to join with
    the score they need."""
    if not fused:
        return fused
    pairs = relevant_changes(store, fused)
    if not pairs:
        return fused
    smap = store.sources_map(list({x for o, n, _ in pairs for x in (o, n)}))
    out = dict(fused)
    closed = {o for o, _, _ in pairs}
    # a chain A→B→C: oldest change first, each newer side winning, ends with C on top (present);
    # newest first with the older side winning ends with A on top (earliest); for the previous
    # value, oldest first, the newer side winning except against the current C: B on top
    for old, new, _ in sorted(pairs, key=lambda p: p[2], reverse=past and earliest):
        older_wins = past and (earliest or new not in closed)
        olds, news = smap.get(old, []), smap.get(new, [])
        sides = [(old, new)] + [(a, b) for a in olds for b in news if a != b and a not in news
                                and b not in olds]
        for a, b in sides:
            winner, loser = (a, b) if older_wins else (b, a)
            if loser not in out:
                continue
            score = out[loser]
            if not past and a != old:
                out[loser] = score * STALE
            if out.get(winner, 0.0) <= score:
                out[winner] = score * LIFT
    return out


def relevant_changes(store, fused: dict[int, float], hops: int = 6) -> list[tuple[int, int, str]]:
    """The supersessions one of whose facts the question found, and the rest of their chains
    (A→B→C: a question that found A also reorders B and C)."""
    pairs = {(o, n): w for o, n, w in store.supersessions_near(list(fused))
             if o in fused or n in fused}
    facts = {x for o, n in pairs for x in (o, n)}
    frontier = set(facts)
    for _ in range(hops):
        if not frontier:
            break
        more = {(o, n): w for o, n, w in store.supersessions_near(list(frontier))
                if (o, n) not in pairs and (o in facts or n in facts)}
        pairs.update(more)
        frontier = {x for o, n in more for x in (o, n)} - facts
        facts |= frontier
    return [(o, n, w) for (o, n), w in pairs.items()]


RESTATED = 0.7  # cosine above which two statements of one speaker say the same thing
BY_WORDS = True  # restatements found by the question's words (below)
NO_TIME_WORDS = True  # ... also for a question with no time words at all
TOP = 10  # restatements are reordered among the best TOP only (so the top-TOP set is unchanged)


def newest_restatement_first(store, fused: dict[int, float], *, past: bool,
                             query: str | None = None, words_only: bool = False,
                             rows: dict[int, dict] | None = None) -> dict[int, float]:
    """Changes digest has not recorded: among the best TOP candidates, statements of one speaker
    that say the same thing with a different value ("My gym is Basic-Fit" / "My gym is now On
    Air": close vectors, different value words, states rather than events) swap scores so the
    newest comes first (the oldest first for a question about the past). The best TOP stay the
    same items, only their order changes. With ``query``, statements of one speaker in different
    conversations that hold the same words of the question (each at least half of them, COVER
    in common) count as restatements too: "I have 1,250 followers on
    Instagram" in May, "I'm at 1,300 Instagram followers now" in June (long turns whose vectors
    differ, one told the figure again). ``words_only``: only those (a question with no time
    words at all). ``rows``: item rows the caller already read (id → row), added to."""
    if words_only and not (BY_WORDS and NO_TIME_WORDS):
        return fused
    top = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
    if len(top) < 2:
        return fused
    import numpy as np

    ids = [i for i, _ in top]
    rows = {} if rows is None else rows
    rows.update(store.get_items([i for i in ids if i not in rows]))
    present = [i for i in ids if i in rows]
    covers = _covers(query, [rows[i]["text"] for i in present]) if query and BY_WORDS else []
    cover = dict(zip(present, covers))
    asked = set(_NUMBER.findall(query or ""))
    if words_only:  # only the question's words pair them: no slot rules (~16 ms of regexes)
        cand = [i for i in present if cover.get(i)]
    else:
        from memcli.core.slots import is_state, values_differ

        cand = [i for i in present if is_state(rows[i]["text"]) or cover.get(i)]
    if len(cand) < 2:  # nothing to pair (most questions): no vectors, no sources read
        return fused
    # a fact restates the message it was derived from: never a pair by the question's words
    derived = [i for i in cand if rows[i]["kind"] in DERIVED_KINDS]
    rests_on = {k: set(v) for k, v in store.sources_map(derived).items()} if derived else {}
    vecs = store.approx_vectors(cand)
    cand = [i for i in cand if i in vecs]
    if len(cand) < 2:
        return fused
    m = np.stack([np.asarray(vecs[i], dtype=np.float32) for i in cand])
    m /= np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    sims = m @ m.T
    group = {i: i for i in cand}

    def root(i):
        while group[i] != i:
            i = group[i]
        return i

    for a in range(len(cand)):
        for b in range(a + 1, len(cand)):
            x, y = rows[cand[a]], rows[cand[b]]
            if (x.get("role") or "") != (y.get("role") or ""):
                continue
            same = len(cover.get(cand[a], frozenset()) & cover.get(cand[b], frozenset())) >= COVER and \
                x.get("conversation_id") != y.get("conversation_id") and \
                cand[b] not in rests_on.get(cand[a], ()) and cand[a] not in rests_on.get(cand[b], ()) and \
                (not words_only or _told_again(x["text"], y["text"], asked))
            if same or (not words_only and sims[a, b] >= RESTATED and is_state(x["text"])
                        and is_state(y["text"]) and values_differ(x["text"], y["text"])):
                group[root(cand[a])] = root(cand[b])
    members: dict[int, list[int]] = {}
    for i in cand:
        members.setdefault(root(i), []).append(i)
    out = dict(fused)
    for ids_ in members.values():
        if len(ids_) < 2:
            continue
        scores = sorted((fused[i] for i in ids_), reverse=True)
        by_time = sorted(ids_, key=lambda i: (rows[i]["created_at"], i), reverse=not past)
        out.update(zip(by_time, scores))
    return out


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")  # with no time words, only a quantity told again counts


def _told_again(a: str, b: str, asked: set[str]) -> bool:
    """Both statements give a figure the question does not name, and not the same figures: "I
    have 1,250 followers" / "I'm at 1,300 followers now". A number the question asks about
    ("message 0399") is what is looked for, not a value that changed."""
    na, nb = set(_NUMBER.findall(a)) - asked, set(_NUMBER.findall(b)) - asked
    return bool(na) and bool(nb) and na != nb


COVER = 2  # question words a restatement found by the question's words holds at least


def _covers(query: str, texts: list[str]) -> list[frozenset]:
    """Per text, the question's content words (stemmed) it holds when that is at least COVER and
    half of them; else an empty set."""
    from memcli.core.text import content_words, stem

    q = {stem(w) for w in content_words(query)}
    need = max(COVER, (len(q) + 1) // 2)
    got = [frozenset(q & {stem(w) for w in content_words(t)}) for t in texts]
    return [g if len(g) >= need else frozenset() for g in got]
