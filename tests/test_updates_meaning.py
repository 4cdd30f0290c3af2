"""Attributes recognised by meaning (issue 14: services/digest/attributes.py): statements no slot
pattern knows get the attribute of the nearest prototype, only for the speaker's own statement of a
state or a change with a value of the attribute's kind; an attribute one has several of (hobby,
pet) is superseded only by a statement that says something changed."""

import json

import numpy as np
import pytest

from memcli.core.attribute_words import own_change
from memcli.retrieval import attribute_meaning
from memcli.services.digest.attributes import PROTOTYPES, classify, nearest
from memcli.services.digest.pipeline import digest
from tests.test_digest import add_conversation, facts

AXES = list(PROTOTYPES) + ["other"]


class AxisEmbedder:
    """Each prototype on its attribute's axis; any other text on the axis ``meaning`` gives it
    (a word it contains → attribute), else on 'other'. Stands in for a semantic embedder."""

    model_id = "axis-test"
    dim = len(AXES)

    def __init__(self, meaning: dict[str, str], tables: tuple = (PROTOTYPES,)):
        self.meaning = meaning
        self.proto = {t: a for table in tables for a, texts in table.items() for t in texts}

    def embed(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            attr = self.proto.get(t) or next(
                (a for w, a in self.meaning.items() if w.lower() in t.lower()), "other")
            out[i, AXES.index(attr)] = 1.0
            out[i, AXES.index("other")] += 0.3  # not exactly a prototype
            out[i] /= np.linalg.norm(out[i])
        return out


@pytest.fixture(autouse=True)
def _fresh_prototypes():
    attribute_meaning._CACHE.clear()
    yield
    attribute_meaning._CACHE.clear()


@pytest.mark.parametrize("sentence", [
    "Picked up the keys to our place in Nantes this morning!",
    "They made me staff engineer last month.",
    "I eat pescatarian now.",
])
def test_own_change_accepts_the_speakers_changes(sentence):
    assert own_change(sentence)


@pytest.mark.parametrize("sentence", [
    "My sister finally moved to Valencia with her boyfriend.",  # another person
    "We're thinking about moving to Seville someday.",  # a wish
    "Back in 2015 I lived in Marseille for a semester.",  # a distant past
    "They made me captain of the quiz team for the night.",  # passing
    "I visited Lisbon for a long weekend.",  # a visit
    "I don't work at Acme any more.",  # a negation
])
def test_own_change_rejects_others_wishes_and_the_past(sentence):
    assert not own_change(sentence)


def test_classify_needs_a_value_for_a_named_attribute():
    emb = AxisEmbedder({"keys": "residence", "boxes": "residence"})
    [v1, v2] = emb.embed(["User picked up the keys to User's place in Nantes.",
                          "User unpacked the boxes at last."])
    assert nearest(emb, v1)[0] == "residence"
    assert classify(emb, v1, "I picked up the keys to my place in Nantes.",
                    "User picked up the keys to User's place in Nantes.", "User") == \
        ("residence", "nantes")
    assert classify(emb, v2, "I unpacked the boxes at last.", "User unpacked the boxes at last.",
                    "User") is None  # no value


def test_classify_skips_a_name_addressed():
    emb = AxisEmbedder({"chatted": "partner"})
    note = "Hey Caroline, since we last chatted, Mel has had news."
    [v] = emb.embed([note])
    assert classify(emb, v, "Hey Caroline, since we last chatted, I have had news.", note,
                    "Mel") is None


def _digest(home, turns, meaning):
    from memcli.services.memory import Memory

    mem = Memory(home, embedder=AxisEmbedder(meaning))
    try:
        for n, (day, text) in enumerate(turns):
            add_conversation(mem, f"m{n}", [("user", text), ("assistant", "Noted, thanks.")],
                             day=day)
        digest(mem, use_llm=False)
        return {f["text"]: f for f in facts(mem)}
    finally:
        mem.close()


def test_an_event_without_topic_words_supersedes_by_meaning(tmp_path):
    got = _digest(tmp_path / "home", [
        ("2024-01-05", "Home is a little terraced house in Bilbao, we love the street."),
        ("2024-06-05", "Picked up the keys to our place in Nantes this morning!"),
    ], {"terraced": "residence", "keys": "residence"})
    old = next(f for t, f in got.items() if "Bilbao" in t)
    new = next(f for t, f in got.items() if "Nantes" in t)
    assert json.loads(new["meta"])["attributes"] == ["residence"]
    assert old["superseded_by"] == new["id"] and not new["superseded_by"]


def test_two_hobbies_both_stay_true_unless_one_replaced(tmp_path):
    got = _digest(tmp_path / "home", [
        ("2024-01-05", "My weekends are all about pottery with the Tuesday group."),
        ("2024-03-05", "Signed up for a bouldering course at Klimmhal and I love it."),
        ("2024-06-05", "Gave up the old hobby, I'm hooked on the Sailing Club now."),
    ], {"pottery": "hobby", "bouldering": "hobby", "hooked": "hobby"})
    pottery = next(f for t, f in got.items() if "pottery" in t)
    bouldering = next(f for t, f in got.items() if "bouldering" in t)
    assert all(json.loads(f["meta"]).get("by_meaning") for f in (pottery, bouldering))
    # the course adds a hobby (both true); "gave up the old hobby" replaces
    assert pottery["superseded_by"] != bouldering["id"]
    assert bouldering["superseded_by"] is not None


def test_a_semicolon_is_prose_not_code():
    from memcli.core.statements import is_prose

    assert is_prose("Said goodbye to the old car; the Skoda is parked outside now.")
    assert not is_prose("x = 1;")


def test_a_low_scoring_change_is_kept_only_when_its_meaning_places_it(tmp_path):
    got = _digest(tmp_path / "home", [
        ("2024-01-05", "Finance approved, the Nissan Leaf is ours."),  # below the note bar
        ("2024-02-05", "Finance approved, the Zebra Foods loan is ours."),  # placed nowhere
    ], {"Nissan": "car"})
    texts = " | ".join(got)
    assert "Nissan Leaf" in texts and "Zebra" not in texts
    leaf = next(f for t, f in got.items() if "Nissan" in t)
    assert json.loads(leaf["meta"])["attributes"] == ["car"]


def test_old_beside_a_present_word_asks_about_the_present():
    from memcli.retrieval.dates import asks_about_past

    assert not asks_about_past("Where do I currently keep my old sneakers?")
    assert asks_about_past("What was my old phone number?")


def test_a_figure_told_again_in_a_later_chat_comes_first(mem):
    """Long turns in two chats that hold the question's words (their vectors need not be close):
    the newest first for a question with no time words, the oldest for one about the past."""
    add_conversation(mem, "a", [
        ("user", "Planning a content calendar for the spring. By the way I just passed 1250 "
                 "followers on Instagram, which feels great for a small pottery account."),
        ("assistant", "Congratulations, that is a fine milestone.")], day="2024-03-01")
    add_conversation(mem, "b", [
        ("user", "Can you suggest captions for an event post? Also my Instagram followers are "
                 "at 1300 since the workshop went viral."),
        ("assistant", "Sure, here are some ideas.")], day="2024-05-01")
    first = [h for h in mem.search("How many followers do I have on Instagram?", limit=5)
             if h.kind == "message" and h.role == "user"][0]
    assert "1300" in first.text
    first = [h for h in mem.search("How many followers did I have on Instagram before?",
                                   limit=5) if h.kind == "message" and h.role == "user"][0]
    assert "1250" in first.text
