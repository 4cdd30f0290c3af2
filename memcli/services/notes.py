"""The derived notes as a front end reads them: list them, write reflections and get them back.

``memcli notes`` and ``memcli reflect`` call these (so would an MCP tool); both return plain dicts,
ready for JSON."""

from __future__ import annotations

import json
from typing import Iterable

from memcli.core.errors import MemcliError
from memcli.core.models import DERIVED_KINDS
from memcli.services.reflect import ReflectReport, reflect


def list_notes(memory, *, kinds: Iterable[str] = (), tags: Iterable[str] = (), limit: int = 50,
               include_superseded: bool = False) -> list[dict]:
    """Derived notes, newest first, each ``{"id", "kind", "text", "title", "created_at", "tags",
    "keywords", "context", "type", "sources", "valid_to", "superseded_by"}``.

    ``kinds``: fact, summary, reflection (default: all of them); ``tags``: only notes with these;
    superseded facts only with ``include_superseded``."""
    if limit < 1:
        raise MemcliError("-n must be at least 1")
    kinds = [k.lower() for k in kinds] or list(DERIVED_KINDS)
    tags = list(tags)
    rows = memory.store.list_derived(kinds, tags=tags or None, limit=limit,
                                     current_only=not include_superseded)
    sources = memory.store.sources_map([r["id"] for r in rows])
    out = []
    for r in rows:
        meta = json.loads(r.get("meta") or "{}") or {}
        out.append({"id": r["id"], "kind": r["kind"], "text": r["text"], "title": r["title"],
                    "created_at": r["created_at"], "tags": r["tags"],
                    "keywords": meta.get("keywords") or [], "context": meta.get("context"),
                    "type": meta.get("type"), "sources": sources.get(r["id"], []),
                    "valid_to": r["valid_to"], "superseded_by": r["superseded_by"]})
    return out


def write_reflections(memory, *, use_llm: bool = True, llm=None, limit: int = 60,
                      since: str | None = None) -> tuple[ReflectReport, list[dict]]:
    """Run ``reflect`` over the ``limit`` most recent notes (from ``since``, an ISO time, on) and
    return its report with the reflections it wrote, each as ``memory.show`` gives it (text,
    ``sources`` it cites, …)."""
    if limit < 2:
        raise MemcliError("--limit must be at least 2 (a reflection cites two notes)")
    report = reflect(memory, use_llm=use_llm, llm=llm, limit=limit, since=since)
    return report, [memory.show(i) for i in report.ids]
