"""Turn-level ranking (issue 15): a conversation's opening turns get a fair neighbour boost, and a
question that counts or adds up holds the per-conversation cap over a wider first page."""

from __future__ import annotations

import pytest

from memcli.core.models import NewItem
from memcli.retrieval import hybrid
from memcli.retrieval.diversity import AGGREGATE_TOP, DIVERSE_TOP, diverse_top


class _Chat:
    """A stand-in store: one conversation of ``n`` turns with ids 0..n-1 at positions 0..n-1."""

    def __init__(self, n: int):
        self.n = n

    def turn_neighbours(self, ids, filters=None, span=1):
        return {i: [(j, abs(j - i)) for j in range(max(0, i - span), min(self.n, i + span + 1))
                    if j != i] for i in ids}


def test_the_opening_turn_gains_from_its_side_but_not_past_its_lender(monkeypatch):
    fused = {i: 1.0 for i in range(5)}
    rows = {i: {"position": i} for i in range(5)}
    out = hybrid.with_neighbours(_Chat(5), fused, weight=0.5, rows=dict(rows))
    # equal turns: the opening one counts its one side twice (1 + 1.5), turn 1 (no turn two
    # before it) is scaled up to the full span (1 + 1.5), each just below the best turn lending
    # to it (turn 2: 2.5); the last turns (goodbyes, as often as not) are left as they are
    assert out[2] == 2.5 and out[0] == pytest.approx(0.99 * 2.5) == out[1]
    assert out[4] == 1.0 + 0.5 + 0.25 and out[3] == 1.0 + 0.5 + 0.5 + 0.25
    monkeypatch.setattr(hybrid, "EDGE_FILL", 0.0)  # the boost as it was: openings got about half
    plain = hybrid.with_neighbours(_Chat(5), fused, weight=0.5, rows=dict(rows))
    assert plain[0] == 1.75 < out[0] and plain[1] == 2.25 < out[1]
    assert plain[2] == out[2] and plain[4] == out[4]
    monkeypatch.setattr(hybrid, "EDGE_FILL", 2.0)
    # "Hi there!" opens a chat whose next line holds the searched word: the fill would have lifted
    # the greeting (1 + 2 × 0.5 × 3 = 4) above that line (3 + 0.5 × 1); it stays just below it
    chat = hybrid.with_neighbours(_Chat(2), {0: 1.0, 1: 3.0}, weight=0.5,
                                  rows={0: {"position": 0}, 1: {"position": 1}})
    assert chat[1] == 3.5 and chat[0] == pytest.approx(0.99 * 3.5)


def test_counting_questions_widen_the_capped_top():
    assert diverse_top("How many doctor's appointments did I go to in March?") == AGGREGATE_TOP
    assert diverse_top("How much did I spend on books in total?") == AGGREGATE_TOP
    assert diverse_top("What is the total cost of the repairs?") == AGGREGATE_TOP
    assert diverse_top("Where do I keep my sneakers?") == DIVERSE_TOP
    assert diverse_top("somehow manyfold") == DIVERSE_TOP  # words, not substrings


def _chat(mem, cid, texts, day):
    conv = mem.store.upsert_conversation("jsonl", cid)
    return mem.add_items([
        NewItem(text=t, kind="message", source="jsonl", role="user", external_id=str(i),
                position=i, created_at=f"2024-03-{day:02d}T10:{i:02d}:00Z", key=f"jsonl:{cid}:{i}")
        for i, t in enumerate(texts)], conversation_id=conv)


def test_a_counting_question_gets_several_chats_in_its_first_ten(mem):
    _chat(mem, "long", [f"I ran a marathon race again, story part {i}" for i in range(12)], 1)
    for n in range(4):
        _chat(mem, f"other{n}", [f"Another marathon race I ran in city {n}",
                                 f"Unrelated chatter about lunch {n}"], 2 + n)
    counting = mem.search("How many marathon races did I run?", limit=10)
    convs = [h.source["conversation_id"] for h in counting]
    assert convs.count("long") <= 3 and len(set(convs)) >= 4, convs
    plain = [h.source["conversation_id"]
             for h in mem.search("Tell me about the marathon races I ran", limit=10)]
    assert plain[:5].count("long") <= 3  # the default cap: the first 5 only
    deep = mem.search("How many marathon races did I run?", limit=50)
    assert sum(h.source["conversation_id"] == "long" for h in deep) == 12  # demoted, not dropped
