"""Plain records the importers yield, and the helpers they share: locating the export file(s)
inside a zip or folder, streaming a JSON array with ijson, and one-line errors.

No SQL and no storage here: :mod:`memcli.ingest` turns these records into stored items.
"""

from __future__ import annotations

import io
import re
import zipfile
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

from memcli.core.errors import ImportFailed


# ---- records ------------------------------------------------------------------------------------
@dataclass
class Message:
    id: str
    role: str
    text: str
    created_at: str | None = None  # canonical ISO UTC (timeutil.normalize) or None
    meta: dict | None = None


@dataclass
class Conversation:
    source: str  # chatgpt | claude | jsonl
    id: str
    title: str | None
    created_at: str | None
    updated_at: str | None
    messages: list[Message]
    meta: dict | None = None


@dataclass
class Document:
    """A standalone text that is not a chat message (a Claude project doc, a Claude memory, a
    note restored from a JSONL backup)."""

    source: str
    key: str
    text: str
    title: str | None = None
    created_at: str | None = None
    tags: list[str] = field(default_factory=list)
    meta: dict | None = None
    kind: str = "note"  # note | section (a part of a longer note, at ``heading``)
    path: str | None = None
    heading: str | None = None


@dataclass
class Failed:
    """A record that could not be parsed; the rest of the export still imports."""

    label: str
    reason: str


Record = Conversation | Document | Failed
WRONG = "<wrong export type>"  # Failed.label of a record from another kind of export


# ---- limits -------------------------------------------------------------------------------------
MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The largest message (chat exports) and note file (Markdown) an import accepts, in MB:
    ``[limits] message_mb`` / ``note_mb`` of config.toml (``memcli.services.ingest`` sets them)."""

    message_mb: int = 16
    note_mb: int = 100

    def message_problem(self, text: str, what: str) -> str | None:
        if len(text) * 4 <= self.message_mb * MB:  # at most 4 bytes a character
            return None
        size = len(text.encode("utf-8", "surrogatepass"))
        if size <= self.message_mb * MB:
            return None
        return (f"{what} is {size / MB:.1f} MB, over the {self.message_mb} MB message limit "
                "([limits] message_mb in config.toml)")


DEFAULT_LIMITS = Limits()
LIMITS: ContextVar[Limits | None] = ContextVar("memcli_import_limits", default=None)


def current_limits() -> Limits:
    return LIMITS.get() or DEFAULT_LIMITS


@contextmanager
def limits(value: Limits) -> Iterator[None]:
    token = LIMITS.set(value)
    try:
        yield
    finally:
        LIMITS.reset(token)


def oversized(conv: "Conversation") -> str | None:
    """Why a parsed conversation is refused for size (one of its messages), else None."""
    lim = current_limits()
    for m in conv.messages:
        problem = lim.message_problem(m.text, f"message {m.id}")
        if problem:
            return problem
    return None


# ---- errors -------------------------------------------------------------------------------------
def fail(where, what: str) -> ImportFailed:
    return ImportFailed(f"{where}: {what}")


def check_exists(path: Path) -> None:
    if not path.exists():
        raise fail(path, "no such file or directory")


# ---- export files -------------------------------------------------------------------------------
@dataclass
class Part:
    """One JSON file of an export: a plain file, or a member of a zip."""

    label: str  # what error messages name
    path: Path
    member: str | None = None  # name inside the zip

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        try:
            if self.member is None:
                with open(self.path, "rb") as f:
                    yield f
            else:
                with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as f:
                    yield f
        except OSError as exc:
            raise fail(self.label, f"cannot read: {exc.strerror or exc}") from None
        except zipfile.BadZipFile as exc:
            raise fail(self.label, f"broken zip file: {exc}") from None


def find_parts(path: Path, pattern: re.Pattern, *, what: str) -> list[Part]:
    """Files whose base name matches ``pattern`` in a zip, a folder (recursively) or the file.

    Raises a one-line ImportFailed for a missing path, a fake zip, or nothing that matches."""
    check_exists(path)
    if path.is_dir():
        found = sorted((p for p in path.rglob("*.json") if pattern.fullmatch(p.name)
                        and not any(s.startswith(".") for s in p.relative_to(path).parts)),
                       key=lambda p: (len(p.relative_to(path).parts), str(p)))
        if not found:
            raise fail(path, f"no {what} in this folder")
        top = len(found[0].relative_to(path).parts)  # the shallowest folder that has them
        return [Part(str(p), p) for p in found if len(p.relative_to(path).parts) == top]
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if not n.endswith("/")]
        except (zipfile.BadZipFile, OSError) as exc:
            raise fail(path, f"broken zip file: {exc}") from None
        found = sorted((n for n in names if pattern.fullmatch(n.rsplit("/", 1)[-1])
                        and not n.startswith("__MACOSX/")), key=lambda n: (n.count("/"), n))
        if not found:
            raise fail(path, f"no {what} in this zip")
        top = found[0].count("/")
        return [Part(f"{path}:{n}", path, n) for n in found if n.count("/") == top]
    if path.suffix.lower() == ".zip":
        raise fail(path, "not a zip file (or a damaged one)")
    if not path.is_file():
        raise fail(path, "not a regular file")
    return [Part(str(path), path)]


def sibling(part: Part, name: str) -> Part | None:
    """``name`` next to ``part`` (same folder or same zip folder), if present."""
    if part.member is None:
        p = part.path.parent / name
        return Part(str(p), p) if p.is_file() else None
    prefix = part.member.rsplit("/", 1)[0] + "/" if "/" in part.member else ""
    with zipfile.ZipFile(part.path) as zf:
        if prefix + name in zf.namelist():
            return Part(f"{part.path}:{prefix}{name}", part.path, prefix + name)
    return None


def _first_byte(f: IO[bytes]) -> bytes:
    while True:
        chunk = f.read(1)
        if not chunk:
            return b""
        if chunk == b"\xef":  # UTF-8 byte order mark
            f.read(2)
            continue
        if not chunk.isspace():
            return chunk


def stream_conversations(parts: list[Part], what: str, parse, id_key: str) -> Iterator[Record]:
    """Records of the conversations in ``parts``, each made by ``parse(conversation)``.

    A conversation with a field of an unexpected type deep inside becomes a Failed record (the rest
    of the export still imports); a record saying the export is of another kind names the file."""
    for part in parts:
        for conv in stream_array(part, what):
            try:
                rec = parse(conv)
            except (TypeError, AttributeError, ValueError, KeyError, RecursionError) as exc:
                cid = conv.get(id_key) if isinstance(conv, dict) else None
                rec = Failed(str(cid) if isinstance(cid, (str, int)) else "?",
                             f"malformed conversation ({type(exc).__name__}: {exc})")
            if isinstance(rec, Conversation) and oversized(rec):
                rec = Failed(rec.id, f"{oversized(rec)}; conversation skipped")
            if isinstance(rec, Failed):
                rec.label = part.label if rec.label == WRONG else \
                    f"{part.label}: conversation {rec.label}"
            yield rec


def stream_array(part: Part, what: str) -> Iterator[object]:
    """Yield the elements of the JSON array in ``part`` one by one (ijson; constant memory).

    A file that is empty, binary, not a JSON array, or truncated raises ImportFailed naming it."""
    import ijson

    with part.open() as raw:
        f = io.BufferedReader(raw) if not isinstance(raw, io.BufferedReader) else raw
        first = _first_byte(f)
        if not first:
            raise fail(part.label, "the file is empty")
        if first != b"[":
            if first == b"{":
                raise fail(part.label, f"expected a JSON list of {what}, found a JSON object")
            raise fail(part.label, f"not a JSON file (binary or text?); expected a list of {what}")
        stream = _Prefixed(first, f, part.label)
        try:
            yield from ijson.items(stream, "item", use_float=True)
        except ijson.JSONError as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if "incomplete" in msg.lower() or "premature" in msg.lower() or "EOF" in msg:
                raise fail(part.label, f"truncated JSON ({msg})") from None
            raise fail(part.label, f"invalid JSON ({msg})") from None
        except UnicodeDecodeError:
            raise fail(part.label, "not UTF-8 text (binary file?)") from None


MAX_NESTING = 10_000  # ijson's memory grows with depth squared: 20k levels cost ~1 GB
_WINDOW = 4096


class _Prefixed(io.RawIOBase):
    """A byte stream that replays the bytes already peeked, then reads on.

    It also bounds JSON nesting: ``[[[[…`` 200k deep (a 400 KB file) would make ijson allocate
    tens of GB (its path prefixes grow with depth). Counting brackets per 4 KB window gives an
    upper bound of the depth (brackets inside strings only make it larger), at C speed."""

    def __init__(self, head: bytes, rest: IO[bytes], label: str = "input"):
        self._head, self._rest = head, rest
        self._label = label
        self._balance = 0
        self._run = 0  # bytes since the last '"': a lower bound of the current string's length
        self._max_run = current_limits().message_mb * MB

    def _guard(self, data) -> None:
        """Also refuse, as soon as it is read, a JSON string longer than the message limit (a
        300 MB message inside a 300 KB zip), instead of parsing it for minutes first."""
        for i in range(0, len(data), _WINDOW):
            w = bytes(data[i:i + _WINDOW])
            opens = w.count(b"[") + w.count(b"{")
            if self._balance + opens > MAX_NESTING:
                raise fail(self._label, f"JSON nested more than {MAX_NESTING} levels deep")
            self._balance = max(0, self._balance + opens - w.count(b"]") - w.count(b"}"))
            quote = w.rfind(b'"')
            self._run = self._run + len(w) if quote < 0 else len(w) - quote - 1
            if self._run > self._max_run:
                mb = self._max_run // MB
                raise fail(self._label, f"a value over the {mb} MB message limit ([limits] "
                                        "message_mb in config.toml); nothing imported")

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            self._guard(b[:n])
            return n
        data = self._rest.read(len(b))
        b[:len(data)] = data
        self._guard(data)
        return len(data)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            data, self._head = self._head + self._rest.read(), b""
        elif self._head:
            data, self._head = self._head[:n], self._head[n:]
        else:
            data = self._rest.read(n)
        self._guard(data)
        return data


# ---- text helpers -------------------------------------------------------------------------------
def as_text(value) -> str:
    return value if isinstance(value, str) else ""


def tidy(text: str) -> str:
    """Trim trailing spaces and runs of blank lines; keep the text otherwise verbatim."""
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    out: list[str] = []
    for ln in lines:
        if ln or (out and out[-1]):
            out.append(ln)
    return "\n".join(out).strip()

