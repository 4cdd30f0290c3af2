"""The digest's statement heuristics, pure and stdlib only: does a sentence look like a durable
first-person fact, of which type, what it reads like in the third person, which attribute of its
speaker it sets (for supersession), and the date a relative phrase ("yesterday") points to.

They are the fallback that must work with no model at all. Words come from memcli.core.text.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import lru_cache

from memcli.core.slots import (  # noqa: F401 (re-exported)
    ATTRIBUTES,
    attributes_of,
    has_dropped_subject,
    slots_of,
)
from memcli.core.text import content_words

FIRST_PERSON = re.compile(r"\b(i|i'm|i've|i'd|i'll|my|me|mine|myself|we|we're|we've|our|us)\b",
                          re.IGNORECASE)
FILLER = re.compile(
    r"^(hey|hi|hello|thanks|thank you|wow|ok|okay|sure|yes|yeah|no|lol|haha|bye|good ?(bye|night)|"
    r"that's (great|cool|awesome|amazing|so cool)|sounds (good|great)|congrat\w*)\b[\s!.,]*$",
    re.IGNORECASE)

TYPE_MARKERS = {
    "preference": re.compile(r"\b(love|like|likes|prefer|prefers|favou?rite|enjoy|enjoys|hate|"
                             r"dislike|can't stand|into|fan of|passionate)\b", re.I),
    "decision": re.compile(r"\b(decided|decide|will|going to|plan|planning|plans|chose|choose|"
                           r"gonna|intend|committed|signed up|want to|wants to)\b", re.I),
    "event": re.compile(r"\b(went|visited|moved|started|bought|met|joined|finished|graduated|"
                        r"married|adopted|got|took|attended|ran|won|lost|yesterday|last (week|"
                        r"month|year|night|weekend)|ago|\w+ed)\b", re.I),
}
SIGNAL = re.compile(
    r"\b(live|lives|living|moved|work|works|working|job|career|name|born|birthday|married|"
    r"wife|husband|partner|kids|children|son|daughter|dog|cat|pet|favou?rite|prefer|love|"
    r"hobby|started|bought|decided|plan|school|university|degree|study|studying|allergic|"
    r"diet|vegetarian|vegan|team|project|deadline|trip|travel|visited|went|joined|adopted|"
    r"friend|family|mom|mother|dad|father|brother|sister|painting|music|book|car|house)\b", re.I)


# ---- first-person statements ---------------------------------------------------------------------
def fact_type(sentence: str) -> str:
    for name in ("preference", "decision", "event"):
        if TYPE_MARKERS[name].search(sentence):
            return name
    return "fact"


# Instructions to an assistant ("can you…", "I want a plot…") are tasks, not memories.
REQUEST = re.compile(
    r"^(please|can you|could you|would you|let's|lets|help me|show me|write|make|run|try|give me|"
    r"add|fix|change|explain|tell me)\b|\b(can you|could you|please)\b|"
    r"\bi (want|need|would like|'d like) (you|to see)\b", re.I)
_CODE = re.compile(r"[=(){}\[\]<>`]|;\s*$|\w\.\w+\(|^\s*(import|def|class|return|for|if)\b")


def is_prose(sentence: str) -> bool:
    """Not code, a formula or a table row: mostly letters and spaces, no code punctuation."""
    if not sentence or _CODE.search(sentence):
        return False
    plain = sum(ch.isalnum() or ch.isspace() or ch in ",.'’!?-:;\"“”…&/%$€£" for ch in sentence)
    return plain / len(sentence) >= 0.9


def strip_code(text: str) -> str:
    """Drop fenced code blocks and indented code lines before looking for sentences."""
    text = re.sub(r"```.*?(```|$)", " ", text or "", flags=re.S)
    return "\n".join(ln for ln in text.splitlines() if not ln.startswith(("    ", "\t")))


_MY_X_IS = re.compile(r"\bmy (?:[a-z]+ ){1,2}(?:is|are)\b", re.I)


@lru_cache(maxsize=16384)
def statement_score(sentence: str) -> float:
    """How much a sentence looks like a durable personal fact (0 = not at all)."""
    n = len(sentence.split())
    if n > 60 or sentence.rstrip().endswith("?") or FILLER.match(sentence):
        return 0.0
    if n < 4 and not (n == 3 and slots_of(sentence)):  # "I'm learning Spanish." still counts
        return 0.0
    slots = slots_of(sentence)
    # a request to an assistant is a task, unless it carries an attribute's new value ("New
    # number: 07 98 76 54 32, please update it")
    if (REQUEST.search(sentence) and not slots) or not is_prose(sentence):
        return 0.0
    cw = content_words(sentence)
    if len(cw) < 2:
        return 0.0
    s = 0.0
    if FIRST_PERSON.search(sentence) or (slots and has_dropped_subject(sentence)):
        s += 1.0  # "Just relocated to Porto": the speaker's, its subject left out
    s += 0.6 * min(3, len(SIGNAL.findall(sentence)))
    if re.search(r"\b(I|we|my \w+) (just |recently |finally )?\w+ed\b", sentence):
        s += 0.5  # a first-person event: "I painted", "we adopted", "my sister started"
    s += 0.3 * min(3, sum(1 for w in sentence.split()[1:] if w[:1].isupper()))
    s += 0.3 if re.search(r"\d", sentence) else 0.0
    s += 0.1 * min(6, len(cw))
    if slots:  # it sets an attribute ("picked up a used Renault Zoe"): durable
        s += 1.0
    elif _MY_X_IS.search(sentence):  # "my gym is now Basic-Fit": a state of the speaker's
        s += 0.4
    return s


_PRONOUNS = [
    (r"\bI am\b", "{S} is"), (r"\bI'm\b", "{S} is"), (r"\bI’m\b", "{S} is"),
    (r"\bI've\b", "{S} has"), (r"\bI’ve\b", "{S} has"), (r"\bI'd\b", "{S} would"),
    (r"\bI'll\b", "{S} will"), (r"\bI was\b", "{S} was"), (r"\bI have\b", "{S} has"),
    (r"\bI\b", "{S}"), (r"\b[Mm]y\b", "{S}'s"), (r"\bmyself\b", "{S}"), (r"\bmine\b", "{S}'s"),
    (r"(?<=\w )\bme\b", "{S}"),
]


_IRREGULAR = {"have": "has", "do": "does", "go": "goes", "am": "is", "don't": "doesn't",
              "haven't": "hasn't", "study": "studies", "try": "tries", "fly": "flies",
              "carry": "carries", "watch": "watches", "teach": "teaches", "miss": "misses",
              "wish": "wishes", "finish": "finishes", "relax": "relaxes", "fix": "fixes"}
_BASE_VERBS = frozenset("""
live work love like eat want need plan prefer enjoy hate think feel own play use run know read write
cook drive take make keep hope run paint swim walk bake sing dance volunteer remember believe
visit spend collect care help practice train listen speak prefer usually always often still never
really also
""".split())
_ADVERBS = frozenset("usually always often still never really also now sometimes just".split())


def _agree(m: re.Match) -> str:
    """'Anna live' → 'Anna lives' (skipping adverbs: 'Anna really love' → 'Anna really loves')."""
    subject, adverbs, verb = m.group(1), m.group(2) or "", m.group(3)
    low = verb.lower()
    if low in _IRREGULAR:
        return f"{subject} {adverbs}{_IRREGULAR[low]}"
    if low in _BASE_VERBS and low not in _ADVERBS:
        return f"{subject} {adverbs}{verb}s"
    return m.group(0)


def third_person(sentence: str, speaker: str) -> str:
    """'I live in Berlin with my dog' → 'Anna lives in Berlin with Anna's dog' (roughly)."""
    out = sentence
    for pat, rep in _PRONOUNS:
        out = re.sub(pat, rep.replace("{S}", speaker), out)
    s = re.escape(speaker)
    out = re.sub(rf"\b({s}) ((?:(?:{'|'.join(sorted(_ADVERBS))}) )*)([a-z']+)\b", _agree, out)
    return out[:1].upper() + out[1:] if out else out


# ---- subject/attribute (what a fact is about; a later value supersedes an earlier one) ----------
# The patterns live in memcli/core/slots.py (with the value each one sets): ATTRIBUTES,
# attributes_of, slots_of are imported above for the callers of this module.


# ---- relative time -------------------------------------------------------------------------------
_REL = [
    (re.compile(r"\byesterday\b|\blast night\b", re.I), timedelta(days=1), "%Y-%m-%d"),
    (re.compile(r"\btoday\b|\btonight\b|\bthis morning\b", re.I), timedelta(0), "%Y-%m-%d"),
    (re.compile(r"\blast week(end)?\b", re.I), timedelta(days=7), "week of %Y-%m-%d"),
    (re.compile(r"\blast month\b", re.I), timedelta(days=30), "%B %Y"),
    (re.compile(r"\blast year\b", re.I), timedelta(days=365), "%Y"),
]


def event_time_hint(sentence: str, said_at: str | None) -> str | None:
    """'yesterday' said on 2023-05-08 → '2023-05-07'; None when nothing relative is mentioned."""
    if not said_at:
        return None
    try:
        base = datetime.fromisoformat(said_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    m = re.search(r"\b(\d+|a|one|two|three|four|five|six) (day|week|month|year)s? ago\b", sentence,
                  re.I)
    if m:
        nums = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
        n = int(m.group(1)) if m.group(1).isdigit() else nums[m.group(1).lower()]
        days = {"day": 1, "week": 7, "month": 30, "year": 365}[m.group(2).lower()] * n
        return (base - timedelta(days=days)).strftime("%Y-%m-%d" if days < 60 else "%B %Y")
    for pat, delta, fmt in _REL:
        if pat.search(sentence):
            return (base - delta).strftime(fmt)
    return None


def first_person(text: str, speaker: str) -> str:
    """Undo third_person enough for attribute patterns: 'Anna's' → 'my', 'Anna is' → 'I am'."""
    s = re.escape(speaker)
    text = re.sub(rf"\b{s}'s\b", "my", text)
    text = re.sub(rf"\b{s} is\b", "I am", text)
    text = re.sub(rf"\b{s} has\b", "I have", text)
    return re.sub(rf"\b{s}\b", "I", text)
