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

import numpy as np

from memcli.core.attribute_words import own_change
from memcli.core.phrasing import normalize_value, value_tokens

# Plain statements of each attribute, in the third person digest's facts are written in; the value
# of a named kind is a placeholder name, so what is compared is the statement's frame.
PROTOTYPES: dict[str, tuple[str, ...]] = {
    "residence": ("User lives in this city.", "User moved to a new city.",
                  "User's home is a flat in the town centre.",
                  "User bought a house and moved in.", "User's new address is in another town."),
    "employer": ("User works for this company.", "User started a new job at another company.",
                 "User's employer is a software firm.", "User accepted a job offer.",
                 "User quit the old job and joined a new company."),
    "job": ("User's job title is senior engineer.", "User got promoted at work.",
            "User works as a manager.", "User's role at work changed.",
            "User became the team's lead developer."),
    "car": ("User drives this car.", "User bought a new car.", "User's car is an electric car.",
            "User sold the old car and got another one."),
    "phone": ("User's phone number is this.", "User got a new phone number.",
              "User can be called on this mobile number."),
    "email": ("User's email address is this.", "User changed email address."),
    "diet": ("User is vegetarian.", "User follows a special diet.", "User stopped eating meat.",
             "User's diet changed."),
    "partner": ("User's partner is called Alex.", "User is dating someone new.",
                "User has a new girlfriend.", "User and the boyfriend are a couple."),
    "school": ("User studies at this university.", "User is a student at a college.",
               "User started a degree at a new university."),
    "pet": ("User's dog is called Rex.", "User adopted a cat.", "User's pet is a rabbit."),
    "hobby": ("User's hobby is painting.", "User spends free time on a sport.",
              "User took up a new hobby."),
    "gym": ("User goes to this gym.", "User trains at a fitness club.",
            "User has a gym membership."),
    "language": ("User is learning a foreign language.", "User takes Spanish lessons."),
}
MULTI = frozenset({"pet", "hobby", "language", "gym"})
NAMED = frozenset({"residence", "employer", "car", "phone", "email", "partner", "school", "pet",
                   "gym", "language"})
MIN_SIM = 0.35  # cosine to the nearest prototype, for an attribute whose value is a name/number
MARGIN = 0.08  # ahead of the nearest prototype of any other attribute
WORDED_MIN_SIM, WORDED_MARGIN = 0.5, 0.05  # job, diet, hobby: no value to check, a closer match
# a statement that replaces one of several ("gave up the old hobby", "our only pet now")
CHANGED = re.compile(r"\b(?:no longer|any ?more|instead|gave up|giving up|quit|stopped|"
                     r"switched|swapped|replaced|old|only|lost)\b", re.I)
# "Hey Caroline, …", "Wow, Mel, …": a name addressed is not a value
_VOCATIVE = re.compile(r"(?:^|[,.!?:;]\s+|\b(?i:hey|hi|hello|thanks|wow|yeah|yes|oh|so|well|"
                       r"aw+)\s+)([A-Z][\w'’-]*)(?=\s*[,!?])")

_CACHE: dict[str, tuple[list[str], np.ndarray]] = {}


def _prototypes(embedder) -> tuple[list[str], np.ndarray]:
    key = f"{getattr(embedder, 'model_id', type(embedder).__name__)}:{embedder.dim}"
    if key not in _CACHE:
        names = [a for a, texts in PROTOTYPES.items() for _ in texts]
        vecs = np.asarray(embedder.embed([t for texts in PROTOTYPES.values() for t in texts]),
                          dtype=np.float32)
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        _CACHE[key] = (names, vecs)
    return _CACHE[key]


def nearest(embedder, vector) -> tuple[str | None, float, float]:
    """(attribute, cosine to its nearest prototype, margin over the next attribute)."""
    names, protos = _prototypes(embedder)
    v = np.asarray(vector, dtype=np.float32)
    v = v / max(float(np.linalg.norm(v)), 1e-12)
    sims = protos @ v
    best: dict[str, float] = {}
    for a, s in zip(names, sims.tolist()):
        best[a] = max(best.get(a, -1.0), s)
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    if not ranked:
        return None, 0.0, 0.0
    second = ranked[1][1] if len(ranked) > 1 else -1.0
    return ranked[0][0], ranked[0][1], ranked[0][1] - second


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
    from memcli.services.digest.extract import first_person

    keep = []
    for c, v in zip(cands, vecs):
        keep.append(not c.tentative)
        if c.attributes or not c.subject:
            continue
        got = classify(embedder, v, first_person(c.text, c.subject), c.text, c.subject)
        if got is None:
            continue
        attribute, value = got
        c.attributes, c.values, c.by_meaning = [attribute], {attribute: value}, True
        c.tags += [t for t in attribute_tags([attribute]) if t not in c.tags]
        keep[-1] = True
    return [c for c, k in zip(cands, keep) if k], [v for v, k in zip(vecs, keep) if k]
