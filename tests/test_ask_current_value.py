"""`memcli ask` tells the current value of a fact that changed even when its statement shares no
word with the question (issue 14): "Settled into our new place in Lyon" answers "Where do I
live?" before the older "I live in Leeds", which the question's words match. The search already
ranked it first (retrieval/attribute_query.lead_facts); the answer used to drop it as irrelevant
and quote only the stale line, or abstain. A question about something the memory never held still
abstains."""

import pytest

from memcli.services.ask import ask
from memcli.services.digest.pipeline import digest
from tests.test_digest import add_conversation
from tests.test_updates_attribute_query import AxisEmbedder
from tests.test_updates_meaning import _fresh_prototypes  # noqa: F401 - autouse here too

# "live" is near the residence prototypes; "place", "Lyon" are not: the newer statement is far
# from the question in meaning and shares none of its words
MEANING = {"live": "residence"}


@pytest.fixture
def mem(tmp_path):
    from memcli.services.memory import Memory

    m = Memory(tmp_path / "home", embedder=AxisEmbedder(MEANING))
    for n, (day, text) in enumerate([
        ("2023-05-05", "I live in Leeds with my partner."),
        ("2023-07-01", "The weather is awful today."),
        ("2023-09-23", "Settled into our new place in Lyon."),
        ("2023-10-02", "Made a big pot of soup tonight."),
    ]):
        add_conversation(m, f"c{n}", [("user", text), ("assistant", "Noted, thanks.")], day=day)
    yield m
    m.close()


def _lines(answer: str) -> list[str]:
    return [x for x in answer.splitlines() if x.strip()]


def test_the_current_value_is_told_first_and_the_old_one_as_earlier(mem):
    digest(mem, use_llm=False)
    now = mem.resolve_now("2024-12-01")
    hits = mem.search("Where do I live?", limit=5, now=now)
    assert "Lyon" in hits[0].text and hits[0].lifted  # the message the current fact rests on
    placed = [h for h in hits if h.placed]
    assert [h.kind for h in placed] == ["fact"] and "Lyon" in placed[0].text
    assert all(h.similarity < mem.config.ask_abstain_threshold for h in hits if "Lyon" in h.text)

    out = ask(mem, "Where do I live?", now=now, use_llm=False)
    assert not out.abstained
    lines = _lines(out.answer)
    assert "Lyon" in lines[0] and not lines[0].startswith("earlier")
    assert any(x.startswith("earlier") and "Leeds" in x for x in lines[1:])
    cited = " ".join(c.text for c in out.citations)
    assert "Lyon" in cited and "Leeds" in cited  # both statements, each cited


def test_a_question_the_memory_does_not_answer_still_abstains(mem):
    digest(mem, use_llm=False)
    # (a question prototype: the test embedder puts any other question on the filler's axis)
    out = ask(mem, "Which bank am I with?", now=mem.resolve_now("2024-12-01"), use_llm=False)
    assert out.abstained and out.citations == []


def test_only_a_fact_of_the_asked_attribute_counts_as_the_answer(mem):
    """Before digest nothing is placed: the far newer message is not quoted on its own
    strength (no fact says it is a residence), the matching older one is."""
    now = mem.resolve_now("2024-12-01")
    hits = mem.search("Where do I live?", limit=5, now=now)
    assert not any(h.placed for h in hits)
    out = ask(mem, "Where do I live?", now=now, use_llm=False)
    assert "Leeds" in out.answer and "Lyon" not in out.answer
