"""Mixed memories: notes and chats compete fairly, and one chat cannot fill the first page.

The fixture (tests/fixtures/mixed, written for this project) is a small Obsidian-style vault of
daily notes and a JSONL file of chats: one long chat about moving to Porto (every line says
"Porto"), a short one about Lisbon, one about registering as a freelancer, one about sourdough.
The daily note of 2 March says "Need to register at the Porto health centre".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from memcli.core.models import Hit
from memcli.retrieval.diversity import cap_per_conversation
from memcli.retrieval.hybrid import matched_terms, query_terms, with_coverage

MIXED = Path(__file__).resolve().parent / "fixtures" / "mixed"
QUESTION = "What do I still need to register for in Porto?"


def hit(i: int, conv: str | None) -> Hit:
    return Hit(id=i, kind="message" if conv else "note", text=f"t{i}", score=1.0 / i,
               created_at="2026-01-01T00:00:00Z",
               source={"type": "jsonl", "conversation_id": conv, "message_id": str(i)})


def test_cap_demotes_a_conversation_over_the_cap_and_drops_nothing():
    hits = [hit(1, "a"), hit(2, "a"), hit(3, "a"), hit(4, "a"), hit(5, "a"), hit(6, None),
            hit(7, "b"), hit(8, "a")]
    out = cap_per_conversation(hits, top=5, cap=3)
    assert [h.id for h in out] == [1, 2, 3, 6, 7, 4, 5, 8]
    assert sorted(h.id for h in out) == sorted(h.id for h in hits)
    # notes (no conversation) are never capped; fewer hits than the top: the demoted ones last
    notes = [hit(i, None) for i in range(1, 5)]
    assert cap_per_conversation(notes, top=2, cap=1) == notes
    assert [h.id for h in cap_per_conversation(hits[:5], top=5, cap=2)] == [1, 2, 3, 4, 5]
    assert cap_per_conversation(hits, cap=0) == hits


def test_rare_word_coverage_weighs_the_rare_words():
    terms = query_terms(QUESTION)
    assert {"porto", "register"} <= set(terms) and "what" not in terms
    matched = {1: matched_terms(terms, {"text": "Need to register at the Porto health centre"}),
               2: matched_terms(terms, {"text": "Is public transport in Porto easy to use?"}),
               3: matched_terms(terms, {"text": "Porto in March is rainy.", "title": "Porto"}),
               4: matched_terms(terms, {"text": "Yes, take the metro."})}
    assert matched[1] >= {"porto", "register"} and matched[2] == {"porto"} and not matched[4]
    out = with_coverage({1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0}, matched, terms, weight=0.5)
    assert out[1] == 1.0 and out[4] == 0.5  # all the words / none of them
    assert out[1] > out[2] == out[3] > out[4]  # "porto" is common here: it weighs little
    assert with_coverage({1: 1.0}, matched, terms, weight=0.0) == {1: 1.0}


@pytest.fixture
def mixed(cli):
    code, _, err = cli("import", "markdown", MIXED / "vault")
    assert code == 0, err
    code, _, err = cli("import", "jsonl", MIXED / "chats.jsonl")
    assert code == 0, err
    return cli


def test_the_note_with_the_rare_words_is_in_the_top_3(mixed, cli_json):
    top = cli_json("search", QUESTION, "-n", "5")
    paths = [h["source"]["path"] or "" for h in top]
    assert any(p.endswith("2026-03-02.md") for p in paths[:3]), [h["text"][:40] for h in top]
    convs = [h["source"]["conversation_id"] for h in top if h["source"]["conversation_id"]]
    assert max(convs.count(c) for c in set(convs)) <= 3


def test_capped_chat_lines_are_still_reachable(mixed, cli_json):
    deep = cli_json("search", QUESTION, "-n", "50")
    porto = [h for h in deep if h["source"]["conversation_id"] == "porto-move"]
    assert len(porto) == 12  # every line of the Porto chat, the capped ones further down
    first5 = [h["source"]["conversation_id"] for h in deep[:5]]
    assert first5.count("porto-move") <= 3


def test_addressed_role_reads_who_the_question_is_about():
    from memcli.retrieval.hybrid import addressed_role, said_by

    assert addressed_role("Where do I currently keep my old sneakers?") == "user"
    assert addressed_role("What did you recommend for cleaning suede?") == "assistant"
    assert addressed_role("Could you remind me of the restaurant you suggested?") == "assistant"
    assert addressed_role("In our previous chat, which book was it?") == "assistant"
    assert addressed_role("When did Caroline go to the support group?") is None
    assert said_by({"role": None, "kind": "note"}, "user")  # a person's notes are theirs
    assert not said_by({"role": None, "kind": "note"}, "assistant")
    assert not said_by({"role": "Caroline", "kind": "message"}, "user")


def test_first_person_questions_prefer_the_persons_turns(make_memory, monkeypatch):
    import memcli.retrieval.hybrid as hybrid
    from memcli.core.models import NewItem

    monkeypatch.setattr(hybrid, "ROLE_BOOST", 0.5)
    mem = make_memory()
    lines = [("user", "My old sneakers need a new home, any storage ideas for sneakers?"),
             ("assistant", "For old sneakers try a shoe rack, clear boxes for sneakers, or hooks: "
                           "sneakers last longer when they breathe. Clean sneakers first."),
             ("user", "I put the old sneakers on the shoe rack in my closet."),
             ("assistant", "Great, a closet shoe rack keeps sneakers tidy.")]
    with mem.store.transaction():
        cid = mem.store.upsert_conversation("jsonl", "shoes", created_at="2026-01-01T00:00:00Z")
    mem.add_items([NewItem(text=t, kind="message", source="jsonl", role=r, position=n,
                           external_id=str(n), created_at=f"2026-01-01T00:0{n}:00Z")
                   for n, (r, t) in enumerate(lines)], conversation_id=cid)
    mine = mem.search("Where do I keep my old sneakers?", limit=4, diverse=False)
    assert [h.role for h in mine[:2]] == ["user", "user"]
    theirs = mem.search("What did you suggest for storing old sneakers?", limit=4, diverse=False)
    assert theirs[0].role == "assistant"
