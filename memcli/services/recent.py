"""The newest verbatim items (notes, chat messages, imported sections), for front ends that list
what was said lately without a query (the MCP server's ``recent`` tool)."""

from __future__ import annotations

from datetime import datetime

from memcli.core.errors import MemcliError
from memcli.core.models import DERIVED_KINDS

MAX_RECENT = 1000


def recent(memory, *, limit: int = 10, since: str | None = None,
           now: datetime | None = None) -> list[dict]:
    """Up to ``limit`` verbatim items, newest first (by the time they happened), from ``since``
    (ISO-8601 or plain English, relative to ``now``) on. Each is ``{"id", "kind", "text",
    "created_at", "source", "title", "role", "tags"}``: a search hit's shape without the scores;
    derived notes (facts, summaries, reflections) are left out (``list_notes`` has them)."""
    from memcli.retrieval.hits import source_of

    if not 1 <= int(limit) <= MAX_RECENT:
        raise MemcliError(f"the limit must be between 1 and {MAX_RECENT}")
    start = memory.make_filters(since=since, now=now).since if since else None
    rows = memory.store.recent_items(exclude_kinds=DERIVED_KINDS, since=start, limit=int(limit))
    return [{"id": r["id"], "kind": r["kind"], "text": r["text"], "created_at": r["created_at"],
             "source": source_of(r), "title": r["title"], "role": r["role"], "tags": r["tags"]}
            for r in rows]
