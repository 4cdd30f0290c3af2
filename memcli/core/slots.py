"""Which attribute of its speaker a statement sets, and to which value ("We finally moved to
Grenoble" → residence = grenoble), for supersession: a later value of the same attribute closes the
earlier fact. Pure stdlib; the rules the digest falls back on when no capable model decides.

Each pattern names its value slot ``v``; a slot of kind ``name`` must be a proper noun (capitalised
in the original text, not a weekday or month), so "moved our climbing sessions to Thursdays" sets no
residence. ``frame`` and ``value_tokens`` compare statements with the value masked out: the
generic rule for attributes no pattern knows ("My gym is Basic-Fit" → "My gym is now On Air")."""

from __future__ import annotations

import re
from functools import lru_cache

from memcli.core.text import content_words, stem

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
NOT_NAMES = frozenset(
    "monday mondays tuesday tuesdays wednesday wednesdays thursday thursdays friday fridays "
    "saturday saturdays sunday sundays january february march april may june july august "
    "september october november december today tomorrow tonight weekends weekend a an the my "
    "our it this that there here".split())


def _p(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.I)


# (attribute, pattern with a ``v`` group, the value's kind: name | any | number, a guard or None)
ATTRIBUTES: list[tuple[str, re.Pattern, str, re.Pattern | None]] = [
    ("residence", _p(rf"\b(?:i|we)\s+{_NOW}(?:live|am living|'m living|are living|'re living|"
                     rf"reside|am based|'m based|are based|'re based)\s+(?:in|at)\s+(?:the\s+)?"
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
    ("job", _p(rf"\bmy\s+{_NEW}(?:job|role|position|title|job title)\s+is\s+(?:now\s+)?"
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
_STOP_VALUE = re.compile(r"\s*(?:\b(?:now|these days|anymore|at the moment|again|lately|"
                         r"nowadays|for now|since|last|this|from|as of)\b.*)?$", re.I)


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
_FAV_TAIL = re.compile(r"\s+(?:now|these days|currently|right now|at the moment|lately)$", re.I)


def expand(sentence: str) -> str:
    """"I'm" → "I am", "we've" → "we have" (curly apostrophes too): one form for the patterns."""
    out = sentence.replace("’", "'")
    for pat, rep in _CONTRACTIONS:
        out = pat.sub(rep, out)
    return out


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
    return tuple(_find_slots(sentence)) if _TRIGGER.search(expand(sentence)) else ()


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
            what = _FAV_TAIL.sub("", m.group("a").lower())
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
    return list(out.items())


def attributes_of(sentence: str) -> list[str]:
    """Every attribute a statement sets ('I live in X and work at Y' → residence, employer)."""
    return [a for a, _ in slots_of(sentence)]


# ---- the value masked out: statements that say the same thing with a different value -----------
UPDATE_MARKERS = re.compile(
    r"\b(now|these days|nowadays|currently|anymore|any more|no longer|switched|changed|"
    r"instead|new|recently|lately|finally|from now on|these days|upgraded|replaced|moved)\b", re.I)
_MASK_WORDS = frozenset("now days nowadays currently anymore longer new recently lately finally "
                        "still actually really also just these instead".split())
_TOKEN = re.compile(r"[\w][\w&'’.+@-]*")


def value_tokens(text: str, skip: tuple[str, ...] = ()) -> set[str]:
    """What carries a statement's value: numbers, e-mail addresses, and capitalised words that do
    not start a sentence ('flat 3B' → {'3b'}; 'Anna lives in Porto' with skip=('Anna',) →
    {'porto'})."""
    out = set()
    skipped = {s.lower() for name in skip for s in name.split()}
    start = True
    for tok in _TOKEN.findall(text):
        clean = tok.strip(".'’-")
        low = clean.lower()
        is_value = any(ch.isdigit() for ch in clean) or "@" in clean or (
            clean[:1].isupper() and not start and low not in NOT_NAMES and low != "i")
        if is_value and low not in skipped and not low.endswith(("'s", "’s")):
            out.add(low)
        elif is_value and low.endswith(("'s", "’s")) and low[:-2] not in skipped:
            out.add(low[:-2])
        start = tok.endswith((".", "!", "?"))
    return out


def values_differ(a: str, b: str, skip: tuple[str, ...] = ()) -> bool:
    """Does one statement hold a value (see value_tokens) the other does not mention at all?
    ('… flat 3B' / '… flat 3C': yes; 'my epipen' / 'my EpiPen': no)."""
    wa = {t.strip(".'’-").lower() for t in _TOKEN.findall(a)}
    wb = {t.strip(".'’-").lower() for t in _TOKEN.findall(b)}
    wa |= {w[:-2] for w in wa if w.endswith(("'s", "’s"))}
    wb |= {w[:-2] for w in wb if w.endswith(("'s", "’s"))}
    return bool((value_tokens(a, skip) - wb) or (value_tokens(b, skip) - wa))


def frame(text: str, skip: tuple[str, ...] = ()) -> set[str]:
    """The statement's content words with its value and update markers masked out, stemmed."""
    values = value_tokens(text, skip) | {s.lower() for name in skip for s in name.split()}
    return {stem(w) for w in content_words(text)
            if w not in values and w not in _MASK_WORDS and not any(ch.isdigit() for ch in w)
            and len(w) > 1}


_STATE = re.compile(
    r"\b(is|are|am|has|have|lives|works|drives|owns|uses|prefers|loves|likes|plays|eats|"
    r"goes|takes|runs|trains|studies|keeps|rents|attends|wears|speaks|follows|supports|reads|"
    r"listens|watches|weighs|earns|costs|sleeps|wakes|commutes|favou?rite)\b", re.I)
EVENT = re.compile(r"\b(went|visited|saw|met|did|had|was|were|took|made|got|bought|attended|"
                    r"ran|won|lost|gave|left|came|told|said|found|\w{3,}ed)\b", re.I)


def is_state(text: str) -> bool:
    """A statement of how things are (or an explicit change), not an event that happened."""
    return bool(UPDATE_MARKERS.search(text) or (_STATE.search(text) and not EVENT.search(text)))
