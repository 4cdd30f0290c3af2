"""The generic fallback of memcli/core/slots.py for phrasings no pattern knows: a statement by the
speaker about themselves that names an attribute's topic ("flat", "gym", "number") and holds a value
of that attribute's kind (a proper noun nearby, a phone number, an e-mail address), stated as how
things are or as a change, sets that attribute: "New number: 06 11 22 33 44" → phone; "I cancelled
the old plan and now train at Keep Cool" → gym. Not when another person is the subject ("my sister
lives in Berlin"), nor for a negation, a wish or a past event ("I test drove a BMW"). Also the
words a question about each attribute uses (kept as the fact's tags). Pure stdlib."""

from __future__ import annotations

import re

from memcli.core.phrasing import (
    EVENT,
    FAV_TAIL,
    NOT_NAMES,
    TOKEN,
    UPDATE_MARKERS,
    expand,
    is_state,
    normalize_value,
)

ATTRIBUTE_WORDS: dict[str, tuple[re.Pattern, str]] = {
    name: (re.compile(rf"\b(?:{words})\b", re.I), kind) for name, words, kind in (
        ("residence", r"live|lives|living|home|flat|apartment|house|condo|city|town|"
                      r"neighbou?rhood|relocat\w*|rent|renting|address", "name"),
        ("employer", r"work|works|working|job|company|employer|office|hired|colleagues|boss|"
                     r"firm|startup|employed|team", "name"),
        ("car", r"car|cars|drive|drives|driving|vehicle", "name"),
        ("phone", r"phone|number|mobile|cell|cellphone", "phone"),
        ("email", r"e-?mail|inbox|address", "email"),
        ("gym", r"gym|gyms|membership|workouts?|train|training|fitness", "name"),
        ("language", r"language|languages|lessons?|learning|studying|course|classes", "name"),
    )}
_ANY_ATTRIBUTE_WORD = re.compile("|".join(w.pattern for w, _ in ATTRIBUTE_WORDS.values()), re.I)
_VALUE_SHAPE = re.compile(r"@|\d[\d\s().-]{7,}\d")


def may_set_attribute(text: str) -> bool:
    """A cheap first look: an attribute's topic word, a phone number or an e-mail address."""
    return bool(_ANY_ATTRIBUTE_WORD.search(text) or _VALUE_SHAPE.search(text))
_OTHER_PERSON = re.compile(
    r"\b(?:my|our|his|her|their)\s+(?:\w+\s+)?(?:sister|brother|mother|mom|mum|father|dad|"
    r"parents?|friends?|colleagues?|co-?workers?|boss|dentist|doctor|neighbou?rs?|cousins?|aunt|"
    r"uncle|sons?|daughters?|kids?|children|wife|husband|partner|girlfriend|boyfriend|grand\w+|"
    r"in-laws?|manager|roommate|flatmate|landlord|teacher)\b|\b(?:he|she|they)\b", re.I)
_SELF = re.compile(r"\b(?:i|we|my|our|me|us|home)\b|^\s*(?:new|updated|current)\b", re.I)
_NEGATED = re.compile(r"\b(?:not|never|n't|cannot|can't|won't|didn't|don't|doesn't|if|would|"
                      r"could|might|maybe|should|wants?|wanted|wish\w*|hop(?:e|es|ed|ing)|"
                      r"thinking|considering|let's|lets|plan\w*|going to|try\w*)\b", re.I)
_MY_FAVOURITE = re.compile(r"\bmy\s+(?:new\s+|current\s+|all-time\s+)?favou?rite\s+([a-z]+)\b",
                           re.I)
_COPULA = re.compile(r"\s(?:is|are|has become|became)\s", re.I)
NEAR_CHARS = 40  # a proper-noun value lies this close to the topic word
_KIND_VALUE = {"phone": re.compile(r"\+?\d[\d\s().-]{7,}\d"),
               "email": re.compile(r"[\w.+-]+@[\w.-]+\w")}


def _name_runs(sentence: str) -> list[tuple[int, str]]:
    """(offset, run) of the proper-noun runs of a sentence: capitalised words that do not open
    it, are not "I", a weekday or a month ("… the old town in Annecy" → [(…, 'Annecy')])."""
    out, run, at, start = [], [], 0, True
    for m in TOKEN.finditer(sentence):
        tok = m.group().strip(".'’-,")
        low = tok.lower()
        name = (tok[:1].isupper() and not start and low not in NOT_NAMES and low != "i"
                and not low.endswith("'s"))
        if name:
            if not run:
                at = m.start()
            run.append(tok)
        elif run:
            out.append((at, " ".join(run)))
            run = []
        start = m.group().endswith((".", "!", "?", ":"))
    if run:
        out.append((at, " ".join(run)))
    return out


def inferred_slots(sentence: str) -> list[tuple[str, str]]:
    """The attribute-words fallback (see ATTRIBUTE_WORDS): [(attribute, value)] or []."""
    text = expand(sentence)
    if not _SELF.search(text) or _OTHER_PERSON.search(text) or _NEGATED.search(text):
        return []
    if not (UPDATE_MARKERS.search(text) or is_state(text) or not EVENT.search(text)):
        return []  # "I test drove a BMW": an event, not how things are
    runs = None
    for name, (words, kind) in ATTRIBUTE_WORDS.items():
        topic = words.search(text)
        if topic is None:
            continue
        if kind in _KIND_VALUE:
            m = _KIND_VALUE[kind].search(text)
            value = normalize_value(m.group()) if m else None
        else:
            runs = _name_runs(text) if runs is None else runs
            # the run nearest after the topic word, else the nearest before it
            after = [r for at, r in runs if 0 < at - topic.start() <= NEAR_CHARS]
            # a value before the topic word is one the sentence says it is ("Keep Cool is my
            # gym", "Lisbon is home now"), not a name addressed ("Yeah, Maria, let's keep working")
            before = [r for at, r in runs if 0 < topic.start() - at <= NEAR_CHARS
                      and _COPULA.search(text, at, topic.start())]
            value = normalize_value(after[0] if after else before[-1]) if after or before \
                else None
        if value:
            return [(name, value)]
    for name in ("phone", "email"):  # the value's own shape says which attribute it is
        m = _KIND_VALUE[name].search(text)
        if m and (name == "email" or sum(ch.isdigit() for ch in m.group()) >= 9):
            return [(name, normalize_value(m.group()))]
    fav = _MY_FAVOURITE.search(text)
    if fav:  # "I listen to Wet Leg all day, my favourite band by far"
        runs = _name_runs(text) if runs is None else runs
        near = [r for at, r in runs if 0 < at - fav.end() <= NEAR_CHARS] or \
            [r for at, r in runs if 0 < fav.start() - at <= NEAR_CHARS][-1:]
        if near:
            return [("favorite:" + FAV_TAIL.sub("", fav.group(1).lower()),
                     normalize_value(near[0]))]
    return []


_DISTANT_PAST = re.compile(
    r"\b(?:back in|years ago|in (?:19|20)\d\d|when (?:i|we) (?:was|were)|used to|as a (?:kid|child|"
    r"teen\w*|student)|once|for a (?:semester|summer|while|night|day|weekend)|for the (?:night|day|"
    r"weekend)|one day|someday|some day|in (?:high )?school|in college)\b", re.I)
# a visit or a trip is not where one lives, works or studies
_VISIT = re.compile(r"\b(?:trips?|travel\w*|visit\w*|vacation\w*|holidays?|tour\w*|went to|"
                    r"wanting|sightseeing)\b", re.I)
_OURS = re.compile(r"\b(?:ours|mine)\b", re.I)
# a sentence with no word for the speaker is still theirs ("Badge photo taken, officially part of
# Redpine now", "Lifting at Gymbox four mornings a week") unless it opens with someone else: a
# name and a verb, or a name's possession
_THIRD_SUBJECT = re.compile(
    r"\s*(?:[A-Z][\w’-]*[’']s\b|(?:[A-Z][\w’-]*\s+){1,3}(?:is|are|was|were|has|had|have|got|gets|"
    r"went|goes|sold|sells|bought|buys|made|makes|took|takes|drives|lives|works|said|says|told|"
    r"left|joined|moved|started|loves|likes|wants|\w+ed)\b)")
_ACTED_ON = re.compile(r"\b(?:he|she|they)\s+(?:\w+\s+)?(?:me|us)\b", re.I)


def own_change(sentence: str) -> bool:
    """The speaker's own statement of how things are or of a change, told as a state or as a
    recent event ("Picked up the keys to our place in Nantes", "They made me staff engineer"):
    about the speaker (no other person as its subject; "they made me" acts on the speaker; a
    sentence with no person in it is the speaker's: "Lifting at Gymbox four mornings a week"), not
    a negation, wish or plan, not a distant or passing past ("back in 2015", "for the night"),
    not a visit or a trip."""
    text = expand(sentence)
    if not (_SELF.search(text) or _OURS.search(text)) and _THIRD_SUBJECT.match(text):
        return False  # "Kasper sold his bike", "Anna's new number is …": someone else's
    other = _OTHER_PERSON.search(_ACTED_ON.sub(" me ", text))
    return not (other or _NEGATED.search(text) or _DISTANT_PAST.search(text) or
                _VISIT.search(text))


# Words a question about the attribute uses, kept as the fact's tags (the full-text index reads
# them): "Where do I work?" finds "User accepted an offer from Initech" (employer).
ATTRIBUTE_TAGS = {"residence": ("home", "live", "city"), "employer": ("employer", "work"),
                  "car": ("car", "drive"), "phone": ("phone", "number"), "email": ("email",),
                  "job": ("job", "title", "role"), "gym": ("gym", "train"),
                  "language": ("language", "learning"), "diet": ("diet", "eat"),
                  "relationship": ("relationship",), "partner": ("partner", "dating"),
                  "school": ("university", "school", "study"), "pet": ("pet",),
                  "hobby": ("hobby", "free", "time"), "instrument": ("instrument", "play"),
                  "doctor": ("doctor", "gp"), "bank": ("bank", "account"),
                  "commute": ("commute", "work"), "team": ("club", "team", "support"),
                  "provider": ("provider",), "device": ("device",),
                  "insurance": ("insurance",)}


def attribute_tags(attributes: list[str]) -> list[str]:
    """The question words of these attributes ('favorite:band' → ['favourite', 'band'])."""
    out: list[str] = []
    for a in attributes:
        words = ATTRIBUTE_TAGS.get(a) or (("favourite", a.split(":", 1)[1])
                                          if a.startswith("favorite:") else ())
        out += [w for w in words if w not in out]
    return out
