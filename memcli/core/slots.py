"""Which attribute of its speaker a statement sets, and to which value ("We finally moved to
Grenoble" → residence = grenoble), for supersession: a later value of the same attribute closes the
earlier fact. Pure stdlib; the rules the digest falls back on when no capable model decides.

Each pattern names its value slot ``v``; a slot of kind ``name`` must be a proper noun (capitalised
in the original text, not a weekday or month), so "moved our climbing sessions to Thursdays" sets no
residence. A statement no pattern knows goes to the attribute-words fallback
(memcli/core/attribute_words.py: a topic word and a value of the attribute's kind nearby);
``frame`` and ``value_tokens`` (memcli/core/phrasing.py) compare statements with the value masked
out, for the generic update rule ("My gym is Basic-Fit" → "My gym is now On Air")."""

from __future__ import annotations

import re
from functools import lru_cache

from memcli.core.attribute_words import inferred_slots, may_set_attribute
from memcli.core.phrasing import (  # noqa: F401 (re-exported: the slot vocabulary's one home)
    EVENT,
    FAV_TAIL,
    NOT_NAMES,
    TOKEN,
    UPDATE_MARKERS,
    expand,
    frame,
    has_dropped_subject,
    is_state,
    normalize_value,
    value_tokens,
    values_differ,
)

_NOW = r"(?:(?:now|just|recently|finally|currently|still|officially|also)\s+)?"
_NEW = r"(?:(?:new|current|updated|present)\s+)?"
NAME = (r"(?P<v>(?-i:[A-Z0-9][\w&'’.-]*(?:[ -][A-Z0-9][\w&'’.-]*|"
        r" (?:de|del|la|le|of|upon|sur|am) [A-Z][\w&'’.-]*)*))")
_HOME = r"(?:place|flat|apartment|house|home|condo|studio)"
_JOBS = (r"engineer|developer|teacher|nurse|doctor|designer|manager|student|artist|writer|"
         r"counselor|lawyer|scientist|chef|consultant|analyst|accountant|architect|programmer|"
         r"researcher|photographer|lead|director|intern|freelancer|editor|pharmacist|therapist|"
         r"baker|barista|pilot|mechanic|electrician|librarian|professor|lecturer|officer|"
         r"specialist|coordinator|administrator|assistant|owner|founder|cto|ceo|vp")
_CARS = re.compile(
    r"\b(car|cars|drive|driving|tesla|toyota|honda|civic|ford|bmw|audi|vw|volkswagen|renault|"
    r"peugeot|fiat|kia|hyundai|nissan|mazda|volvo|skoda|škoda|seat|citro[eë]n|mercedes|subaru|"
    r"zoe|prius|jeep|chevrolet|chevy|lexus|mini|porsche|polestar|rivian|dacia|opel|suzuki|"
    r"mitsubishi|jaguar|land rover|golf|corolla|yaris|clio|leaf|model [3sxy])\b", re.I)
_JOB_WORDS = re.compile(r"\b(job|work|team|company|role|position|engineer|developer|offer|"
                        r"employer|startup|firm|as an?)\b", re.I)
_DIETS = r"vegan|vegetarian|pescatarian|keto|carnivore|flexitarian|gluten-free|dairy-free|paleo"

def _p(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.I)


# (attribute, pattern with a ``v`` group, the value's kind: name | any | number, a guard or None)
ATTRIBUTES: list[tuple[str, re.Pattern, str, re.Pattern | None]] = [
    ("residence", _p(rf"\b(?:i|we)\s+{_NOW}(?:live|am living|'m living|are living|'re living|"
                     rf"reside|am based|'m based|are based|'re based|have been living|have lived|"
                     rf"have been based)\s+(?:in|at)\s+(?:the\s+)?"
                     rf"{NAME}"), "name", None),
    ("residence", _p(rf"\b(?:i|we)\s+(?:have\s+|'ve\s+)?{_NOW}(?:moved|relocated|am moving|"
                     rf"'m moving|are moving|'re moving)\s+(?:back\s+|over\s+|out\s+|house\s+)?"
                     rf"(?:from\s+[A-Z][\w'’-]*\s+)?(?:to|into)\s+(?:a\s+|an\s+|the\s+|our\s+|my\s+)?"
                     rf"(?:new\s+)?(?:{_HOME}\s+in\s+)?{NAME}"), "name", None),
    ("residence", _p(rf"\b(?:settled|settling)\s+(?:in|into|down in)\s+(?:(?:our|my|a|the)\s+"
                     rf"(?:new\s+)?{_HOME}\s+in\s+)?{NAME}"), "name", None),
    ("residence", _p(rf"\b(?:our|my)\s+new\s+{_HOME}\s+(?:is\s+)?in\s+{NAME}"), "name", None),
    ("residence", _p(rf"\b(?:i|we)\s+{_NOW}(?:bought|rented|found|got)\s+(?:a|an)\s+(?:new\s+)?"
                     rf"{_HOME}\s+in\s+{NAME}"), "name", None),
    ("residence", _p(rf"\bmy\s+{_NEW}(?:home\s+|postal\s+|mailing\s+)?address\s+is\s+(?:now\s+)?"
                     r"(?P<v>.+)"), "text", None),
    ("residence", _p(rf"\bmy\s+{_NEW}{_HOME}\s+is\s+(?:now\s+)?in\s+{NAME}"), "name", None),
    ("residence", _p(rf"\bhome\s+(?:for\s+(?:me|us)\s+)?is\s+(?:now\s+)?(?:an?\s+{_HOME}\s+in\s+|in\s+)?"
                     rf"{NAME}"), "name", None),
    ("employer", _p(rf"\b(?:i|we)\s+{_NOW}(?:work|am working|'m working|started working|began "
                    rf"working|have been working|'ve been working)\s+(?:at|for)\s+{NAME}"),
     "name", None),
    ("employer", _p(rf"\b{_NOW}(?:got|landed|accepted|started|took|began|signed)\s+(?:a|an|the|my)"
                    rf"\s+(?:new\s+)?(?:job|position|role|offer|contract|gig)\s+(?:as\s+(?:a|an)\s+"
                    rf"[\w -]+?\s+)?(?:at|with|from)\s+{NAME}"), "name", None),
    ("employer", _p(rf"\bi\s+{_NOW}(?:joined|switched to|moved over to)\s+{NAME}"), "name",
     _JOB_WORDS),
    ("employer", _p(rf"\bmy\s+{_NEW}(?:employer|company)\s+is\s+(?:now\s+)?{NAME}"), "name", None),
    ("job", _p(rf"\b(?:i am|i'm|i work as|i became|i've become|i have become|i now work as|"
               rf"i got promoted to|i was promoted to|i've been promoted to|promoted to)\s+{_NOW}"
               rf"(?:a\s+|an\s+)?(?P<v>(?:[a-z]+\s+){{0,2}}(?:{_JOBS}))\b"), "any", None),
    ("job", _p(rf"\b(?:work|working|job|hired|started)\b[\w ]*?\s+as\s+(?:a|an)\s+"
               rf"(?P<v>(?:[a-z]+\s+){{0,2}}(?:{_JOBS}))\b"), "any", None),
    ("job", _p(rf"\bmy\s+{_NEW}(?:job|role|position|title|job title)(?:\s+(?:at|in|on)\s+"
               rf"(?:the\s+)?\w+)?\s+is\s+(?:now\s+)?"
               rf"(?:a\s+|an\s+)?(?P<v>[\w -]+)"), "any", None),
    ("name", _p(r"\bmy name is\s+" + NAME + r"|\bcall me\s+" + NAME.replace("(?P<v>", "(?P<w>")),
     "name", None),
    ("age", _p(r"\bi(?:'m| am)\s+(?P<v>\d{1,3})(?: years old)?\b|\bi turned\s+(?P<w>\d{1,3})\b"),
     "number", None),
    ("relationship", _p(r"\b(?:i|we)\s+(?P<v>got married|got engaged|broke up|divorced|am dating|"
                        r"'m dating|am single|'m single)\b|\bmy\s+(?P<w>girlfriend|boyfriend|"
                        r"partner|wife|husband|fianc[ée]e?)\s+is\b"), "any", None),
    ("phone", _p(rf"\bmy\s+{_NEW}(?:phone|mobile|cell)?\s*(?:number|phone|mobile|cell)\s*"
                 r"(?:is|:)\s*(?:now\s+)?(?P<v>\+?[\d(][\d\s().-]{5,}\d)"), "any", None),
    ("email", _p(rf"\bmy\s+{_NEW}e-?mail(?:\s+address)?\s*(?:is|:)\s*(?:now\s+)?"
                 r"(?P<v>[\w.+-]+@[\w.-]+\w)"), "any", None),
    ("car", _p(rf"\b(?:(?:i|we)\s+)?{_NOW}(?:drive|bought|got|picked up|leased|am driving|'m driving|"
               rf"ordered|traded [\w ]+? for|replaced it with|switched to)\s+(?:a|an|the|my|our)\s+"
               rf"(?:(?:new|used|second-hand|secondhand|brand-new|electric|\d{{4}})\s+)*{NAME}"),
     "name", _CARS),
    ("car", _p(rf"\bmy\s+{_NEW}car\s+is\s+(?:now\s+)?(?:a\s+|an\s+)?{NAME}"), "name", None),
    ("language", _p(rf"\b(?:i|we)(?:'m| am|'re| are| have been|'ve been)\s+{_NOW}(?:learning|"
                    rf"studying|taking classes in|practising|practicing)\s+{NAME}"), "name", None),
    ("diet", _p(rf"\bi(?:'m| am|'ve| have)?\s+{_NOW}(?:a\s+|gone\s+|become\s+|turned\s+|went\s+)?"
                rf"(?P<v>{_DIETS})\b"), "any", None),
    ("diet", _p(rf"\bi\s+{_NOW}(?:eat|follow|keep|started)\s+(?:a\s+)?(?P<v>{_DIETS})\b"),
     "any", None),
]
_FAV = [
    _p(r"\bmy\s+(?:new\s+|current\s+|all-time\s+)?favou?rite\s+(?P<a>[a-z]+(?:\s+[a-z]+)?)\s+"
       r"(?:is|are|has become|have become|became|was|these days is)\s+(?:now\s+|still\s+|probably\s+)?"
       r"(?P<v>.+)"),
    re.compile(rf"{NAME}\s+(?i:is|are)\s+(?i:now\s+)?(?i:my)\s+(?i:new\s+)?(?i:favou?rite)\s+"
               r"(?P<a>[a-z]+(?:\s+[a-z]+)?)"),
]

def _value(m: re.Match, kind: str) -> str | None:
    raw = next((g for g in (m.groupdict().get("v"), m.groupdict().get("w")) if g), None)
    if raw is None:
        return None
    raw = raw.strip()
    if kind == "name":
        if not (raw[:1].isupper() or raw[:1].isdigit()):
            return None
        if raw.split()[0].lower().strip(".,!") in NOT_NAMES:
            return None
    return normalize_value(raw, whole=kind == "text")



# A word every pattern above needs: most sentences have none and skip the patterns.
_TRIGGER = re.compile(
    r"\b(live|living|reside|based|mov\w*|relocat\w*|settl\w*|home|address|place|flat|"
    r"apartment|house|condo|studio|work\w*|job|position|role|offer|contract|gig|joined|"
    r"switched|employer|company|promoted|became|become|am|name|call|turned|married|engaged|"
    r"broke|divorced|dating|single|girlfriend|boyfriend|partner|wife|husband|fianc\w*|phone|"
    r"mobile|cell|number|e-?mail|drive|driving|bought|got|picked|leased|ordered|traded|"
    r"replaced|car|learning|studying|classes|practi[cs]ing|eat|follow|keep|started|gone|went|"
    r"vegan|vegetarian|pescatarian|keto|favou?rite)\b", re.I)


@lru_cache(maxsize=16384)
def _slots(sentence: str) -> tuple[tuple[str, str | None], ...]:
    text = expand(sentence)
    return tuple(_find_slots(sentence)) if _TRIGGER.search(text) or \
        may_set_attribute(text) else ()


def slots_of(sentence: str) -> list[tuple[str, str | None]]:
    """(attribute, value or None) for every attribute a statement sets, in order of appearance
    ('I live in Porto and work at Acme' → residence = porto, employer = acme)."""
    return list(_slots(sentence))


def _find_slots(sentence: str) -> list[tuple[str, str | None]]:
    out: dict[str, str | None] = {}
    sentence = expand(sentence)
    for pat in _FAV:
        m = pat.search(sentence)
        if m:
            what = FAV_TAIL.sub("", m.group("a").lower())
            out.setdefault("favorite:" + what, normalize_value(m.group("v")))
            break
    for name, pat, kind, guard in ATTRIBUTES:
        if name in out and out[name] is not None:
            continue
        for m in pat.finditer(sentence):
            value = _value(m, kind)
            if value is None and kind == "name":
                continue  # "moved our sessions to Thursdays": not a place
            if guard is not None and not guard.search(sentence):
                continue
            out[name] = value
            break
    if out:
        return list(out.items())
    return inferred_slots(sentence)  # the generic fallback (core/attribute_words.py)


def attributes_of(sentence: str) -> list[str]:
    """Every attribute a statement sets ('I live in X and work at Y' → residence, employer)."""
    return [a for a, _ in slots_of(sentence)]
