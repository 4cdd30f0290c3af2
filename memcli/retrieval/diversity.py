"""Diverse result lists: a cap on hits per conversation in the top of a ranking.

A chat that matches a question in many lines would otherwise fill the whole first page, hiding a
note or another conversation that answers it. The cap demotes, never drops: the hits over the cap
follow the top in their own order, so a longer list (``-n 50``) still holds every one of them.
"""

from __future__ import annotations

import re

from memcli.core.models import Hit

DIVERSE_TOP = 5  # the first results, where the cap holds (a wider top cost turn recall)
PER_CONVERSATION = 3  # hits of one conversation allowed in it
# A question that counts or adds up ("How many …", "how much … in total") gathers its answer from
# several conversations, so for it the cap holds over the first AGGREGATE_TOP (BENCHMARKS.md,
# issue 15); every other question keeps DIVERSE_TOP, since a wider cap cost single-chat questions.
AGGREGATE_TOP = 10
_AGGREGATES = re.compile(r"\b(?:how many|how much|in total|total)\b", re.IGNORECASE)


def diverse_top(query: str) -> int:
    """How many first results the per-conversation cap holds over for ``query``."""
    return AGGREGATE_TOP if _AGGREGATES.search(query or "") else DIVERSE_TOP


def conversation_key(hit: Hit) -> tuple | None:
    """What a hit is grouped by: its conversation (source type + external id); None for an item
    outside any conversation (a note, a derived fact), which is never capped."""
    conv = (hit.source or {}).get("conversation_id")
    return None if conv is None else ((hit.source or {}).get("type"), conv)


def cap_per_conversation(hits: list[Hit], *, top: int | None = None,
                         cap: int | None = None) -> list[Hit]:
    """``hits`` (best first) with at most ``cap`` of one conversation among the first ``top``;
    the others keep their order after those ``top`` (or at the end, when fewer fill it)."""
    top = DIVERSE_TOP if top is None else top
    cap = PER_CONVERSATION if cap is None else cap
    if cap <= 0 or top <= 0:
        return list(hits)
    head: list[Hit] = []
    later: list[Hit] = []
    taken: dict[tuple, int] = {}
    rest = iter(hits)
    for h in rest:
        key = conversation_key(h)
        if key is not None and taken.get(key, 0) >= cap:
            later.append(h)
            continue
        if key is not None:
            taken[key] = taken.get(key, 0) + 1
        head.append(h)
        if len(head) >= top:
            break
    return head + later + list(rest)
