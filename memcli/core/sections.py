"""Input checks and the splitting of long notes. Leaf module: stdlib only.

- ``text_problem``: where a text stops being clean (invalid UTF-8 kept as lone surrogates by
  Python's surrogateescape, or a NUL byte), as "line L, column C", so a refusal can say where.
- ``split_long``: a note longer than ``SPLIT_CHARS`` becomes parts cut at blank lines (else at
  line ends, else at spaces), each citing its position ("part 3/40, lines 120-143", after the
  Markdown heading it falls under), as a Markdown file's sections cite their heading. Parts grow
  with the note (at most ``MAX_PARTS``), so a 50 MB note stays a few hundred items that embed in
  seconds (BENCHMARKS.md, "A 50 MB note").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SPLIT_CHARS = 4000  # a note longer than this is stored as sections
PART_CHARS = 2000  # the smallest part; parts of huge notes are larger (see MAX_PARTS)
MAX_PARTS = 200
MB = 1024 * 1024

_BAD = re.compile("[\x00\ud800-\udfff]")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$")


def text_problem(value: str | None) -> str | None:
    """None when ``value`` is clean text, else e.g. "invalid UTF-8 at line 3, column 7"."""
    if not value:
        return None
    m = _BAD.search(value)
    if m is None:
        return None
    line = value.count("\n", 0, m.start()) + 1
    col = m.start() - (value.rfind("\n", 0, m.start()) + 1) + 1
    what = "a NUL byte" if m.group() == "\x00" else "invalid UTF-8"
    return f"{what} at line {line}, column {col}"


def size_problem(value: str, limit_mb: int, what: str, key: str) -> str | None:
    """A one-line refusal when ``value`` is over ``limit_mb`` MB of UTF-8, else None."""
    if len(value) <= limit_mb * MB // 4:  # at most 4 bytes a character: surely under
        return None
    size = len(value.encode("utf-8", "surrogatepass"))
    if size <= limit_mb * MB:
        return None
    return (f"{what} is {size / MB:.1f} MB, over the {limit_mb} MB limit "
            f"([limits] {key} in config.toml)")


@dataclass
class Part:
    text: str
    heading: str  # where it is: "Heading (part 3/40, lines 120-143)"
    first_line: int
    last_line: int


def _pieces(line: str, size: int) -> list[str]:
    """A line longer than ``size`` cut at spaces (or hard, when it has none)."""
    out, start = [], 0
    while len(line) - start > size:
        cut = line.rfind(" ", start + size // 2, start + size)
        cut = cut + 1 if cut > start else start + size
        out.append(line[start:cut])
        start = cut
    out.append(line[start:])
    return out


def split_long(text: str, *, split_chars: int = SPLIT_CHARS, part_chars: int = PART_CHARS,
               max_parts: int = MAX_PARTS) -> list[Part] | None:
    """Parts of a long note (None for a note short enough to stay one item)."""
    if len(text) <= split_chars:
        return None
    size = max(part_chars, -(-len(text) // max_parts))
    parts: list[tuple[list[str], int, int, str | None]] = []
    buf: list[str] = []
    n = 0
    first = 1
    heading: str | None = None  # the last Markdown heading seen
    part_heading: str | None = None

    def cut(last: int) -> None:
        nonlocal buf, n, first, part_heading
        if any(s.strip() for s in buf):
            parts.append((buf, first, last, part_heading))
        buf, n, first, part_heading = [], 0, last + 1, heading

    for lineno, line in enumerate(text.split("\n"), 1):
        m = _HEADING.match(line) if line.startswith("#") else None
        if m:
            if n >= size // 2:  # start a new part at a heading once this one has some body
                cut(lineno - 1)
            heading = m.group(1).strip()
            if not buf:
                part_heading = heading
        if len(line) > size:
            for piece in _pieces(line, size):
                buf.append(piece)
                n += len(piece)
                if n >= size:
                    cut(lineno)
                    first = lineno
            continue
        if n >= size and not line.strip() or n >= size * 3 // 2:
            cut(lineno - 1)
        buf.append(line)
        n += len(line) + 1
    cut(lineno)
    total = len(parts)
    out = []
    for i, (lines, a, b, h) in enumerate(parts, 1):
        where = f"part {i}/{total}, " + (f"lines {a}-{b}" if a != b else f"line {a}")
        out.append(Part("\n".join(lines).strip(), f"{h} ({where})" if h else where, a, b))
    return out
