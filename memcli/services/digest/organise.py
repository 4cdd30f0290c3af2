"""What happens when a new note meets the old ones: de-duplication (merge, keep provenance),
supersession (a newer value of the same subject/attribute closes the older fact), links to
vector neighbours with a type and reason, and the neighbours' tags evolving (history kept)."""

from __future__ import annotations

import numpy as np

from memcli.core.models import Filters
from memcli.core.slots import values_differ
from memcli.core.text import content_words, stem
from memcli.services.digest.llmio import LLMCounter, call_json
from memcli.services.digest.updates import candidates, judge
from memcli.services.prompts import messages as prompt_messages

NEAR_DUP = 0.95
LINK_KINDS = ["fact", "summary", "reflection"]
RELATIONS = ("related", "supports", "contradicts", "unrelated")
RELATION_SCHEMA = {
    "type": "object",
    "properties": {"relation": {"enum": list(RELATIONS)},
                   "reason": {"type": "string", "maxLength": 100}},
    "required": ["relation", "reason"],
}


NEAR_INDEX_MAX = 50_000  # derived notes held in memory by one digest run (≤ 75 MB of vectors)


class NearIndex:
    """The derived notes' vectors in memory for one digest run, kept in step as it writes. The
    store's exact scan reads every vector of the memory, messages included, for each new note
    (a fifth of the deterministic digest's CPU at 1,000 messages, growing with the memory); this
    reads the notes' once, then one matrix product per note gives the same neighbours. Notes
    another process wrote meanwhile join at each ``refresh``; notes it removed are dropped by
    ``neighbours`` (it reads the rows of what the index finds)."""

    def __init__(self, dim: int):
        self.ids: list[int] = []
        self.kinds: list[str] = []
        self.known: set[int] = set()
        self.upto = 0  # the highest id read from the store
        self.dim = dim
        self.matrix = np.zeros((64, dim), dtype=np.float32)

    @classmethod
    def load(cls, store, dim: int) -> NearIndex | None:
        """The index of this store's derived notes, or None when they are too many to hold."""
        index = cls(dim)
        return index if index.refresh(store) else None

    def refresh(self, store) -> bool:
        """Add the derived notes written since the last read (by anyone); False when the store
        holds too many to keep in memory."""
        rows = store.kind_vectors(LINK_KINDS, NEAR_INDEX_MAX, after=self.upto)
        if rows is None:
            return False
        for item_id, kind, b in rows:
            self.upto = max(self.upto, item_id)
            if item_id not in self.known and len(b) == 4 * self.dim:
                self.add(item_id, kind, np.frombuffer(b, dtype=np.float32))
        return True

    def add(self, item_id: int, kind: str, vector) -> None:
        n = len(self.ids)
        if n == len(self.matrix):
            self.matrix = np.concatenate([self.matrix, np.zeros_like(self.matrix)])
        self.matrix[n] = np.asarray(vector, dtype=np.float32).reshape(-1)
        self.ids.append(item_id)
        self.kinds.append(kind)
        self.known.add(item_id)

    def search(self, vector, k: int) -> list[tuple[int, float]]:
        n = len(self.ids)
        if not n:
            return []
        sims = self.matrix[:n] @ np.asarray(vector, dtype=np.float32).reshape(-1)
        top = np.argpartition(-sims, k - 1)[:k] if n > k else np.arange(n)
        best = sorted(top.tolist(), key=lambda j: (-float(sims[j]), self.ids[j]))
        return [(self.ids[j], float(sims[j])) for j in best]


def neighbours(store, vector, k: int = 6, index: NearIndex | None = None
               ) -> list[tuple[int, float, str]]:
    """(id, cosine, kind) of the nearest derived notes: one KNN scan serves dedupe and linking
    (``index``: a digest run's notes in memory instead of the store's scan)."""
    if index is not None:
        hits = index.search(vector, k)
    else:
        hits = store.vec_search(np.asarray(vector, dtype=np.float32), k,
                                Filters(kinds=LINK_KINDS))
    rows = store.get_items([i for i, _ in hits])
    return [(i, s, rows[i]["kind"]) for i, s in hits if i in rows]


def find_duplicate(store, text: str, vector, *, kinds=("fact",),
                   near: list[tuple[int, float, str]] | None = None,
                   threshold: float = NEAR_DUP) -> int | None:
    """An existing note with the same content (hash) or a near-identical vector (cosine ≥
    threshold) among ``near`` (from ``neighbours``; searched here when not given). Two statements
    whose values differ ("… flat 3B" / "… flat 3C") are never duplicates, however close."""
    same = store.items_with_hash(text, list(kinds))
    if same:
        return same[0]
    if near is None:
        near = neighbours(store, vector)
    close = [i for i, sim, kind in near if kind in kinds and sim >= threshold]
    if not close:
        return None
    rows = store.get_items(close)
    for item_id in close:
        if item_id in rows and not values_differ(text, rows[item_id]["text"]):
            return item_id
    return None


def supersede(store, new_id: int, row: dict, *, near: list[tuple[int, float, str]] | None = None,
              llm=None, counter: LLMCounter | None = None) -> int | None:
    """If the new fact updates an older, still-valid fact of the same speaker (updates.py decides:
    rules, or a capable ``llm``), close the older one (valid_to, superseded_by), link them, and
    record the change. A new fact that is *older* than the current one is itself closed.
    Returns the last closed id."""
    pairs = candidates(store, row, near, llm=llm)
    if llm is not None and counter is not None and pairs:
        pairs = judge(llm, row, pairs, counter)
    closed = None
    pairs = [p for p in pairs if p.verdict == "update"]
    for pair in sorted(pairs, key=lambda p: (p.other["created_at"], p.other["id"])):
        other = pair.other
        if (other["created_at"], other["id"]) <= (row["created_at"], new_id):
            old, new, when = other, row, row["created_at"]
        else:
            old, new, when = row, other, other["created_at"]
        store.set_superseded(old["id"], new["id"], when)
        store.add_link(new["id"], old["id"], type="supersedes", reason=pair.reason[:120])
        store.add_history(old["id"], "valid_to", None, when,
                          f"superseded by #{new['id']}: {new['text'][:80]}")
        closed = old["id"]
        if old["id"] == new_id:
            break
    return closed


CLAUDE_MEMORY = ("claude", "claude:memory:")  # source, key prefix (importers/claude.py)


def supersede_version(store, row: dict) -> int | None:
    """A Claude memory that changed between exports is a new note (its key follows its content)
    with the same title: the newer version closes the older one, verbatim as it is. Returns the
    closed id."""
    source, prefix = CLAUDE_MEMORY
    if row.get("source") != source or not (row.get("key") or "").startswith(prefix):
        return None
    closed = None
    for other in store.current_items_keyed(source, prefix, row.get("title")):
        if other["id"] == row["id"]:
            continue
        old, new = sorted((other, row), key=lambda r: (r["created_at"] or "", r["id"]))
        store.set_superseded(old["id"], new["id"], new["created_at"])
        store.add_link(new["id"], old["id"], type="supersedes",
                       reason="the Claude memory changed between exports")
        store.add_history(old["id"], "valid_to", None, new["created_at"],
                          f"superseded by #{new['id']}: a newer export of this Claude memory")
        closed = old["id"]
        if old["id"] == row["id"]:
            break
    return closed


def _shared(a: str, b: str) -> list[str]:
    sa = {stem(w): w for w in content_words(a) if len(w) > 2}
    sb = {stem(w) for w in content_words(b) if len(w) > 2}
    return [w for s, w in sa.items() if s in sb]


def link_note(store, note_id: int, row: dict, vector, *, llm=None, counter: LLMCounter | None = None,
              k: int = 5, min_sim: float = 0.5, evolve: bool = True, llm_pairs: int = 2,
              near: list[tuple[int, float, str]] | None = None) -> tuple[int, int]:
    """Link a new note to its nearest notes. Deterministic judgement: a neighbour is related if
    it is close (cosine ≥ min_sim) and shares a content word, or is very close (≥ min_sim+0.2).
    With an LLM, the first ``llm_pairs`` candidates are classified (related/supports/contradicts/
    unrelated); an invalid answer keeps the deterministic verdict. Returns (links, evolved)."""
    if near is None:
        near = neighbours(store, vector, k + 1)
    cands = [(i, s) for i, s, _ in near if i != note_id and s >= min_sim][:k]
    if not cands:
        return 0, 0
    rows = store.get_items([i for i, _ in cands])
    made = evolved = 0
    for n, (other_id, sim) in enumerate(cands):
        other = rows.get(other_id)
        if other is None:
            continue
        shared = _shared(row["text"], other["text"])
        if not shared and sim < min_sim + 0.2:
            continue
        rel = "related"
        reason = (f"shares {', '.join(shared[:4])}" if shared else "close in meaning") + \
            f" (cosine {sim:.2f})"
        if llm is not None and counter is not None and n < llm_pairs:
            value = call_json(llm, prompt_messages("digest_link", a=row["text"][:300],
                                          b=other["text"][:300]), RELATION_SCHEMA, counter,
                              max_tokens=60)
            if isinstance(value, dict) and value.get("relation") in RELATIONS:
                counter.accepted += 1
                if value["relation"] == "unrelated":
                    continue
                rel = value["relation"]
                why = value.get("reason")
                if isinstance(why, str) and 3 <= len(why.strip()) <= 100:
                    reason = why.strip() + f" (cosine {sim:.2f})"
            elif value is not None:
                counter.rejected += 1
        store.add_link(note_id, other_id, type=rel, reason=reason)
        made += 1
        if evolve and shared and other["kind"] == "fact":
            evolved += evolve_tags(store, other_id, row, shared)
    return made, evolved


def evolve_tags(store, item_id: int, new_row: dict, shared: list[str], max_tags: int = 6) -> int:
    """A-MEM's memory evolution, deterministically: a neighbour adopts the new note's tags that
    name something it also talks about. The change is kept in note_history."""
    current = store.tags_of([item_id]).get(item_id, [])
    new_tags = [t for t in store.tags_of([new_row["id"]]).get(new_row["id"], [])
                if t not in current and any(stem(p) in {stem(w) for w in t.split("-")}
                                            for p in shared)]
    if not new_tags or len(current) >= max_tags:
        return 0
    updated = sorted(set(current) | set(new_tags[: max_tags - len(current)]))
    store.set_tags(item_id, updated)
    store.add_history(item_id, "tags", current, updated, f"evolved after link from #{new_row['id']}")
    return 1
