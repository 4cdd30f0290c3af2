"""The app's form fields turned into service calls: no widgets here, so tests call them directly.

Callers that share the memory with a running chat hold ``session.lock`` around these calls."""

from __future__ import annotations


def split_list(text: str) -> list[str]:
    """A field that takes several values: ``"a, b c"`` → ``["a", "b", "c"]`` (``""`` → none)."""
    return [p.strip() for p in (text or "").replace(" ", ",").split(",") if p.strip()]


def search_from_form(memory, query: str, *, kind: str = "", source: str = "", tag: str = "",
                     since: str = "", limit: int = 20) -> list:
    """Hybrid search with the search screen's filter fields (comma-separated lists; '' = any)."""
    filters = memory.make_filters(kinds=split_list(kind), sources=split_list(source),
                                  tags=split_list(tag), since=since.strip() or None)
    return memory.search(query, limit=limit, filters=filters)
