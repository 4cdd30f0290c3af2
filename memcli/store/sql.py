"""What the store modules share: row dicts, ``IN (...)`` lists in chunks, the filter SQL."""

from __future__ import annotations

from typing import Iterable, Iterator, Sized

from memcli.core.models import Filters
from memcli.core.text import normalize_tag

IN_CHUNK = 500  # values per IN (...) list, well under SQLite's limit on bound parameters


def row_dicts(cur) -> list[dict]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def marks(values: Sized) -> str:
    """One ``?`` placeholder per value: ``?,?,?``."""
    return ",".join("?" * len(values))


def chunks(values: Iterable, size: int = IN_CHUNK) -> Iterator[tuple[list, str]]:
    """``values`` in lists of at most ``size``, each with its placeholders for ``IN (...)``."""
    values = list(values)
    for i in range(0, len(values), size):
        chunk = values[i:i + size]
        yield chunk, marks(chunk)


def column_filters(f: Filters, prefix: str = "") -> tuple[list[str], list]:
    """Conditions on kind, source and date: columns of ``items`` and metadata columns of the
    vec0 table alike (so the vector side filters inside its KNN scan)."""
    parts, params = [], []
    if f.kinds:
        parts.append(f"{prefix}kind IN ({marks(f.kinds)})")
        params += list(f.kinds)
    if f.sources:
        parts.append(f"{prefix}source IN ({marks(f.sources)})")
        params += list(f.sources)
    if f.since:
        parts.append(f"{prefix}created_at >= ?")
        params.append(f.since)
    if f.until:
        parts.append(f"{prefix}created_at < ?")
        params.append(f.until)
    return parts, params


def filter_sql(f: Filters | None, alias: str = "items") -> tuple[str, list]:
    """`` AND …`` conditions on the ``items`` row ``alias`` for every filter, with their params."""
    if f is None or f.empty():
        return "", []
    parts, params = column_filters(f, alias + ".")
    if f.tags:
        parts.append(f"EXISTS (SELECT 1 FROM item_tags t WHERE t.item_id = {alias}.id AND "
                     f"t.tag IN ({marks(f.tags)}))")
        params += [normalize_tag(t) for t in f.tags]
    if f.conversation:
        parts.append(f"{alias}.conversation_id IN (SELECT id FROM conversations "
                     "WHERE external_id = ?)")
        params.append(f.conversation)
    return " AND " + " AND ".join(parts), params
