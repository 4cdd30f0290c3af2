"""Search hits from stored rows, shared by every ranking in memcli/retrieval."""

from __future__ import annotations

from memcli.core.models import Hit

SUPERSEDED_WEIGHT = 0.5  # a superseded fact (``valid_to`` set) stays findable at this share


def source_of(row: dict) -> dict:
    return {
        "type": row["source"],
        "conversation_id": row.get("conversation_external_id"),
        "message_id": row.get("external_id"),
        "path": row.get("path"),
        "title": row.get("title") or row.get("conversation_title"),
    }


def hit_from_row(row: dict, score: float, similarity: float | None = None,
                 bm25: float | None = None, *, lifted: bool = False,
                 placed: bool = False) -> Hit:
    return Hit(
        id=row["id"], kind=row["kind"], text=row["text"], score=score,
        created_at=row["created_at"], source=source_of(row), title=row.get("title"),
        role=row.get("role"), tags=row.get("tags", []), similarity=similarity, bm25=bm25,
        superseded=bool(row.get("valid_to")), lifted=lifted, placed=placed,
    )
