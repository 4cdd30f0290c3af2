"""Which attribute of its speaker a statement is about, by meaning, for the statements no slot
pattern knows (memcli/core/slots.py): "Picked up the keys to our place in Nantes" → residence,
"They made me staff engineer" → job. A few prototype sentences per attribute, embedded once with
the store's own embedder; the statement's vector goes to the attribute whose nearest prototype is
closest, when that is above MIN_SIM and ahead of the next attribute by MARGIN. Only the speaker's
own statement of how things are or of a change (core/attribute_words.own_change) is classified.

An attribute one has several of at once (hobbies, pets, languages: MULTI) is superseded by a
statement classified this way only when that statement says something changed ("now", "no
longer", "gave up", "the old …"): updates.candidates reads ``meta['by_meaning']``."""

from __future__ import annotations

import re

from memcli.core.attribute_words import own_change
from memcli.core.phrasing import normalize_value, value_tokens
from memcli.retrieval.attribute_meaning import (
    NAMED,
    PROTOTYPES,
    nearest,
)

MULTI = frozenset({"pet", "hobby", "language", "gym", "instrument", "device"})
MIN_SIM = 0.35  # cosine to the nearest prototype, for an attribute whose value is a name/number
MARGIN = 0.08  # ahead of the nearest prototype of any other attribute
WORDED_MIN_SIM, WORDED_MARGIN = 0.5, 0.05  # job, diet, hobby: no value to check, a closer match
TOPIC_MIN = 0.3  # the weak placement (``topic_of``): ranking only, never a supersession
# a statement that replaces one of several ("gave up the old hobby", "our only pet now")
CHANGED = re.compile(r"\b(?:no longer|any ?more|instead|gave up|giving up|quit|stopped|"
                     r"switched|swapped|replaced|old|only|lost)\b", re.I)
# "Hey Caroline, …", "Wow, Mel, …": a name addressed is not a value
_VOCATIVE = re.compile(r"(?:^|[,.!?:;]\s+|\b(?i:hey|hi|hello|thanks|wow|yeah|yes|oh|so|well|"
                       r"aw+)\s+)([A-Z][\w'’-]*)(?=\s*[,!?])")


def topic_of(embedder, vector, sentence: str) -> str | None:
    """The attribute the speaker's own statement ``sentence`` is nearest to, when at least
    TOPIC_MIN, with no margin and no value needed: a weaker placement than ``classify`` that never
    supersedes anything, only lets a question about that attribute find the statement
    (retrieval/attribute_query.py)."""
    if not own_change(sentence):
        return None
    attribute, sim, _ = nearest(embedder, vector)
    return attribute if attribute is not None and sim >= TOPIC_MIN else None


def classify(embedder, vector, sentence: str, note: str, subject: str) -> tuple[str, str] | None:
    """(attribute, value) of the speaker's own statement ``sentence`` (its third-person ``note``
    has ``vector``), or None. A named attribute needs a value (a proper noun or a number); the
    others take the statement's wording as their value."""
    if not own_change(sentence):
        return None
    attribute, sim, margin = nearest(embedder, vector)
    named = attribute in NAMED
    if attribute is None or sim < (MIN_SIM if named else WORDED_MIN_SIM) or \
            margin < (MARGIN if named else WORDED_MARGIN):
        return None
    addressed = tuple(m.group(1) for m in _VOCATIVE.finditer(note))
    values = sorted(value_tokens(note, (subject, *addressed)))
    if named:
        if not values:
            return None
        return attribute, " ".join(values)
    return attribute, normalize_value(sentence) or sentence.lower()


def by_meaning(embedder, cands: list, vecs) -> tuple[list, list]:
    """Give the candidates no slot pattern placed (``attributes`` empty) the attribute their
    meaning says (``by_meaning`` set; see module doc). Returns the candidates and vectors kept:
    a tentative candidate (extract.rule_notes) only when it got an attribute."""
    from memcli.core.attribute_words import attribute_tags
    from memcli.core.statements import first_person

    keep = []
    for c, v in zip(cands, vecs):
        keep.append(not c.tentative)
        if c.attributes or not c.subject:
            continue
        own = first_person(c.text, c.subject)
        got = classify(embedder, v, own, c.text, c.subject)
        if got is None:
            c.topic = None if c.tentative else topic_of(embedder, v, own)
            continue
        attribute, value = got
        c.attributes, c.values, c.by_meaning = [attribute], {attribute: value}, True
        c.tags += [t for t in attribute_tags([attribute]) if t not in c.tags]
        keep[-1] = True
    return [c for c, k in zip(cands, keep) if k], [v for v, k in zip(vecs, keep) if k]


def remember_prototypes(store, embedder) -> None:
    """Keep both prototype tables' vectors in the store (one short write transaction), so search
    can place a question by meaning without embedding them (retrieval/attribute_query.py)."""
    from memcli.retrieval.attribute_meaning import remember
    from memcli.retrieval.attribute_query import QUESTIONS

    with store.transaction():
        remember(store, embedder, PROTOTYPES, "statements")
        remember(store, embedder, QUESTIONS, "questions")
