"""Does a new fact update an older one? Candidates, then a verdict per pair.

Candidates are the speaker's current facts that set the same attribute (memcli/core/slots.py) or
that lie close in meaning (the vector neighbours digest already found). Deterministic verdicts:
- the same attribute → an update (a different value, or the same one restated: the newer is kept);
- otherwise an update only when the two say the same thing with a different value: identical
  statement frames once the value is masked, different value tokens, and a statement of state (or
  an update marker such as "now", "these days", "switched") rather than two past events, which are
  both true ("went to Paris", "went to Rome").
With a capable model configured, the model decides each candidate pair under a JSON schema
(update / both_true / unrelated); an invalid answer falls back to the rule's verdict. A fact that
model placed in its attribute (meta ``by_model``, extract.model_attribute) is not held back by the
guards meant for placement by meaning (several_changed, close_when_by_meaning): the model judges
the pair, and a pair those guards would drop is closed only on the model's "update"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from memcli.core.models import attrs_of, meta_of
from memcli.core.slots import (
    EVENT,
    UPDATE_MARKERS,
    frame,
    is_state,
    value_tokens,
    values_differ,
)
from memcli.core.text import stem
from memcli.services.digest.llmio import LLMCounter, call_json
from memcli.services.prompts import messages as prompt_messages

VERDICTS = ("update", "both_true", "unrelated")
UPDATE_SCHEMA = {
    "type": "object",
    "properties": {"relation": {"enum": list(VERDICTS)},
                   "reason": {"type": "string", "maxLength": 100}},
    "required": ["relation", "reason"],
}
NEAR_MIN = 0.55  # a neighbour this close may be the same statement with another value
FRAME_MIN = 0.8  # Jaccard of the masked frames for the generic rule
LLM_NEAR_MIN = 0.6  # with a capable model, neighbours this close are asked about too
LLM_PAIRS = 3  # model calls per new fact at most
@dataclass
class Pair:
    other: dict
    attribute: str | None  # shared attribute, None for a generic (frame) match
    verdict: str  # update | both_true | unrelated
    reason: str
    method: str = "rule"


_VALUE = r"(?-i:[A-Z0-9][\w&'.@+-]*(?:[ -][A-Z0-9][\w&'.@+-]*)*)"


@lru_cache(maxsize=8192)
def slot_keys(text: str, subject: str) -> dict[tuple, str]:
    """The slots a third-person note fills with a proper-noun or number value: "User trains at
    On Air" → {("at", "train"): "on air"}; "User's gym is now Basic-Fit" → {("is", "gym"):
    "basic-fit"} (an entity of the same type in the same slot). Cached: callers only read it."""
    s = re.escape(subject)
    text = text.replace("’", "'")
    out: dict[tuple, str] = {}
    for m in re.finditer(rf"\b{s}\s+(?:(?:now|still|currently|also|usually|mostly|mainly|"
                         rf"regularly|just|these days)\s+)?([a-z]+)\s+(at|in|for|with|from|on|by)\s+"
                         rf"(?:the\s+|a\s+|an\s+)?({_VALUE})", text, re.I):
        if not EVENT.fullmatch(m.group(1)):
            out[(m.group(2).lower(), stem(m.group(1).lower()))] = m.group(3).lower()
    for m in re.finditer(rf"\b{s}'s\s+(?:new\s+|current\s+|usual\s+)?([a-z]+(?:\s+[a-z]+)?)\s+"
                         rf"(?:is|are)\s+(?:now\s+|still\s+)?(?:the\s+|a\s+|an\s+)?({_VALUE})",
                         text, re.I):
        out[("is", stem(m.group(1).lower()))] = m.group(2).lower()
    return out


def slot_verdict(new: dict, other: dict, subject: str) -> tuple[str, str] | None:
    """Same slot, another value: an update when the slot is a possession ("User's gym is …") or
    the newer statement says something changed ("now", "these days", "switched")."""
    ka, kb = slot_keys(new["text"], subject), slot_keys(other["text"], subject)
    newer = max((new, other), key=lambda r: (r["created_at"], r["id"]))
    for key in ka.keys() & kb.keys():
        if ka[key] != kb[key] and (key[0] == "is" or UPDATE_MARKERS.search(newer["text"])):
            return "update", f"same slot ({' '.join(key)}), new value {ka[key]!r}"
    return None


def generic_verdict(new: dict, other: dict, subject: str) -> tuple[str, str]:
    """The slot and frame rules for a pair that shares no known attribute."""
    by_slot = slot_verdict(new, other, subject)
    if by_slot is not None:
        return by_slot
    fa, fb = frame(new["text"], (subject,)), frame(other["text"], (subject,))
    if not fa or not fb:
        return "unrelated", "nothing in common once the value is masked"
    jac = len(fa & fb) / len(fa | fb)
    va, vb = value_tokens(new["text"], (subject,)), value_tokens(other["text"], (subject,))
    if jac < FRAME_MIN:
        return "unrelated", f"different statements (frame overlap {jac:.2f})"
    if not va or not vb or not values_differ(new["text"], other["text"], (subject,)):
        return "both_true", "no differing value"
    if not (is_state(new["text"]) and is_state(other["text"])):
        return "both_true", "two events, both true"
    return "update", f"same statement, new value ({', '.join(sorted(va - vb)[:3])})"


def candidates(store, row: dict, near: list[tuple[int, float, str]] | None, *,
               llm=None) -> list[Pair]:
    """Deterministic verdicts for every candidate pair of the new fact ``row``."""
    meta = meta_of(row)
    subject = meta.get("subject")
    if not subject:
        return []
    values = meta.get("values") or {}
    out: dict[int, Pair] = {}
    for a in attrs_of(meta):
        for other in store.current_facts_with_attribute(a, subject):
            if other["id"] == row["id"] or other["id"] in out:
                continue
            # two hobbies, two pets: both true unless the newer says it changed; placed by
            # meaning, yet the two statements are about other things. A pair with a fact the
            # capable model placed goes to that model instead, "update" only if it says so.
            guarded = not (several_changed(a, row, other) and
                           close_when_by_meaning(store, row, other))
            if guarded and not (llm is not None and (meta.get("by_model") or
                                                     meta_of(other).get("by_model"))):
                continue
            ov = (meta_of(other).get("values") or {}).get(a)
            same = values.get(a) is not None and values.get(a) == ov
            why = (f"{subject}'s {a} restated" if same else f"newer value of {subject}'s {a}")
            out[other["id"]] = Pair(other, a, "unrelated" if guarded else "update",
                                    why + (" (for the model to judge)" if guarded else ""))
    near_ids = [(i, s) for i, s, kind in near or [] if kind == "fact" and i != row["id"]
                and i not in out and s >= min(NEAR_MIN, LLM_NEAR_MIN)]
    rows = store.get_items([i for i, _ in near_ids]) if near_ids else {}
    for i, sim in near_ids:
        other = rows.get(i)
        if other is None or other.get("valid_to") or \
                (meta_of(other).get("subject") or "").lower() != subject.lower():
            continue
        verdict, why = generic_verdict(row, other, subject)
        if verdict == "update" and sim < NEAR_MIN:
            verdict = "unrelated"
        if verdict == "update" or (llm is not None and sim >= LLM_NEAR_MIN):
            out[i] = Pair(other, None, verdict, why + f" (cosine {sim:.2f})")
    return list(out.values())


BY_MEANING_PAIR_MIN = 0.3  # cosine of two facts, one placed by meaning, for an update


def close_when_by_meaning(store, row: dict, other: dict) -> bool:
    """A fact placed in its attribute by meaning (digest/attributes.py) closes another of that
    attribute only when the two statements are also close to each other: "User's salary lands in
    User's Triodos account" is not closed by "Cancelled the direct debit and joined Iron Temple"
    (both near "bank", far from each other)."""
    if not (meta_of(row).get("by_meaning") or meta_of(other).get("by_meaning")):
        return True
    import numpy as np

    vecs = store.approx_vectors([row["id"], other["id"]])
    if row["id"] not in vecs or other["id"] not in vecs:
        return True
    a, b = (np.asarray(vecs[i], dtype=np.float32) for i in (row["id"], other["id"]))
    cos = float(a @ b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12)
    return cos >= BY_MEANING_PAIR_MIN


def several_changed(attribute: str, row: dict, other: dict) -> bool:
    """False for two facts of an attribute one has several of (digest/attributes.MULTI), one of
    them placed there by meaning, unless the newer one says something changed."""
    from memcli.services.digest.attributes import CHANGED, MULTI

    if attribute not in MULTI or not (meta_of(row).get("by_meaning") or
                                      meta_of(other).get("by_meaning")):
        return True
    newer = max((row, other), key=lambda r: (r["created_at"], r["id"]))
    return bool(CHANGED.search(newer["text"]))


def judge(llm, row: dict, pairs: list[Pair], counter: LLMCounter) -> list[Pair]:
    """The capable model's verdict on each pair (at most LLM_PAIRS calls); a call that fails or
    returns something outside the schema keeps the rule's verdict."""
    for pair in pairs[:LLM_PAIRS]:
        older, newer = sorted([pair.other, row], key=lambda r: (r["created_at"], r["id"]))
        value = call_json(llm, prompt_messages(
            "digest_update", old=older["text"][:300], new=newer["text"][:300],
            old_date=(older["created_at"] or "")[:10], new_date=(newer["created_at"] or "")[:10]),
            UPDATE_SCHEMA, counter, max_tokens=60)
        if isinstance(value, dict) and value.get("relation") in VERDICTS:
            counter.accepted += 1
            pair.verdict, pair.method = value["relation"], "llm"
            why = value.get("reason")
            if isinstance(why, str) and 3 <= len(why.strip()) <= 100:
                pair.reason = why.strip()
        elif value is not None:
            counter.rejected += 1
    return pairs
