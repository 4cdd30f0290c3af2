"""Another memcli memory (a second device's) as records to merge into this one.

The rows come from :mod:`memcli.services.merge`, which reads the other file through the store;
this module only decides what is carried over and under which key:

- verbatim items only (messages, notes, Markdown sections, Claude documents, chat turns): what
  the digest derived (summaries, facts, reflections, source ``digest``) is not copied but
  derived again here by ``memcli digest``;
- every item keeps its provenance (source, key, conversation, message id, path, heading, times,
  tags, meta); an item without a key (a note typed with ``memcli add``) is known by its content
  and time, under the key ``merged:<content hash>:<created_at>``.
"""

from __future__ import annotations

import json

from memcli.core.models import DERIVED_KINDS, NewItem

DERIVED_SOURCE = "digest"


def is_verbatim(row: dict) -> bool:
    return row["source"] != DERIVED_SOURCE and row["kind"] not in DERIVED_KINDS


def merge_key(row: dict) -> str:
    return row["key"] or f"merged:{row['content_hash']}:{row['created_at']}"


def _meta(value) -> dict | None:
    if not value:
        return None
    try:
        meta = json.loads(value)
    except ValueError:
        return None
    return meta if isinstance(meta, dict) else None


def item_of(row: dict, tags: list[str]) -> NewItem:
    """The item to write for one verbatim row of the other memory."""
    return NewItem(text=row["text"], kind=row["kind"], source=row["source"],
                   created_at=row["created_at"], title=row["title"], role=row["role"],
                   external_id=row["external_id"], path=row["path"], heading=row["heading"],
                   key=merge_key(row), tags=list(tags), importance=row["importance"],
                   position=row["position"], meta=_meta(row["meta"]))


def conversation_of(row: dict) -> dict:
    """``upsert_conversation`` arguments for one conversation of the other memory."""
    return {"source": row["source"], "external_id": row["external_id"], "title": row["title"],
            "created_at": row["created_at"], "updated_at": row["updated_at"],
            "path": row["path"], "meta": _meta(row["meta"])}


def convert(conversation: dict | None, rows: list[dict], tags: dict[int, list[str]]
            ) -> tuple[dict | None, list[NewItem]]:
    """One unit of the merge: a conversation (or None: standalone items) and its verbatim
    items, in order."""
    items = [item_of(r, tags.get(r["id"], [])) for r in rows if is_verbatim(r)]
    return (conversation_of(conversation) if conversation else None), items
