"""Text tools, pure and stdlib only: words, stop words, stems, content words, sentences, one-line
truncation, tags, keywords and a grounding check.

This is the one vocabulary of memcli: search, ask, digest and reflect all read words through it.
Where a purpose needs different behaviour, the variant is named here with its reason. The digest's
statement heuristics (is this a durable fact? in the third person?) are in memcli.core.statements.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache

# ---- words ---------------------------------------------------------------------------------------
# A word as a statement is read: contractions, hyphenated words and decimals stay whole.
WORD = re.compile(r"[A-Za-z][A-Za-z'’\-]*[A-Za-z]|[A-Za-z]|\d+(?:[.,]\d+)?")
# A token as FTS5's unicode61 tokenizer cuts it ("what's" → what, s): what a keyword query matches.
FTS_WORD = re.compile(r"\w+")
_ABBREV = "".join(rf"(?<!\b{a}\.)" for a in ("Dr", "Mr", "Ms", "Mrs", "Mx", "St", "Prof", "Jr",
                                               "Sr", "Mt", "vs", "No", "approx", "etc"))
# a sentence ends at . ! ? … (not after "Dr." or "Mrs.": "My dentist is Dr. Alvarez")
_SENT = re.compile(rf"(?<=[.!?…]){_ABBREV}[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n{{1,}}")

# Words that carry no topic in any text: articles, pronouns, auxiliaries, prepositions. A keyword
# query drops only these (every other word is left for BM25 to weigh).
FUNCTION_WORDS = frozenset("""
a an and are as at be been but by can could did do does for from had has have how i i'm if in
is it its me my of on or our she he so that the their them then there these they this to was
we were what when where which who whom why will with would you your yours about into than s t
""".split())
# For statements, also negations, chat filler, courtesy, vague verbs and time words: what is left
# is what a note is about.
STOP = FUNCTION_WORDS | frozenset("""
above after again against all also am any aren't because before being below between both can't
cannot couldn't didn't doesn't doing don't down during each even ever every few further get gets got
hadn't hasn't haven't having he'd he'll he's her here here's hers herself him himself his how's i'd
i'll i've isn't it's itself just let's like more most much must mustn't myself no nor not now off oh
ok okay once only other ought ours ourselves out over own really same shan't she'd she'll she's
should shouldn't some such sure that's theirs themselves there's they'd they'll they're they've
thing things those through too under until up us very wasn't we'd we'll we're we've weren't what's
when's where's while who's why's won't wouldn't yeah yes yet you'd you'll you're you've yourself
yourselves lot lots wow hey hi hello thanks thank great cool awesome amazing glad good nice love
loved well one know think feel felt make made going go went gone way something anything everything
actually definitely totally pretty kind bit maybe stuff wanna gonna today yesterday tomorrow
time last next ago week weeks month months year years day days night weekend morning evening big
news
""".split())
# For questions, also the words that frame a question ("tell me", "do you remember") rather than
# name its topic.
QUESTION_STOP = FUNCTION_WORDS | frozenset("""
tell know remember recall please say said saying mention mentioned think thought anything something
ever thing things time times happen happened get got give gave let like just also much many any some
all one ones done make made want wanted going go went
""".split())

# Suffixes ``stem`` cuts, the first that fits (the stem keeps at least three letters).
SUFFIXES = ("'s", "ing", "edly", "ed", "ies", "es", "s", "ly")
# Looser, for matching a question's words in a hit: a final -e goes too, so "live" meets "lived".
LOOSE_SUFFIXES = ("ies", "es", "s", "ing", "ed", "e")


def one_line(text: str | None, width: int) -> str:
    """``text`` on one line (runs of whitespace collapsed), cut to ``width`` characters with "…"."""
    one = " ".join((text or "").split())
    return one if len(one) <= width else one[: width - 1].rstrip() + "…"


def normalize_tag(tag: str) -> str:
    """How tags are stored and matched: no leading ``#``, no surrounding spaces, lower case."""
    return tag.strip().lstrip("#").lower()


def normalize_tags(tags) -> list[str]:
    """Distinct normalised tags, sorted; empty ones ("", "#") dropped."""
    return sorted({normalize_tag(t) for t in tags if t and t.strip("# ")})


def words(text: str, token: re.Pattern = WORD) -> list[str]:
    """The words of ``text`` (``token``: WORD or FTS_WORD), lower case, ’ read as '."""
    return [w.lower().replace("’", "'") for w in token.findall(text)]


@lru_cache(maxsize=65536)
def stem(w: str, suffixes: tuple[str, ...] = SUFFIXES) -> str:
    """A crude stemmer, enough to compare word forms (moved/moving/moves → mov)."""
    w = w.lower().replace("’", "'")
    for suf in suffixes:
        if len(w) > len(suf) + 2 and w.endswith(suf):
            return w[: -len(suf)]
    return w


def content_words(text: str, *, token: re.Pattern = WORD, stop: frozenset = STOP) -> list[str]:
    """The words of ``text`` that say what it is about, in order: no stop words, no single
    letters."""
    return [w for w in words(text, token) if w not in stop and len(w) > 1]


def query_words(text: str) -> list[str]:
    """The topic words of a question, once each, cut as the keyword search cuts them (FTS_WORD),
    question words dropped."""
    return list(dict.fromkeys(content_words(text, token=FTS_WORD, stop=QUESTION_STOP)))


def sentences(text: str) -> list[str]:
    out = []
    for part in _SENT.split(text or ""):
        part = " ".join(part.split()).strip(" -*•>#")
        if part:
            out.append(part)
    return out


# ---- keywords ------------------------------------------------------------------------------------
def keywords(text: str, *, corpus_df: Counter | None = None, n_docs: int = 1, k: int = 6
             ) -> list[str]:
    """RAKE-style phrase candidates (runs of content words) scored by word degree/frequency,
    weighted by IDF over ``corpus_df`` when given; proper nouns and numbers get a boost."""
    tokens = WORD.findall(text)
    phrases: list[list[str]] = []
    cur: list[str] = []
    for tok in tokens:
        low = tok.lower().replace("’", "'")
        if low in STOP or len(low) < 3 and not low.isdigit():
            if cur:
                phrases.append(cur)
            cur = []
        else:
            cur.append(tok)
    if cur:
        phrases.append(cur)
    freq: Counter = Counter()
    degree: Counter = Counter()
    for ph in phrases:
        ph = ph[:3]
        for w in ph:
            freq[w.lower()] += 1
            degree[w.lower()] += len(ph)

    memo: dict[str, float] = {}

    def wscore(w: str) -> float:
        s = memo.get(w)
        if s is not None:
            return s
        low = w.lower()
        s = (degree[low] + freq[low]) / max(1, freq[low])
        if corpus_df is not None and n_docs > 1:
            s *= math.log((1 + n_docs) / (1 + corpus_df.get(stem(low), 0))) + 1.0
        if w[:1].isupper() or w.isdigit():
            s *= 1.5
        memo[w] = s
        return s

    scored: dict[str, float] = {}
    for ph in phrases:
        ph = ph[:3]
        key = " ".join(w.lower() for w in ph)
        if len(key) < 3:
            continue
        scored[key] = max(scored.get(key, 0.0), sum(wscore(w) for w in ph) / (len(ph) ** 0.5))
    ranked = sorted(scored.items(), key=lambda kv: (-kv[1], kv[0]))
    out: list[str] = []
    seen: set[str] = set()
    for phrase, _ in ranked:
        stems = {stem(w) for w in phrase.split()}
        if stems & seen:
            continue
        seen |= stems
        out.append(phrase)
        if len(out) >= k:
            break
    return out


def tags_from(keywords_: list[str], k: int = 3) -> list[str]:
    out = []
    for kw in keywords_:
        tag = re.sub(r"[^a-z0-9]+", "-", kw.lower()).strip("-")
        if tag and not tag.isdigit() and tag not in out and len(tag) <= 30:
            out.append(tag)
        if len(out) >= k:
            break
    return out


# ---- grounding -----------------------------------------------------------------------------------
def grounded(text: str, source: str, speakers: tuple[str, ...] = (), min_share: float = 0.6
             ) -> bool:
    """Is ``text`` supported by ``source``: most of its content words (by stem) occur there?"""
    cw = [stem(w) for w in content_words(text)]
    if not cw:
        return False
    src = {stem(w) for w in words(source)}
    src |= {stem(w) for s in speakers for w in words(s)}
    hit = sum(1 for w in cw if w in src)
    return hit / len(cw) >= min_share


def doc_freq(texts: list[str]) -> Counter:
    df: Counter = Counter()
    for t in texts:
        df.update(_stem_set(t))
    return df


@lru_cache(maxsize=4096)
def _stem_set(text: str) -> frozenset[str]:
    """The stems of a text's content words (cached: the digest counts a message's words for
    its segment and again for its conversation, its summary and its notes)."""
    return frozenset(stem(w) for w in content_words(text))
