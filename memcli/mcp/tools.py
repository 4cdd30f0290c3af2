"""What each tool of `memcli mcp` does, without the protocol: take the arguments a client sent,
call one service function, return JSON-ready data in the shapes of the CLI's ``--json`` output
(README, "JSON output"). memcli/mcp/server.py registers these on the MCP server.

One ``Memory`` (one SQLite connection) serves every call, one call at a time (``lock``): the
SDK runs tool functions in worker threads, a ``Store`` is not meant to be used by two at once.
The connection is in autocommit mode and every statement is read to its end, so no read
transaction stays open between calls: each call reads the database as it is at that moment
(what the CLI or the TUI wrote meanwhile included), and the server never keeps another process
from checkpointing the WAL (tests/test_mcp.py checks both)."""

from __future__ import annotations

import threading
from typing import Iterable

from memcli.core.errors import MemcliError

# every tool, in the order the server lists them; WRITING ones change what the memory holds
TOOL_NAMES = ("search", "recall", "ask", "show", "recent", "notes", "stats", "remember", "forget")
WRITING = frozenset({"remember", "forget"})
MCP_SOURCE = "mcp"  # the source of notes that arrive through `remember`


def choose_tools(spec: str | None, *, read_only: bool = False) -> list[str]:
    """The tools to offer, from ``--tools a,b`` (None: all) and ``--read-only`` (no writing
    tools). Unknown names, or a writing tool asked for with ``--read-only``: one MemcliError."""
    if spec is None:
        names = list(TOOL_NAMES)
    else:
        names = list(dict.fromkeys(n.strip().lower() for n in spec.split(",") if n.strip()))
        unknown = [n for n in names if n not in TOOL_NAMES]
        if unknown:
            raise MemcliError(f"unknown tool(s) for --tools: {', '.join(unknown)} "
                              f"(the tools are {', '.join(TOOL_NAMES)})")
        if not names:
            raise MemcliError(f"--tools names no tool (the tools are {', '.join(TOOL_NAMES)})")
        writing = [n for n in names if n in WRITING]
        if read_only and writing:
            raise MemcliError(f"--read-only offers no writing tools, but --tools names "
                              f"{', '.join(writing)}")
    return [n for n in names if not (read_only and n in WRITING)]


def as_list(value: str | Iterable[str] | None) -> list[str]:
    """A filter a client may send as one string or a list (``"message"`` or ``["message"]``)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [v for v in value if v and v.strip()]


def parse_item_id(value: int) -> int:
    if not 0 < value < 2**63:
        raise MemcliError(f"no item with id {value}")
    return value


class MemoryTools:
    """The tool bodies over one ``Memory``. Each returns what ``memcli <command> --json`` prints
    for the same arguments; errors are ``MemcliError`` with one clear message."""

    def __init__(self, memory):
        self.memory = memory
        self.lock = threading.Lock()

    def search(self, query: str, *, limit: int = 10, since: str | None = None,
               until: str | None = None, kind=None, source=None, tag=None,
               as_of: str | None = None) -> list[dict]:
        """`memcli search QUERY --json`."""
        mem = self.memory
        now = mem.resolve_now(as_of)
        filters = mem.make_filters(kinds=as_list(kind), sources=as_list(source),
                                   tags=as_list(tag), since=since, until=until, now=now)
        return [h.to_json() for h in mem.search(query, limit=limit, filters=filters, now=now)]

    def recall(self, question: str, *, as_of: str | None = None) -> dict:
        """What `memcli ask` would put in front of a model: date window, abstention, numbered
        context (``memcli.services.ask.recall``). The calling assistant's own model reads the
        context, so it gets the capable profile (more sources, whole texts, in date order)."""
        from memcli.services.ask import recall

        mem = self.memory
        return recall(mem, question, now=mem.resolve_now(as_of), profile="capable").to_json()

    def ask(self, question: str, *, as_of: str | None = None) -> dict:
        """`memcli ask QUESTION --json`: the answer of memcli's own (configured) model."""
        from memcli.services.ask import ask

        mem = self.memory
        return ask(mem, question, now=mem.resolve_now(as_of)).to_json()

    def show(self, item_id: int) -> dict:
        """`memcli show ID --json`."""
        return self.memory.show(parse_item_id(item_id))

    def recent(self, *, limit: int = 10, since: str | None = None) -> list[dict]:
        """The newest verbatim items (``memcli.services.recent``)."""
        from memcli.services.recent import recent

        return recent(self.memory, limit=limit, since=since)

    def notes(self, *, kind=None, tag=None, limit: int = 50) -> list[dict]:
        """`memcli notes --json`."""
        from memcli.services.notes import list_notes

        return list_notes(self.memory, kinds=as_list(kind), tags=as_list(tag), limit=limit)

    def stats(self) -> dict:
        """`memcli stats --json`."""
        return self.memory.stats()

    def remember(self, text: str, *, title: str | None = None, tags=None,
                 date: str | None = None, client: dict | None = None) -> dict:
        """`memcli add TEXT --json`, with source ``mcp`` and the client's name and version
        (from the MCP handshake) in the note's meta, which `show` reports as ``client``."""
        from memcli.core.timeutil import iso, parse_user_date

        created = iso(parse_user_date(date, what="date")) if date else None
        meta = {k: v for k, v in (client or {}).items() if v} or None
        item_id = self.memory.remember(text, title=title or None, tags=as_list(tags),
                                       created_at=created, source=MCP_SOURCE, meta=meta)
        return {"id": item_id}

    def forget(self, item_id: int) -> dict:
        """`memcli forget ID --json`."""
        return {"removed": self.memory.forget(parse_item_id(item_id))}
