"""Time expressions inside questions ("last month", "in May 2023", "yesterday") → a date window.

``time_window(question, now)`` returns the first expression it recognises as a half-open UTC
window ``[since, until)`` plus the phrase matched (so the caller can drop it from the retrieval
query), or None. Calendar units: "last week" is the previous Monday-to-Monday week, "last month"
the previous calendar month, "in May" the most recent May that has started. Pure stdlib.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

MONTHS = {m: i + 1 for i, m in enumerate(
    "january february march april may june july august september october november december".split())}
MONTHS.update({m[:3]: i for m, i in list(MONTHS.items())})
MONTHS["sept"] = 9
WEEKDAYS = {d: i for i, d in enumerate(
    "monday tuesday wednesday thursday friday saturday sunday".split())}
NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
           "seven": 7, "eight": 8, "nine": 9, "ten": 10, "couple of": 2, "few": 3}

_MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))
_DAY_RE = "|".join(WEEKDAYS)
_NUM_RE = r"\d+|" + "|".join(sorted(NUMBERS, key=len, reverse=True))
_UNIT_RE = r"days?|weeks?|months?|years?"


@dataclass
class TimeWindow:
    since: datetime
    until: datetime
    phrase: str

    def iso(self) -> tuple[str, str]:
        from memcli.core.timeutil import iso

        return iso(self.since), iso(self.until)


def _day(dt: datetime) -> datetime:
    return dt.replace(hour=0, minute=0, second=0, microsecond=0)


def _month_start(year: int, month: int) -> datetime:
    while month < 1:
        month += 12
        year -= 1
    while month > 12:
        month -= 12
        year += 1
    return datetime(year, month, 1, tzinfo=timezone.utc)


def _num(text: str) -> int:
    text = text.strip().lower()
    return int(text) if text.isdigit() else NUMBERS.get(text, 1)


def _shift(dt: datetime, unit: str, n: int) -> datetime:
    unit = unit.rstrip("s")
    if unit == "day":
        return dt - timedelta(days=n)
    if unit == "week":
        return dt - timedelta(weeks=n)
    if unit == "month":
        start = _month_start(dt.year, dt.month - n)
        last = (_month_start(start.year, start.month + 1) - timedelta(days=1)).day
        return dt.replace(year=start.year, month=start.month, day=min(dt.day, last))
    return dt.replace(year=dt.year - n, day=min(dt.day, 28) if dt.month == 2 else dt.day)


def _unit_window(start: datetime, unit: str) -> tuple[datetime, datetime]:
    """The calendar unit (day/week/month/year) containing ``start``."""
    unit = unit.rstrip("s")
    if unit == "day":
        s = _day(start)
        return s, s + timedelta(days=1)
    if unit == "week":
        s = _day(start) - timedelta(days=start.weekday())
        return s, s + timedelta(weeks=1)
    if unit == "month":
        s = _month_start(start.year, start.month)
        return s, _month_start(s.year, s.month + 1)
    s = datetime(start.year, 1, 1, tzinfo=timezone.utc)
    return s, datetime(start.year + 1, 1, 1, tzinfo=timezone.utc)


def _valid_day(year: int, month: int, day: int) -> datetime | None:
    try:
        return datetime(year, month, day, tzinfo=timezone.utc)
    except ValueError:
        return None


def time_window(question: str, now: datetime) -> TimeWindow | None:
    """The date window a question refers to, relative to ``now``; None when it names none."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    now = now.astimezone(timezone.utc)
    q = question.lower()
    for finder in _FINDERS:
        found = finder(q, now)
        if found:
            since, until, phrase = found
            return TimeWindow(since, until, phrase)
    return None


def strip_phrase(question: str, window: TimeWindow | None) -> str:
    """The question without its time phrase (what the keyword search should see)."""
    if window is None:
        return question
    out = re.sub(re.escape(window.phrase), " ", question, count=1, flags=re.I)
    out = re.sub(r"\s+", " ", out)
    out = re.sub(r" ([?.!,;:])", r"\1", out).strip(" ,")
    return out if re.search(r"\w", out) else question


# ---- the recognisers, most specific first ---------------------------------------------------------
def _iso_date(q, now):
    m = re.search(r"\b(?:on |in )?(\d{4})-(\d{2})(?:-(\d{2}))?\b", q)
    if not m:
        return None
    y, mo = int(m.group(1)), int(m.group(2))
    if not 1 <= mo <= 12:
        return None
    if m.group(3):
        d = _valid_day(y, mo, int(m.group(3)))
        return (d, d + timedelta(days=1), m.group(0)) if d else None
    s = _month_start(y, mo)
    return s, _month_start(y, mo + 1), m.group(0)


def _day_month_year(q, now):
    pats = [
        rf"\b(?:on )?(?:the )?(\d{{1,2}})(?:st|nd|rd|th)?(?: of)? ({_MONTH_RE})\.?,?(?: (\d{{4}}))?\b",
        rf"\b(?:on )?({_MONTH_RE})\.? (\d{{1,2}})(?:st|nd|rd|th)?(?:,? (\d{{4}}))?\b",
    ]
    for i, pat in enumerate(pats):
        m = re.search(pat, q)
        if not m:
            continue
        if i == 0:
            day, month, year = m.group(1), m.group(2), m.group(3)
        else:
            month, day, year = m.group(1), m.group(2), m.group(3)
        mo, d = MONTHS[month], int(day)
        if year:
            start = _valid_day(int(year), mo, d)
        else:  # the most recent such day
            start = _valid_day(now.year, mo, d)
            if start and start > now:
                start = _valid_day(now.year - 1, mo, d)
        if start:
            return start, start + timedelta(days=1), m.group(0)
    return None


def _month_year(q, now):
    m = re.search(rf"\b(?:in |during |of )?({_MONTH_RE})\.?,? (\d{{4}})\b", q)
    if m:
        mo, y = MONTHS[m.group(1)], int(m.group(2))
        return _month_start(y, mo), _month_start(y, mo + 1), m.group(0)
    # a bare month needs a preposition ("in may", "during march"): "may" is also a verb
    m = re.search(rf"\b(?:in|during|since|from) ({_MONTH_RE})\b", q)
    if m:
        mo = MONTHS[m.group(1)]
        y = now.year if mo <= now.month else now.year - 1
        start = _month_start(y, mo)
        if m.group(0).startswith(("since", "from")):
            return start, now + timedelta(seconds=1), m.group(0)
        return start, _month_start(y, mo + 1), m.group(0)
    return None


def _year(q, now):
    m = re.search(r"\b(in|during|since|from) ((?:19|20)\d{2})\b", q)
    if not m:
        return None
    y = int(m.group(2))
    start = datetime(y, 1, 1, tzinfo=timezone.utc)
    if m.group(1) in ("since", "from"):
        return start, now + timedelta(seconds=1), m.group(0)
    return start, datetime(y + 1, 1, 1, tzinfo=timezone.utc), m.group(0)


# The question's own day ("tonight", "today") is a window only for a question about what already
# happened ("what did I eat today?"); "I've got some free time tonight, any recommendations?"
# asks about now, and narrowing it to the memories of today hid everything it could use.
_SAME_DAY = ("today", "tonight", "this morning", "this afternoon", "this evening")
_PAST_CUE = re.compile(
    r"\b(?:did|didn't|was|wasn't|were|weren't|had|hadn't|have (?:i|we) (?:been|had|done)|"
    r"went|came|ate|drank|saw|met|bought|made|said|told|wrote|spent|paid|took|gave|found|"
    r"heard|read|ran|left|sent|sold|lost|won|thought|felt|earlier|so far|from|since|"
    r"\w{2,}(?<!e)ed)\b")


def _relative_day(q, now):
    m = re.search(r"\b(the day before yesterday|yesterday|today|tonight|this morning|"
                  r"this afternoon|this evening)\b", q)
    if not m or (m.group(1) in _SAME_DAY and not _PAST_CUE.search(q)):
        return None
    back = {"the day before yesterday": 2, "yesterday": 1}.get(m.group(1), 0)
    s = _day(now) - timedelta(days=back)
    return s, s + timedelta(days=1), m.group(0)


def _last_this(q, now):
    m = re.search(r"\b(last|previous|past|this|current) (week|month|year)\b", q)
    if not m:
        return None
    which, unit = m.group(1), m.group(2)
    if which in ("this", "current"):
        s, _ = _unit_window(now, unit)
        return s, now + timedelta(seconds=1), m.group(0)
    s, e = _unit_window(_shift(now, unit, 1), unit)
    return s, e, m.group(0)


def _past_n(q, now):
    m = re.search(rf"\b(?:in |over |during )?(?:the )?(?:last|past|previous) ({_NUM_RE}) ({_UNIT_RE})\b", q)
    if not m:
        return None
    n = _num(m.group(1))
    return _day(_shift(now, m.group(2), n)), now + timedelta(seconds=1), m.group(0)


def _ago(q, now):
    m = re.search(rf"\b({_NUM_RE}) ({_UNIT_RE}) ago\b", q)
    if not m:
        return None
    n = _num(m.group(1))
    s, e = _unit_window(_shift(now, m.group(2), n), m.group(2))
    return s, e, m.group(0)


def _weekday(q, now):
    m = re.search(rf"\b(?:last |on |this past )({_DAY_RE})\b", q)
    if not m:
        return None
    back = (now.weekday() - WEEKDAYS[m.group(1)]) % 7 or 7
    s = _day(now) - timedelta(days=back)
    return s, s + timedelta(days=1), m.group(0)


_FINDERS = [_iso_date, _day_month_year, _month_year, _year, _relative_day, _past_n, _last_this,
            _ago, _weekday]


# ---- present or past: which value of a changed fact a question wants --------------------------------
_PAST = re.compile(
    r"\b(before|used to|use to|previous|previously|former|formerly|first|originally|initially|"
    r"earlier|prior|(?:my|the|our) old|back when|back then|in the past|no longer|anymore|"
    r"any more|ex)\b", re.I)


def asks_about_past(question: str) -> bool:
    """"Where did I live before I moved?", "my previous job", "what car did I first drive", "the
    band I used to like": the question wants an earlier value of something that changed. Anything
    else ("now", "these days", "currently", or no time words) asks about the present. "Old" beside
    a present word names a thing, not a time: "where do I currently keep my old sneakers?"."""
    found = [m.group(1).lower() for m in _PAST.finditer(question or "")]
    if found and all(w.endswith(" old") for w in found) and _PRESENT.search(question):
        return False
    return bool(found)


_EARLIEST = re.compile(r"\b(first|originally|original|initially|at the start|earliest|"
                       r"in the beginning|to begin with)\b", re.I)


def asks_for_earliest(question: str) -> bool:
    """"What car did I drive first?", "where did I originally live": the first value of a fact
    that changed, not the one just before the current."""
    return bool(_EARLIEST.search(question or ""))


_PRESENT = re.compile(
    r"\b(now|currently|current|these days|nowadays|at the moment|right now|still|today|latest|"
    r"most recent|any longer)\b", re.I)


def names_a_time(question: str) -> bool:
    """The question says which value of a changed fact it wants: an earlier one
    (``asks_about_past``) or the present one in words ("now", "currently", "these days")."""
    return asks_about_past(question) or bool(_PRESENT.search(question or ""))


# the words of _PAST that place a value before now and that a statement of that value never says
# (it was told in the present of its day); not "first", "originally", "initially", "used to":
# a statement told looking back says them too ("my first car", "I used to listen to Prince")
_WHEN_ONLY = re.compile(r"\b(?:before|previous|previously|former|formerly|earlier|prior|"
                        r"back then|in the past|no longer|anymore|any more)\b", re.I)


def without_time_cues(question: str) -> str:
    """``question`` without the words that say it wants a value from before now ("before",
    "previously", "former", "no longer": part of asks_about_past), for the keyword search: those
    words steer validity, and the statement of an older value never says them (it was told in the
    present of its day: "I work at Initech"), so as keyword terms they only match lines that
    happen to say "before" ("Watered the tomatoes before the heatwave" for "Which firm was I at
    before?"). The present's words stay ("I'm at 1,300 followers now", "I'm currently reading
    …"), and so do "first", "used to" (see _WHEN_ONLY). ``question`` itself when no other content
    word is left."""
    from memcli.core.text import FTS_WORD, FUNCTION_WORDS, words

    q = question or ""
    rest = _WHEN_ONLY.sub(" ", q)
    if rest == q or not any(w not in FUNCTION_WORDS for w in words(rest, FTS_WORD)):
        return q
    return " ".join(rest.split())
