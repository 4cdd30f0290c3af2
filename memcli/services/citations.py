"""Citation markers in an answer: ``[n]`` / ``[n, m]`` checked against the k numbered sources the
model was given, as the answer streams (what the user sees is what is returned)."""

from __future__ import annotations

import re

CITE = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")
_CITE_CHARS = set("0123456789,; ")


class CitationFilter:
    """Streams text through, checking ``[n]`` / ``[n, m]`` markers against the context size.

    Markers with numbers outside 1..k are removed (with the whitespace before them); valid ones are
    kept and recorded in ``cited`` (first-appearance order). Text is held back only while a
    marker might still be forming, so tokens still stream."""

    def __init__(self, k: int):
        self.k = k
        self.cited: list[int] = []
        self._pending = ""  # an open "[..." that may become a marker
        self._space = ""  # whitespace held until we know whether a dropped marker follows
        self._started = False  # leading whitespace is dropped

    def _emit_text(self, text: str) -> str:
        out = []
        for ch in text:
            if ch.isspace():
                self._space += ch
            else:
                out.append((self._space if self._started else "") + ch)
                self._space = ""
                self._started = True
        return "".join(out)

    def _close_marker(self) -> str:
        marker, self._pending = self._pending, ""
        m = CITE.fullmatch(marker)
        if not m:
            return self._emit_text(marker)
        nums = [int(x) for x in re.split(r"\s*[,;]\s*", m.group(1))]
        valid = [n for n in nums if 1 <= n <= self.k]
        if not valid:
            self._space = ""  # "Paris [99]." -> "Paris."
            return ""
        for n in valid:
            if n not in self.cited:
                self.cited.append(n)
        return self._emit_text("[" + ", ".join(map(str, valid)) + "]")

    def feed(self, piece: str) -> str:
        out = []
        for ch in piece:
            if self._pending:
                if ch == "]":
                    self._pending += ch
                    out.append(self._close_marker())
                elif ch == "[":
                    out.append(self._emit_text(self._pending))
                    self._pending = "["
                elif ch in _CITE_CHARS and len(self._pending) < 24:
                    self._pending += ch
                else:
                    out.append(self._emit_text(self._pending + ch))
                    self._pending = ""
            elif ch == "[":
                self._pending = "["
            else:
                out.append(self._emit_text(ch))
        return "".join(out)

    def flush(self) -> str:
        out = self._emit_text(self._pending) if self._pending else ""
        self._pending = ""
        return out  # trailing whitespace is dropped


def check_citations(text: str, k: int) -> tuple[str, list[int]]:
    """``text`` with invalid markers removed, and the valid source numbers it cites."""
    f = CitationFilter(k)
    out = f.feed(text) + f.flush()
    return out, f.cited


def strip_markers(text: str) -> str:
    return re.sub(r"\s*" + CITE.pattern, "", text)
