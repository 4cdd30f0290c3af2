"""The documented interchange format (README, "JSONL format"): one record per line. A
conversation::

    {"id": "...", "title": "...", "created_at": "...", "source": "...",
     "messages": [{"role": "user|assistant|system", "content": "...",
                   "created_at": "...", "id": "..."}]}

``title``, ``source``, the times and the message ids are optional; a message without an id gets
its 0-based position in ``messages``, so re-importing the same file is a no-op. ``source`` (what
``memcli export jsonl`` writes: chatgpt, claude, chat…) keeps a restored conversation under its
original provider; absent, it is ``jsonl``.

A note (``memcli export jsonl`` writes one per note a person wrote or imported)::

    {"type": "note", "id": "<key>", "text": "...", "kind": "note|section", "title": "...",
     "created_at": "...", "tags": ["..."], "source": "cli", "path": "...", "heading": "..."}

Only ``type``, ``id`` and ``text`` are required; ``id`` is the note's key (re-import skips it).
The format is a contract, so a line that breaks it stops the import with the line number (before
anything is written).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Iterator

from memcli.core.timeutil import from_epoch, iso
from memcli.importers.base import (
    Conversation,
    Document,
    Message,
    Record,
    check_exists,
    current_limits,
    fail,
)

SOURCE = "jsonl"
_SOURCE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# what a restored conversation or note may say it came from (not "digest": derived notes are
# re-created by `memcli digest`, never imported as if a person had written them)
CONVERSATION_SOURCES = frozenset({"jsonl", "chatgpt", "claude", "chat"})
NOTE_KINDS = ("note", "section")


def _opt_str(obj: dict, name: str, label: str, n: int, what: str = "") -> str | None:
    value = obj.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _line_error(label, n, f'{what}"{name}" must be a string')
    return value


def parse_note(obj: dict, label: str, n: int) -> Document:
    key = obj.get("id")
    if not isinstance(key, (str, int)) or isinstance(key, bool) or str(key) == "":
        raise _line_error(label, n, 'the note needs an "id" (a string)')
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _line_error(label, n, 'the note needs a "text" (a non-empty string)')
    kind = obj.get("kind") or "note"
    if kind not in NOTE_KINDS:
        raise _line_error(label, n, f'"kind" must be one of {", ".join(NOTE_KINDS)}, not '
                                    f'{str(kind)[:40]!r} (derived notes come back with '
                                    "`memcli digest`)")
    source = obj.get("source") or SOURCE
    if not isinstance(source, str) or not _SOURCE_NAME.fullmatch(source) or source == "digest":
        raise _line_error(label, n, f'"source" {str(source)[:40]!r} is not a source name')
    tags = obj.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise _line_error(label, n, '"tags" must be a list of strings')
    meta = obj.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise _line_error(label, n, '"meta" must be an object')
    return Document(source=source, key=str(key), text=text.strip(), kind=kind,
                    title=_opt_str(obj, "title", label, n),
                    created_at=_time(obj.get("created_at"), label, n, "created_at"),
                    tags=tags, meta=meta or None, path=_opt_str(obj, "path", label, n),
                    heading=_opt_str(obj, "heading", label, n))


def _line_error(label: str, n: int, what: str):
    return fail(label, f"line {n}: {what}")


def parse_line(obj, label: str, n: int) -> Conversation | Document:
    if not isinstance(obj, dict):
        raise _line_error(label, n, "expected a JSON object (one conversation per line)")
    kind = obj.get("type")
    if kind == "note":
        return parse_note(obj, label, n)
    if kind is not None and kind != "conversation":
        raise _line_error(label, n, f'"type" must be "conversation" or "note", not '
                                    f"{str(kind)[:40]!r}")
    if "messages" not in obj and "text" in obj and "kind" in obj:
        raise _line_error(label, n, "a derived note (a <name>.notes.jsonl line); restore the "
                                    "backup file itself, `memcli digest` re-creates these")
    if "mapping" in obj or "chat_messages" in obj:
        raise _line_error(label, n, "this is a ChatGPT/Claude conversation; use "
                                    "`memcli import chatgpt` or `memcli import claude`")
    conv_id = obj.get("id")
    if not isinstance(conv_id, (str, int)) or isinstance(conv_id, bool) or str(conv_id) == "":
        raise _line_error(label, n, 'the conversation needs an "id" (a string)')
    msgs = obj.get("messages")
    if not isinstance(msgs, list):
        raise _line_error(label, n, '"messages" must be a list')
    title = obj.get("title")
    if title is not None and not isinstance(title, str):
        raise _line_error(label, n, '"title" must be a string')
    conv_time = _time(obj.get("created_at"), label, n, "created_at")
    messages: list[Message] = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            raise _line_error(label, n, f"message {i} is not an object")
        role, content = m.get("role"), m.get("content")
        if not isinstance(role, str) or not role.strip():
            raise _line_error(label, n, f'message {i} has no "role"')
        if not isinstance(content, str):
            raise _line_error(label, n, f'message {i}: "content" must be a string')
        mid = m.get("id")
        if mid is None or mid == "":
            mid = i
        elif not isinstance(mid, (str, int)) or isinstance(mid, bool):
            raise _line_error(label, n, f'message {i}: "id" must be a string')
        if not content.strip():
            continue
        messages.append(Message(
            id=str(mid), role=role.strip().lower(), text=content.strip(),
            created_at=_time(m.get("created_at"), label, n, f"message {i} created_at")
            or conv_time))
    source = obj.get("source")
    source = source if source in CONVERSATION_SOURCES else SOURCE
    for m in messages:
        too_big = current_limits().message_problem(m.text, f"message {m.id}")
        if too_big:
            raise _line_error(label, n, too_big)
    return Conversation(source=source, id=str(conv_id), title=title or None,
                        created_at=conv_time or (messages[0].created_at if messages else None),
                        updated_at=None, messages=messages)


def strict_time(value) -> str | None:
    """ISO-8601 text or epoch seconds → canonical UTC text; anything else → None. No free-text
    dates here: "yesterday" in a file would silently mean the day of the import."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return from_epoch(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        return iso(datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text))
    except ValueError:
        pass
    try:
        return from_epoch(float(text))
    except ValueError:
        return None


def _time(value, label: str, n: int, what: str) -> str | None:
    if value is None or value == "":
        return None
    out = strict_time(value)
    if out is None:
        raise _line_error(label, n, f"cannot read {what} {value!r}; use ISO-8601")
    return out


def parse(path: str | Path) -> Iterator[Record]:
    path = Path(path)
    check_exists(path)
    if path.is_dir():
        raise fail(path, "is a folder; give the .jsonl file")
    label = str(path)
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise fail(label, f"cannot read: {exc.strerror or exc}") from None
    seen = 0
    with f:
        for n, raw in enumerate(f, 1):
            if b"\x00" in raw:
                raise fail(label, "a binary file, not JSON Lines")
            try:
                line = raw.decode("utf-8-sig" if n == 1 else "utf-8").strip()
            except UnicodeDecodeError:
                raise fail(label, f"line {n}: not UTF-8 text (binary file?)") from None
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                if n == 1 and line in ("[", "{") or line.startswith(("[{", "[\n")):
                    raise fail(label, "a JSON document, not JSON Lines (one conversation per "
                                      "line); for a ChatGPT or Claude export use `memcli import "
                                      "chatgpt` or `memcli import claude`") from None
                hint = " (truncated?)" if not raw.endswith(b"\n") else ""
                raise _line_error(label, n, f"invalid JSON{hint}: {exc.msg}") from None
            except RecursionError:
                raise _line_error(label, n, "JSON nested too deeply") from None
            seen += 1
            yield parse_line(obj, label, n)
    if not seen:
        raise fail(label, "no conversations in this file (it is empty)")
