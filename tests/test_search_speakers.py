"""Speaker awareness in hybrid search: a question naming a speaker favours that person's turns."""

import math

import numpy as np
import pytest

import memcli.retrieval.hybrid as search
from memcli.core.models import NewItem
from memcli.retrieval.hybrid import hybrid_search, named_speakers, without_names


def chat(mem, turns, ext="s1"):
    with mem.store.transaction():
        cid = mem.store.upsert_conversation("test", ext, title=ext,
                                            created_at="2024-01-01T00:00:00+00:00")
        mem.add_items([NewItem(text=text, kind="message", source="test", role=role,
                               created_at=f"2024-01-01T00:00:{i:02d}+00:00", position=i,
                               external_id=f"{ext}:{i}", key=f"test:{ext}:{i}")
                       for i, (role, text) in enumerate(turns)], conversation_id=cid)


def test_named_speakers_and_without_names():
    roles = {"Caroline", "Melanie", "user", "assistant", "Will", None}
    assert named_speakers("What did Caroline's mother paint?", roles) == {"Caroline"}
    assert named_speakers("What will Melanie and Caroline do?", roles) == {"Melanie", "Caroline"}
    assert named_speakers("What did the user ask the assistant?", roles) == set()  # generic roles
    assert named_speakers("Will it rain?", roles) == set()  # a name that is a stop word
    assert named_speakers("Where does Jon Doe live?", {"Jon Doe"}) == {"Jon Doe"}
    assert named_speakers("Where does Jon live?", {"Jon Doe"}) == {"Jon Doe"}  # first name
    assert without_names("What did Caroline's mother paint?", {"Caroline"}) == \
        "What did mother paint?"
    assert without_names("Who is Caroline?", {"Caroline"}) == "Who is Caroline?"  # nothing left


TURNS = [
    ("Melanie", "Caroline, I painted a sunset."),
    ("Caroline", "Lovely! Did it take long?"),
    ("Melanie", "Two afternoons. What about your week?"),
    ("Caroline", "Busy, but at the weekend I finally painted the old wooden porch at "
                 "my grandma's."),
    ("Melanie", "She will love it."),
    ("Caroline", "I hope so."),
]


@pytest.mark.parametrize("boost", [0.0, search.SPEAKER_BOOST])
def test_question_naming_a_speaker_prefers_their_turns(mem, monkeypatch, boost):
    monkeypatch.setattr(search, "SPEAKER_BOOST", boost)
    monkeypatch.setattr(search, "NEIGHBOUR_WEIGHT", 0.0)  # this signal alone, on a tiny chat
    chat(mem, TURNS)
    hits = hybrid_search(mem.store, mem.embedder, "What did Caroline paint?", limit=3)
    if boost:
        # Caroline's own line first; Melanie's line only *mentions* her name
        assert (hits[0].role, hits[0].text) == ("Caroline", TURNS[3][1])
    else:
        # without the signal the line that says "Caroline" (and "painted") wins
        assert hits[0].text == TURNS[0][1]


def test_similarity_is_that_of_the_whole_question(mem):
    chat(mem, TURNS)
    q = "What did Caroline paint?"
    hits = hybrid_search(mem.store, mem.embedder, q, limit=6)
    qv = np.asarray(mem.embedder.embed([q])[0], dtype=np.float32)
    vecs = mem.store.vectors_of([h.id for h in hits])
    for h in hits:
        if h.similarity is None:
            continue
        v = np.frombuffer(vecs[h.id], dtype=np.float32)
        expect = float(v @ qv) / (np.linalg.norm(v) * np.linalg.norm(qv))
        assert math.isclose(h.similarity, expect, abs_tol=2e-3)  # float16 copies


def test_queries_without_a_speaker_name_are_unchanged(mem, monkeypatch):
    chat(mem, TURNS)
    q = "painted a sunset over the lake"
    with_signal = [h.id for h in hybrid_search(mem.store, mem.embedder, q, limit=6)]
    monkeypatch.setattr(search, "SPEAKER_BOOST", 0.0)
    assert [h.id for h in hybrid_search(mem.store, mem.embedder, q, limit=6)] == with_signal
