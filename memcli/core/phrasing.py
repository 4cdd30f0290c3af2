"""The words around a statement's value, shared by the slot patterns (memcli/core/slots.py) and
their generic fallback (memcli/core/attribute_words.py): contractions and a dropped subject put
back, a value cut to its words, what is not a name, the value masked out (frames, value tokens),
and whether a statement says how things are or reports an event. Pure stdlib."""

from __future__ import annotations

import re
from functools import lru_cache

from memcli.core.text import content_words, stem

NOT_NAMES = frozenset(
    "monday mondays tuesday tuesdays wednesday wednesdays thursday thursdays friday fridays "
    "saturday saturdays sunday sundays january february march april may june july august "
    "september october november december today tomorrow tonight weekends weekend a an the my "
    "our it this that there here".split())

_STOP_VALUE = re.compile(r"\s*(?:\b(?:now|these days|anymore|at the moment|again|lately|"
                         r"nowadays|for now|since|last|this|from|as of)\b.*)?$", re.I)


def normalize_value(raw: str, whole: bool = False) -> str | None:
    """'Fontaines D.C. these days!' → 'fontaines d.c'; None when nothing is left. ``whole`` keeps
    commas (an address: '12 Rue Hugo, flat 3B')."""
    cut = r"[;!?()]|\.(?:\s|$)" if whole else r"[,;!?()]|\s[-–—]\s|\.(?:\s|$)"
    v = re.split(cut, raw.strip(), maxsplit=1)[0]
    v = _STOP_VALUE.sub("", v)
    v = re.sub(r"^(?:a|an|the)\s+", "", v.strip(), flags=re.I).strip(" .'\"“”")
    return v.lower() or None


_CONTRACTIONS = [(re.compile(p, re.I), r) for p, r in (
    (r"\b(i)'m\b", r"\1 am"), (r"\b(i|we|you|they)'ve\b", r"\1 have"),
    (r"\b(we|you|they)'re\b", r"\1 are"), (r"\b(i|we|you|they)'d\b", r"\1 would"),
    (r"\b(i|we|you|they)'ll\b", r"\1 will"))]
FAV_TAIL = re.compile(r"\s+(?:now|these days|currently|right now|at the moment|lately)$", re.I)


# A chat line often drops its subject: "Just relocated to Porto", "Accepted an offer from Acme".
# A sentence that opens (after a few adverbs) with a past-tense verb is the speaker's: "I …".
_DROPPED_SUBJECT = re.compile(
    r"^((?:(?:just|finally|recently|today|yesterday|also|officially|so|well|and|honestly|"
    r"actually|big news|update|news)[,:!]?\s+)*)(?=(?:[a-z]{2,}ed|got|bought|sold|signed|took|"
    r"began|left|found|made|went|became|switched|joined|started)\b)", re.I)


def has_dropped_subject(sentence: str) -> bool:
    """"Just relocated to Porto", "Accepted an offer from Acme": a sentence whose subject, the
    speaker, is left out."""
    text = sentence.replace("’", "'")
    m = _DROPPED_SUBJECT.match(text)
    return bool(m) and not re.match(r"(?:i|we|you|he|she|they|it|user)\b", text[m.end():], re.I)


def expand(sentence: str) -> str:
    """"I'm" → "I am", "we've" → "we have" (curly apostrophes too), and a dropped subject put
    back ("Just relocated to Porto" → "Just I relocated to Porto"): one form for the patterns."""
    out = sentence.replace("’", "'")
    for pat, rep in _CONTRACTIONS:
        out = pat.sub(rep, out)
    if has_dropped_subject(out):
        at = _DROPPED_SUBJECT.match(out).end()
        out = out[:at] + "I " + out[at:]
    return out



# ---- the value masked out: statements that say the same thing with a different value -----------
UPDATE_MARKERS = re.compile(
    r"\b(now|these days|nowadays|currently|anymore|any more|no longer|switched|changed|"
    r"instead|new|recently|lately|finally|from now on|these days|upgraded|replaced|moved|"
    r"swapped|traded|exchanged)\b", re.I)
_MASK_WORDS = frozenset("now days nowadays currently anymore longer new recently lately finally "
                        "still actually really also just these instead".split())
TOKEN = re.compile(r"[\w][\w&'’.+@-]*")


# Digest compares each new fact with every near neighbour: the same texts come back again and again,
# so the pure functions below are cached (their sets are frozen: callers share them).
@lru_cache(maxsize=8192)
def value_tokens(text: str, skip: tuple[str, ...] = ()) -> frozenset[str]:
    """What carries a statement's value: numbers, e-mail addresses, and capitalised words that do
    not start a sentence ('flat 3B' → {'3b'}; 'Anna lives in Porto' with skip=('Anna',) →
    {'porto'})."""
    out = set()
    skipped = {s.lower() for name in skip for s in name.split()}
    start = True
    for tok in TOKEN.findall(text):
        clean = tok.strip(".'’-")
        low = clean.lower()
        is_value = any(ch.isdigit() for ch in clean) or "@" in clean or (
            clean[:1].isupper() and not start and low not in NOT_NAMES and low != "i")
        if is_value and low not in skipped and not low.endswith(("'s", "’s")):
            out.add(low)
        elif is_value and low.endswith(("'s", "’s")) and low[:-2] not in skipped:
            out.add(low[:-2])
        start = tok.endswith((".", "!", "?"))
    return frozenset(out)


@lru_cache(maxsize=8192)
def _mentioned(text: str) -> frozenset[str]:
    """Every word of ``text``, lower case, possessives also without their 's."""
    words = {t.strip(".'’-").lower() for t in TOKEN.findall(text)}
    return frozenset(words | {w[:-2] for w in words if w.endswith(("'s", "’s"))})


def values_differ(a: str, b: str, skip: tuple[str, ...] = ()) -> bool:
    """Does one statement hold a value (see value_tokens) the other does not mention at all?
    ('… flat 3B' / '… flat 3C': yes; 'my epipen' / 'my EpiPen': no)."""
    return bool((value_tokens(a, skip) - _mentioned(b)) or (value_tokens(b, skip) - _mentioned(a)))


@lru_cache(maxsize=8192)
def frame(text: str, skip: tuple[str, ...] = ()) -> frozenset[str]:
    """The statement's content words with its value and update markers masked out, stemmed."""
    values = value_tokens(text, skip) | {s.lower() for name in skip for s in name.split()}
    return frozenset(stem(w) for w in content_words(text)
                     if w not in values and w not in _MASK_WORDS
                     and not any(ch.isdigit() for ch in w) and len(w) > 1)


_STATE = re.compile(
    r"\b(is|are|am|has|have|lives|works|drives|owns|uses|prefers|loves|likes|plays|eats|"
    r"goes|takes|runs|trains|studies|keeps|rents|attends|wears|speaks|follows|supports|reads|"
    r"listens|watches|weighs|earns|costs|sleeps|wakes|commutes|favou?rite)\b", re.I)
EVENT = re.compile(r"\b(went|visited|saw|met|did|had|was|were|took|made|got|bought|attended|"
                    r"ran|won|lost|gave|left|came|told|said|found|\w{3,}ed)\b", re.I)


def is_state(text: str) -> bool:
    """A statement of how things are (or an explicit change), not an event that happened."""
    return bool(UPDATE_MARKERS.search(text) or (_STATE.search(text) and not EVENT.search(text)))
