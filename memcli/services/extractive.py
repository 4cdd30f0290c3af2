"""The extractive answer: the sentence(s) of the best sources that answer the question, quoted,
cited and dated. What `memcli ask --no-llm` prints, what the bundled model's answer is by default
(BENCHMARKS.md, "Answers"), and what replaces a generated answer that fails its checks.

When the chosen sources include a fact that a later one superseded, the current one comes first
and the older one is labelled as history, so the answer states the latest value and cites both."""

from __future__ import annotations

from memcli.core.models import Hit, speaker_name
from memcli.core.text import LOOSE_SUFFIXES, query_words, sentences, stem
from memcli.services.answer_context import is_relevant, quoted

EVIDENCE_ITEMS = 3  # sources quoted
QUOTE_CHARS = 300  # per quote
SHORT_SENTENCE = 60  # a best sentence shorter than this brings the next one along


def evidence_numbers(hits: list[Hit], qwords: list[str], threshold: float,
                     ranked: list[int] | None = None,
                     rests_on: dict[int, list[int]] | None = None) -> list[int]:
    """The best sources to quote: the relevant ones in rank order (``ranked``: source numbers
    best first, when the context is not in rank order), else the best one. A derived note whose
    source is in the context too is not quoted beside it (``rests_on``: derived id → the ids it
    rests on): the person's own words are the evidence, the note only restates them, and they
    take the note's place in the order when it ranked higher. A source the ranking lifted as the
    value the question's time asks for (``Hit.lifted``, or the message a lifted note rests on) is
    quoted even when it shares no word with the question: "Settled into our new place in Lyon"
    answers "Where do I live?" better than the older "I live in Leeds" that does."""
    order = ranked or list(range(1, len(hits) + 1))
    number = {h.id: n for n, h in enumerate(hits, 1)}
    place = {n: i for i, n in enumerate(order)}
    restated, lifted = set(), set()
    for n in order:
        h = hits[n - 1]
        own = [number[s] for s in (rests_on or {}).get(h.id, ()) if s in number]
        if own:
            restated.add(n)
        for m in own:
            place[m] = min(place[m], place[n])
            if h.lifted:
                lifted.add(m)
    nums = [n for n in sorted(order, key=place.__getitem__) if n not in restated and (
        hits[n - 1].lifted or n in lifted or is_relevant(hits[n - 1], qwords, threshold))]
    return nums[:EVIDENCE_ITEMS] or (order[:1] if hits else [])


def best_sentences(text: str, qwords: list[str]) -> str:
    """The sentence of ``text`` holding most of the question's words (the first on a tie), with
    the next one when it is short; the whole text when it is one sentence."""
    sents = sentences(text)
    if len(sents) <= 1:
        return " ".join(text.split())
    want = {stem(w, LOOSE_SUFFIXES) for w in qwords}

    def score(s: str) -> int:
        return len(want & {stem(w, LOOSE_SUFFIXES) for w in query_words(s)})

    i = max(range(len(sents)), key=lambda j: (score(sents[j]), -j))
    out = sents[i]
    if len(out) < SHORT_SENTENCE and i + 1 < len(sents):
        out += " " + sents[i + 1]
    return out


def quote_line(n: int, hit: Hit, qwords: list[str], *, earlier: bool = False) -> str:
    date = (hit.created_at or "")[:10]
    who = speaker_name(hit.role) or hit.title or ""
    head = ", ".join(x for x in (date, quoted(who, 40) if who else "") if x)
    label = "earlier, " if earlier else ""
    return f"{label}{head}: \"{quoted(best_sentences(hit.text, qwords), QUOTE_CHARS)}\" [{n}]"


def extractive_answer(hits: list[Hit], numbers: list[int], qwords: list[str],
                      stale: frozenset[int] | set[int] = frozenset()) -> tuple[str, list[int]]:
    """(the quoted lines, the source numbers in the order quoted). ``stale``: ids of verbatim
    items that stated a value a newer fact superseded; they are quoted after the current ones,
    marked "earlier", like superseded facts."""
    def earlier(n: int) -> bool:
        return hits[n - 1].superseded or hits[n - 1].id in stale

    if any(earlier(n) for n in numbers):
        numbers = sorted(numbers, key=earlier)  # stable: current first
    lines = [quote_line(n, hits[n - 1], qwords, earlier=earlier(n)) for n in numbers]
    return "\n".join(lines), list(numbers)


def quotes_for(question: str, numbered: list[tuple[int, Hit]]) -> str:
    """Rebuild the quoted lines of a stored extractive answer from its cited items (a resumed
    chat shows what the person saw)."""
    qwords = query_words(question)
    return "\n".join(quote_line(n, h, qwords, earlier=h.superseded) for n, h in numbered)
