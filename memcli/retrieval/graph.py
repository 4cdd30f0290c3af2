"""Retrieval over the digested structure: one-hop expansion along sources and links, the
MemoryBank-style retention score, and the map from any hit back to the verbatim items it rests on.

- ``retention(row, now)``: R = exp(−Δt / S), Δt = days since the item was last recalled (or
  created), S = S0 · (1 + access_count) · (0.5 + importance). Every recall raises S (it is
  remembered longer) and resets Δt; R is a ranking signal in [0, 1], never a reason to delete.
- ``expand(store, hits)``: each hit passes part of its score to the items one hop away (a note's
  verbatim sources, linked notes), so a question about two facts can surface both.
- ``verbatim_sources(store, ids)``: any hit (reflection → facts → messages) mapped to the verbatim
  items it rests on (recall.py ranks verbatim items with it)."""

from __future__ import annotations

import math
from datetime import datetime, timezone

from memcli.retrieval.hits import SUPERSEDED_WEIGHT, hit_from_row

DERIVED = frozenset({"summary", "fact", "reflection"})
S0_DAYS = 30.0  # a memory's strength S before any recall or importance (days)


def _dt(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def retention(row: dict, now: datetime | None = None, *, s0_days: float = S0_DAYS) -> float:
    """MemoryBank forgetting curve R = exp(−Δt/S); 1.0 when just seen, → 0 when long unused."""
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    last = _dt(row.get("last_accessed")) or _dt(row.get("created_at"))
    if last is None:
        return 1.0
    days = max(0.0, (now - last).total_seconds() / 86400.0)
    importance = float(row.get("importance") if row.get("importance") is not None else 0.5)
    strength = s0_days * (1 + int(row.get("access_count") or 0)) * (0.5 + max(0.0, importance))
    return math.exp(-days / strength)


def apply_retention(score: float, row: dict, now: datetime | None, weight: float) -> float:
    """Blend: score · ((1 − w) + w · R). w = 0 leaves the score as it was."""
    if weight <= 0:
        return score
    return score * ((1.0 - weight) + weight * retention(row, now))


def verbatim_sources(store, ids, max_depth: int = 3) -> dict[int, list[int]]:
    """id → the verbatim (non-derived) item ids it rests on; a verbatim item maps to itself."""
    ids = list(dict.fromkeys(ids))
    rows = store.get_items(ids)
    out: dict[int, list[int]] = {}
    pending: dict[int, list[int]] = {}
    for i in ids:
        row = rows.get(i)
        if row is None:
            continue
        if row["kind"] in DERIVED:
            pending[i] = [i]
        else:
            out[i] = [i]
    for _ in range(max_depth):
        if not pending:
            break
        frontier = {x for xs in pending.values() for x in xs}
        smap = store.sources_map(list(frontier))
        srows = store.get_items([s for xs in smap.values() for s in xs])
        nxt: dict[int, list[int]] = {}
        for i, xs in pending.items():
            found, deeper = out.setdefault(i, []), []
            for x in xs:
                for s in smap.get(x, []):
                    r = srows.get(s)
                    if r is None:
                        continue
                    if r["kind"] in DERIVED:
                        deeper.append(s)
                    elif s not in found:
                        found.append(s)
            if deeper:
                nxt[i] = deeper
        pending = nxt
    return out


def expand(store, hits: list, *, weight: float = 0.5, top: int = 20, now=None) -> list:
    """One-hop expansion: each of the ``top`` hits gives ``weight · score / √(fan-out)`` to its
    sources and linked items (added as new hits when not already found). Best first."""
    if not hits:
        return hits
    by_id = {h.id: h for h in hits}
    seeds = hits[:top]
    smap = store.sources_map([h.id for h in seeds])
    lmap = store.linked_ids([h.id for h in seeds])
    bonus: dict[int, float] = {}
    for h in seeds:
        nbrs = list(dict.fromkeys(smap.get(h.id, []) + [o for o, t in lmap.get(h.id, [])
                                                          if t != "supersedes"]))
        if not nbrs:
            continue
        share = weight * h.score / math.sqrt(len(nbrs))
        for n in nbrs:
            if n != h.id:
                bonus[n] = bonus.get(n, 0.0) + share
    new_rows = store.get_items([i for i in bonus if i not in by_id])
    for item_id, b in bonus.items():
        if item_id in by_id:
            by_id[item_id].score += b
        elif item_id in new_rows:
            row = new_rows[item_id]
            by_id[item_id] = hit_from_row(row, b * (SUPERSEDED_WEIGHT if row.get("valid_to")
                                                    else 1.0))
    out = sorted(by_id.values(), key=lambda h: (-h.score, h.id))
    return out
