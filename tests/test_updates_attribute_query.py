"""The attribute a question asks about, by meaning (issue 14, fourth round:
memcli/retrieval/attribute_query.py): the person's statements about that attribute lead a search
even when the question shares no word with them, newest first for the present, the one before the
newest for the past; wishes never lead; a question about someone else is left alone. Also the
wider reading of "the speaker's own statement" (core/attribute_words.own_change) and the cosine
guard on supersessions placed by meaning (services/digest/updates.close_when_by_meaning)."""

import numpy as np
import pytest

from memcli.core.attribute_words import own_change
from memcli.retrieval import attribute_meaning
from memcli.retrieval.attribute_meaning import PROTOTYPES
from memcli.retrieval.attribute_query import QUESTIONS, about_the_person, question_attribute
from memcli.services.digest.pipeline import digest
from tests.test_digest import add_conversation
from tests.test_updates_meaning import (
    AxisEmbedder as MeaningAxisEmbedder,
    _fresh_prototypes,  # noqa: F401 - autouse here too
)


class AxisEmbedder(MeaningAxisEmbedder):
    """tests/test_updates_meaning.py's stand-in for a semantic embedder, with the question
    prototypes on their attribute's axis too."""

    model_id = "axis-question-test"

    def __init__(self, meaning: dict[str, str]):
        super().__init__(meaning, tables=(PROTOTYPES, QUESTIONS))


@pytest.mark.parametrize("question,expected", [
    ("Which town is home these days?", True),  # no person at all: the person's own memory
    ("Where do I keep my money now?", True),
    ("What company is Rachel, an old colleague, working for?", False),  # someone else
    ("Where does she live now?", False),
    ("When did Caroline go to the support group?", False),
])
def test_only_questions_about_the_person_are_classified(question, expected):
    assert about_the_person(question) is expected


@pytest.mark.parametrize("sentence,expected", [
    ("Badge photo taken, officially part of Redpine now.", True),  # no person: the speaker's
    ("Lifting at Gymbox four mornings a week.", True),
    ("Kasper sold his bike and drives to work now.", False),  # a name and a verb
    ("Anna's new number is 0699 111 222.", False),  # someone's possession
    ("Mum's new doctor is Dr Patel.", False),
])
def test_a_sentence_without_a_person_is_the_speakers(sentence, expected):
    assert own_change(sentence) is expected


MONEY = {"salary": "bank", "account": "bank", "money": "bank", "bank": "bank", "savings": "bank"}


def _memory(home, turns, meaning):
    from memcli.services.memory import Memory

    mem = Memory(home, embedder=AxisEmbedder(meaning))
    for n, (day, role_text) in enumerate(turns):
        add_conversation(mem, f"m{n}", [("user", role_text), ("assistant", "Noted, thanks.")],
                         day=day)
    return mem


def _first_value(hits, values):
    for h in hits:
        found = [v for v in values if v in h.text]
        if found:
            return found[0]
    return None


def test_the_newest_statement_of_the_attribute_leads_a_present_question(tmp_path):
    mem = _memory(tmp_path / "home", [
        ("2023-03-05", "My salary lands in my Starling account."),
        ("2024-02-05", "We might switch banks next year, Revolut looks nice."),  # a wish
        ("2024-06-05", "Closed the old account; everything runs through Nordea now."),
        ("2024-09-05", "The tram was late again, the bank holiday timetable."),  # filler
    ], MONEY)
    try:
        values = ["Starling", "Revolut", "Nordea"]
        vec = mem.embedder.embed(["Where do I keep my money now?"])[0]
        assert question_attribute(mem.embedder, "Where do I keep my money now?", vec) == "bank"
        # a search never embeds the prototypes itself: digest keeps them in the store
        attribute_meaning._CACHE.clear()
        assert question_attribute(mem.embedder, "Where do I keep my money now?", vec,
                                  mem.store) is None
        attribute_meaning._CACHE.clear()
        digest(mem, use_llm=False)
        assert question_attribute(mem.embedder, "Where do I keep my money now?", vec,
                                  mem.store) == "bank"
        now = mem.resolve_now("2024-12-01")
        assert _first_value(mem.search("Where do I keep my money now?", limit=10, now=now),
                            values) == "Nordea"
        assert _first_value(mem.search("Where did I bank before?", limit=10, now=now),
                            values) == "Starling"
    finally:
        mem.close()


def test_a_question_about_someone_else_is_not_reordered(tmp_path, monkeypatch):
    mem = _memory(tmp_path / "home", [
        ("2023-03-05", "My salary lands in my Starling account."),
        ("2024-06-05", "Closed the old account; everything runs through Nordea now."),
    ], MONEY)
    try:
        from memcli.retrieval import hybrid

        calls = []
        monkeypatch.setattr(hybrid, "lead_facts", lambda *a, **k: calls.append(a) or a[2])
        mem.search("Where does Rachel keep her money now?", limit=5)
        assert calls == []
    finally:
        mem.close()


def test_a_pair_placed_by_meaning_must_also_be_close():
    """Both near "bank" by meaning, far from each other: no supersession; a pair placed by the
    slot patterns needs no such check."""
    import json

    from memcli.services.digest.updates import BY_MEANING_PAIR_MIN, close_when_by_meaning

    class Store:
        def __init__(self, vecs):
            self.vecs = vecs

        def approx_vectors(self, ids):
            return {i: self.vecs[i] for i in ids}

    salary = {"id": 1, "meta": json.dumps({"attributes": ["bank"]})}
    debit = {"id": 2, "meta": json.dumps({"attributes": ["bank"], "by_meaning": True})}
    far = Store({1: np.array([1.0, 0.0]), 2: np.array([0.1, 1.0])})
    near = Store({1: np.array([1.0, 0.0]), 2: np.array([1.0, 0.5])})
    assert 0.1 / np.hypot(0.1, 1.0) < BY_MEANING_PAIR_MIN
    assert not close_when_by_meaning(far, debit, salary)
    assert close_when_by_meaning(near, debit, salary)
    by_rule = {"id": 2, "meta": json.dumps({"attributes": ["bank"]})}
    assert close_when_by_meaning(far, by_rule, salary)


def test_a_past_question_never_lifts_the_only_statement(tmp_path, monkeypatch):
    """With one statement about the attribute (maybe the current value), a question about the
    past leaves the order as it was; two statements: the older one first."""
    from memcli.retrieval import hybrid

    mem = _memory(tmp_path / "home", [
        ("2024-06-05", "Closed the old account; everything runs through Nordea now."),
        ("2024-07-05", "The tram was late again this morning."),
    ], MONEY)
    try:
        digest(mem, use_llm=False)
        now = mem.resolve_now("2024-12-01")
        with_it = [h.id for h in mem.search("Where did I bank before?", limit=5, now=now)]
        monkeypatch.setattr(hybrid, "question_attribute", lambda *a, **k: None)
        without = [h.id for h in mem.search("Where did I bank before?", limit=5, now=now)]
        assert with_it == without
    finally:
        mem.close()


DIET = {"diet": "diet", "vegan": "diet", "vegetarian": "diet", "lentil": "diet"}


@pytest.mark.parametrize("routine, expected", [(None, "vegetarian"), (10**9, "vegan")])
def test_a_line_told_again_and_again_is_no_news(tmp_path, monkeypatch, routine, expected):
    """A line told in the same words in many conversations ("Made a huge pot of lentil soup.",
    near "diet" by meaning) counts from its first telling: its latest repetition is not the
    newest change, so a question about the past gets the value before the current one (issue
    14, fifth round). With the rule off (ROUTINE huge) the repetition passes for the newest."""
    from memcli.retrieval import attribute_query

    if routine is not None:
        monkeypatch.setattr(attribute_query, "ROUTINE", routine)
    soup = "Made a huge pot of lentil soup."
    mem = _memory(tmp_path / "home", [
        ("2023-01-05", soup),
        ("2023-03-05", "I eat vegetarian, so plan dinners around that."),
        ("2023-05-05", soup),
        ("2024-06-05", "Cut everything else out, strictly vegan these days."),
        ("2024-08-05", soup),
        ("2024-11-05", soup),
    ], DIET)
    try:
        digest(mem, use_llm=False)
        now = mem.resolve_now("2024-12-01")
        values = ["vegetarian", "vegan"]
        assert _first_value(mem.search("What diet did I follow before?", limit=10, now=now),
                            values) == expected
        assert _first_value(mem.search("What diet do I follow now?", limit=10, now=now),
                            values) == "vegan"
    finally:
        mem.close()
