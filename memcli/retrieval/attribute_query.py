"""Which attribute of the person a question asks about, by meaning, so the person's statements
about that attribute lead the hits even when the question shares no word with them ("Where do I
keep my money now?" → bank → "Closed the old account; everything runs through Nordea now").

A few plain questions per attribute (the attribute names are digest's: retrieval/
attribute_meaning.py), embedded once with the store's embedder (digest keeps the vectors in the
store, so a search never embeds them itself); the question's vector goes to the attribute whose
nearest prototype is closest, when that is at least MIN_SIM and MARGIN ahead of the next. Only a
question about the person (it names nobody else, no third person) is classified.

Then ``lead_facts``: the person's statements about the attribute are the facts digest placed
there (its attribute or its weaker topic) and the person's own statements of a state or a change
(core/attribute_words.own_change: never a wish, a plan, someone else's news) among what the
question found and what a search by the attribute's prototypes finds, whose meaning is nearest
that attribute (within NEAR_TIE) and, for an attribute with named values, that hold a name or a
number. For a question about the present the current ones lead, newest first; for the past the
one before the newest first and the newest last (a single statement, which may be the current
value, is lifted only when digest closed it); prefer_valid then orders each recorded change. At
most LEAD lead. A line told in the same words in ROUTINE or more conversations counts from its
first telling (a routine, not news: ``_told_at``). No SQL: the store lists the facts
(store/digest_state.facts_with_attribute)."""

from __future__ import annotations

import re

from memcli.core.models import attrs_of, meta_of
from memcli.core.phrasing import value_tokens
from memcli.retrieval.attribute_meaning import (
    NAMED,
    best_per_attribute,
    centroid,
    matrix,
    similarities,
)

QUESTIONS: dict[str, tuple[str, ...]] = {
    "residence": ("Where do I live?", "Which city am I based in?", "Where is my home?",
                  "What town do I live in these days?"),
    "employer": ("Where do I work?", "Which company do I work for?", "Who is my employer?",
                 "Who employs me?"),
    "job": ("What is my job title?", "What is my role at work?", "What position do I have?",
            "What do I do for a living?"),
    "car": ("What car do I drive?", "Which car do I own?", "What vehicle do I have?"),
    "phone": ("What is my phone number?", "What number can I be called on?",
              "What is my mobile number?"),
    "email": ("What is my email address?", "Where should emails to me go?"),
    "diet": ("What diet do I follow?", "What do I eat?", "Am I vegetarian?"),
    "partner": ("Who is my partner?", "Who am I in a relationship with?",
                "What is my girlfriend's or boyfriend's name?"),
    "school": ("Which university do I go to?", "Where do I study?", "Which school do I attend?"),
    "pet": ("What is my pet's name?", "What is my dog called?", "What pet do I have?"),
    "hobby": ("What is my hobby?", "What do I do in my spare time?",
              "What do I do for fun at weekends?"),
    "gym": ("Which gym do I go to?", "Where do I exercise?", "Where do I train?"),
    "language": ("Which language am I learning?", "What foreign language do I study?"),
    "instrument": ("Which instrument do I play?", "What musical instrument am I learning?"),
    "doctor": ("Who is my doctor?", "Which GP do I see?", "Who is my dentist?"),
    "bank": ("Which bank am I with?", "Where is my bank account?", "Where are my savings?"),
    "commute": ("How do I get to work?", "How do I commute?", "How do I travel to the office?"),
    "team": ("Which team do I support?", "Which football club am I a fan of?"),
    "provider": ("Who is my internet provider?", "Which mobile carrier do I use?",
                 "Who is my energy supplier?"),
    "device": ("What phone do I have?", "Which laptop do I use?"),
    "insurance": ("Who is my insurer?", "Which insurance company am I with?"),
}
MIN_SIM = 0.5  # cosine to the nearest question prototype
MARGIN = 0.04  # ahead of the nearest prototype of any other attribute
LEAD = 4  # statements of the attribute that lead at most
SEARCH = 30  # nearest items to the attribute's prototypes that may join
LIFT = 1.05
TOPIC_MIN = 0.3  # a found statement's cosine to the asked attribute's nearest prototype
NEAR_TIE = 0.03  # ... which may trail the statement's nearest attribute by this much
ROUTINE = 3  # conversations a line told in the same words is a routine from (``_told_at``)
_THIRD_PERSON = re.compile(r"\b(?:he|she|his|her|hers|him|they|their|them)\b", re.I)
_NAME = re.compile(r"(?<!^)(?<![.?!]\s)\b(?!I\b)[A-Z][a-z]+")


def _prototypes(embedder, store=None, compute: bool = True):
    return matrix(embedder, QUESTIONS, "questions", store=store, compute=compute)


def about_the_person(query: str) -> bool:
    """A question about the person: it names nobody else and has no third person in it ("What
    company is Rachel at?", "Where does she live?": no; "Which town is home these days?": yes)."""
    return not (_NAME.search(query) or _THIRD_PERSON.search(query))


def question_attribute(embedder, query: str, vector, store=None) -> str | None:
    """The attribute the question asks about (see module doc), or None. With ``store``, only
    when digest kept the prototype vectors in it (attribute_meaning.remember): a search never
    embeds them itself."""
    if embedder is None or vector is None or not about_the_person(query):
        return None
    got = _prototypes(embedder, store, compute=store is None)
    if got is None:
        return None
    ranked = sorted(best_per_attribute(*got, vector).items(), key=lambda kv: -kv[1])
    if len(ranked) < 2 or ranked[0][1] < MIN_SIM or ranked[0][1] - ranked[1][1] < MARGIN:
        return None
    return ranked[0][0]


def lead_facts(store, embedder, fused: dict[int, float], attribute: str, *, past: bool,
               rows: dict[int, dict] | None = None, filters=None, subject: str = "User",
               placed_out: set[int] | None = None) -> dict[int, float]:
    """``fused`` with the person's statements about ``attribute`` leading (see module doc): the
    facts digest placed there (its attribute or its weaker topic) and the candidates the
    question found that are the person's own statements of a state or a change whose meaning
    is nearest to that attribute (so an undigested message counts too). ``placed_out`` receives
    the ids of the leading facts digest set this attribute on (not a topic, not by meaning at
    search time): the memory holds the answer, so `memcli ask` does not abstain."""
    if not fused:
        return fused
    placed = store.facts_with_attribute(attribute, subject)
    rows = {} if rows is None else rows
    # what the question found, and what a search by the attribute's own prototypes finds: the
    # person's statements about it in words the question does not use
    proto = centroid(embedder, attribute, store)
    more = [i for i, _ in store.vec_search(proto, SEARCH, filters)] if proto is not None else []
    pool = list(dict.fromkeys([*fused, *more]))
    rows.update(store.get_items([i for i in pool if i not in rows]))
    found = [i for i in pool if i in rows and _own_statement(rows[i], subject)]
    vecs = store.approx_vectors(found) if found else {}
    members = {f["id"]: f for f in placed}
    named = attribute in NAMED
    for i in found:
        if i in vecs and (not named or value_tokens(rows[i]["text"], (subject,))):
            sims = similarities(embedder, vecs[i], store)
            mine = sims.get(attribute, -1.0)
            if mine >= TOPIC_MIN and mine >= max(sims.values()) - NEAR_TIE:
                members.setdefault(i, rows[i])
    if not past:
        members = {i: r for i, r in members.items() if not r.get("valid_to")}
    when = _told_at([rows[i] for i in found])
    order, told, said = [], set(), set()  # newest first: the current value leads the present
    for r in sorted(members.values(), key=lambda r: (when(r), r["id"]), reverse=True):
        if r["text"] in said:
            continue  # the same words again: one statement, its newest telling
        said.add(r["text"])
        order.append(r)  # a fact and the message it rests on are one statement (one time)
        told.add(when(r))
    if past and len(told) > 1:  # the past: the statement before the newest first, the newest
        times = sorted(told, reverse=True)  # last (prefer_valid orders each recorded change)
        rank = {t: (k - 1) % len(times) for k, t in enumerate(times)}
        order.sort(key=lambda r: rank[when(r)])
    elif past:  # one statement: lifted only when it is known to be an older value
        order = [r for r in order if r.get("valid_to")]
    order = order[:LEAD]  # (prefer_valid then orders each change digest recorded)
    top = max(fused.values())
    out = dict(fused)
    for rank, r in enumerate(order):
        out[r["id"]] = max(out.get(r["id"], 0.0), top * LIFT ** (len(order) - rank))
    if placed_out is not None:
        placed_out.update(r["id"] for r in order if attribute in attrs_of(meta_of(r)))
    return out


def _told_at(rows: list[dict]):
    """The time a statement counts as told: its own, except for a line told in the same words in
    ROUTINE or more conversations ("Made a huge pot of lentil soup." again and again), which is
    a routine, not news: it counts from its first telling, so its latest repetition does not
    pass for the newest change. (Told twice, the newest telling counts: "I live in Lyon" again
    after a move to Grenoble may be a move back.)"""
    convs: dict[str, set] = {}
    first: dict[str, str] = {}
    for r in rows:
        if r.get("conversation_id") is not None and r.get("kind") not in ("fact",):
            convs.setdefault(r["text"], set()).add(r["conversation_id"])
            t = r["created_at"] or ""
            first[r["text"]] = min(first.get(r["text"], t), t)
    routine = {t for t, c in convs.items() if len(c) >= ROUTINE}
    return lambda r: first[r["text"]] if r["text"] in routine else (r["created_at"] or "")


def _own_statement(row: dict, subject: str) -> bool:
    """The person's own statement of a state or a change (not a question, a wish, a plan)."""
    from memcli.core.attribute_words import own_change
    from memcli.core.statements import first_person

    text = (row.get("text") or "").strip()
    if (row.get("role") or "").lower() != subject.lower() or text.endswith("?") or len(text) > 400:
        return False
    return own_change(first_person(text, subject) if row.get("kind") == "fact" else text)
