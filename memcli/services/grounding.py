"""Checks on a generated answer before the person sees it.

Small models (``strict``): each sentence is shown only when it cites at least one source, is not
an echo of the prompt ("Today is …", "[1] (2026-…", "Sources:") and is grounded: most of its
content words occur in the sources it cites (``memcli.core.text.grounded``), and it says
something the question did not (a sentence made of the question's own words plus a date is not an
answer). Capable models: sentences are checked for echoes only; "I don't know" is allowed.

``SentenceGate`` does this as the answer streams: text is held until a sentence is complete
(a citation right after its full stop still belongs to it; text before the first citation
belongs to the claim that cites), then released or dropped."""

from __future__ import annotations

import re

from memcli.core.models import Hit, speaker_name
from memcli.core.text import content_words, grounded, stem
from memcli.services.citations import CITE, strip_markers

ECHO = re.compile(r"(?i)\btoday is\b|\[\d+\]\s*\(\d{4}-|\bsources?\s*:|\bquestion\s*:|"
                  r"^\s*\(\d{4}-\d\d-\d\d\b")
DONT_KNOW = re.compile(r"(?i)\bi (?:do not|don't) know\b|\b(?:sources|notes|memory) (?:do not|don't)"
                       r" (?:say|mention)")
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[^\s\[])|\n+")
NOVEL_SHARE = 0.5  # of the sentence's words not in the question, this share must be in its sources


def cited_numbers(sentence: str) -> list[int]:
    out: list[int] = []
    for m in CITE.finditer(sentence):
        for x in re.split(r"\s*[,;]\s*", m.group(1)):
            if int(x) not in out:
                out.append(int(x))
    return out


def source_text(hit: Hit) -> str:
    return "\n".join(x for x in (hit.title or "", speaker_name(hit.role) or "", hit.text) if x)


def sentence_ok(sentence: str, hits: list[Hit], question: str, *, strict: bool) -> bool:
    if ECHO.search(sentence):
        return False
    nums = [n for n in cited_numbers(sentence) if 1 <= n <= len(hits)]
    if not strict:
        return True
    if not nums:
        return False
    text = strip_markers(sentence)
    src = "\n".join(source_text(hits[n - 1]) for n in nums)
    if not grounded(text, src):
        return False
    asked = {stem(w) for w in content_words(question)}
    novel = [w for w in content_words(text) if stem(w) not in asked]
    if not novel:
        return False
    have = {stem(w) for w in content_words(src)}
    return sum(1 for w in novel if stem(w) in have) / len(novel) >= NOVEL_SHARE


class SentenceGate:
    """Feed citation-checked text; get back the sentences that pass ``sentence_ok``."""

    def __init__(self, hits: list[Hit], question: str, *, strict: bool):
        self.hits, self.question, self.strict = hits, question, strict
        self._buf = ""
        self.kept: list[str] = []
        self.dropped: list[str] = []
        self.raw: list[str] = []

    def _judge(self, sentence: str) -> str:
        sentence = sentence.strip()
        if not sentence:
            return ""
        self.raw.append(sentence)
        if not sentence_ok(sentence, self.hits, self.question, strict=self.strict):
            self.dropped.append(sentence)
            return ""
        sep = " " if self.kept else ""
        self.kept.append(sentence)
        return sep + sentence

    def feed(self, text: str) -> str:
        """A chunk is judged at the first sentence end after a citation: text before any
        citation ("Your dentist is Dr." + " Alvarez [1].") belongs to the claim that cites."""
        self._buf += text
        out = []
        pos = 0
        while True:
            m = _BOUNDARY.search(self._buf, pos)
            if not m:
                break
            head = self._buf[:m.start()]
            if not CITE.search(head) and m.group().strip(" \t") == "" and not ECHO.search(head):
                pos = m.end()  # no citation yet, not a line break, no echo: the claim goes on
                continue
            out.append(self._judge(self._buf[:m.start()]))
            self._buf = self._buf[m.end():]
            pos = 0
        return "".join(out)

    def flush(self) -> str:
        out, self._buf = self._judge(self._buf), ""
        return out

    @property
    def text(self) -> str:
        return " ".join(self.kept)

    @property
    def cited(self) -> list[int]:
        out: list[int] = []
        for s in self.kept:
            for n in cited_numbers(s):
                if 1 <= n <= len(self.hits) and n not in out:
                    out.append(n)
        return out

    def only_dont_know(self) -> bool:
        return bool(self.raw) and all(DONT_KNOW.search(s) for s in self.raw)
