"""Retrieval tuning: named speakers in what is embedded, neighbour turns in hybrid search."""

from memcli.core.models import NewItem, speaker_name
from memcli.services.memory import embed_text


def test_named_speakers_are_embedded_generic_roles_are_not():
    assert speaker_name("Caroline") == "Caroline"
    assert speaker_name("assistant") is None and speaker_name("User") is None
    assert speaker_name(None) is None and speaker_name("  ") is None
    assert embed_text(None, "I went to a support group", "Caroline") == \
        "Caroline: I went to a support group"
    assert embed_text(None, "Caroline: hi", "Caroline") == "Caroline: hi"  # no double prefix
    assert embed_text(None, "hello there", "user") == "hello there"
    assert embed_text("Trip", "booked it", "Mel") == "Trip\nMel: booked it"


def _chat(mem, cid, turns, day):
    conv = mem.store.upsert_conversation("jsonl", cid)
    return mem.add_items([
        NewItem(text=t, kind="message", source="jsonl", role=r, external_id=str(i), position=i,
                created_at=f"2024-03-{day:02d}T10:0{i}:00Z", key=f"jsonl:{cid}:{i}")
        for i, (r, t) in enumerate(turns)], conversation_id=conv)


def test_the_reply_next_to_a_matching_question_is_found(mem):
    ids = _chat(mem, "knee", [("user", "My knee hurts after running, what should I do?"),
                              ("assistant", "Ice it twice a day and rest for a week."),
                              ("user", "Thanks, I will.")], 1)
    for n in range(12):
        _chat(mem, f"other{n}", [("user", f"Notes on gardening topic {n}: tomatoes and basil"),
                                 ("assistant", f"Water the pots in the evening, batch {n}")], 2)
    hits = mem.search("knee hurts after running", limit=5)
    assert hits[0].id == ids[0]
    assert hits[1].id == ids[1], [h.text for h in hits]  # the advice, which shares no word
    # neighbours obey the filters: a date window that ends before the reply leaves it out
    f = mem.make_filters(until="2024-03-01T10:00:30Z")
    assert [h.id for h in mem.search("knee hurts after running", limit=5, filters=f)] == [ids[0]]


def test_neighbours_stay_inside_their_conversation(mem):
    a = _chat(mem, "a", [("user", "alpha one"), ("user", "alpha two")], 3)
    b = _chat(mem, "b", [("user", "beta one"), ("user", "beta two")], 3)
    nb = mem.store.turn_neighbours([a[0], a[1], b[0]])
    assert nb == {a[0]: [(a[1], 1)], a[1]: [(a[0], 1)], b[0]: [(b[1], 1)]}
    c = _chat(mem, "c", [("user", f"gamma {i}") for i in range(5)], 4)
    assert mem.store.turn_neighbours([c[2]], span=2) == {c[2]: [(c[0], 2), (c[1], 1), (c[3], 1),
                                                           (c[4], 2)]}
    note = mem.remember("a note outside any conversation")
    assert mem.store.turn_neighbours([note]) == {}
