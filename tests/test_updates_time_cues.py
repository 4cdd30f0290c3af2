"""Words that place the value a question wants before now ("before", "previously", "former",
"no longer") steer which value of a changed fact comes first (retrieval/dates.asks_about_past) and
are no keyword terms (retrieval/dates.without_time_cues, retrieval/hybrid.TIME_CUE_KEYWORDS): the
statement of an older value never says them, so as terms they matched only lines that happen to
say "before". The present's words ("now", "currently") stay, and so do "first" and "used to",
which statements told looking back say too (issue 14, fifth round)."""

import pytest

from memcli.retrieval import hybrid
from memcli.retrieval.dates import asks_about_past, names_a_time, without_time_cues
from tests.test_digest import add_conversation


@pytest.mark.parametrize("question, keywords", [
    ("Which firm was I at before?", "Which firm was I at ?"),
    ("Who was my former employer?", "Who was my employer?"),
    ("Which diet did I follow previously?", "Which diet did I follow ?"),
    ("Where did I live prior to the latest move?", "Where did I live to the latest move?"),
    ("Which gym do I no longer go to?", "Which gym do I go to?"),
    # "first", "used to": "my first car", "I used to listen to Prince" (told looking back)
    ("What car did I drive first?", "What car did I drive first?"),
    ("What music did I use to listen to?", "What music did I use to listen to?"),
    ("What ways do Deborah and Jolene use to relax?", "What ways do Deborah and Jolene use to relax?"),
    # the present's words stay: "I'm at 1,300 followers now", "I'm currently reading …"
    ("Which firm am I at now?", "Which firm am I at now?"),
    ("What is my favourite band these days?", "What is my favourite band these days?"),
    # "old" and "ex" name a thing; a question of time words alone keeps them
    ("Where do I currently keep my old sneakers?", "Where do I currently keep my old sneakers?"),
    ("What was my old phone number?", "What was my old phone number?"),
    ("Who is my ex?", "Who is my ex?"),
    ("What did I do before?", "What did I do before?"),
    ("What is the weather like?", "What is the weather like?"),
])
def test_time_words_are_no_keyword_terms(question, keywords):
    assert without_time_cues(question) == keywords


def test_the_time_words_still_say_which_value_is_wanted():
    assert asks_about_past("Which firm was I at before?")
    assert not asks_about_past(without_time_cues("Which firm was I at before?"))
    assert names_a_time("Which firm am I at now?")


def _searched(mem, monkeypatch, question):
    seen = []
    search = mem.store.fts_search

    def recording(query, *args, **kwargs):
        seen.append(query)
        return search(query, *args, **kwargs)

    monkeypatch.setattr(mem.store, "fts_search", recording)
    hits = mem.search(question, limit=5)
    return seen, hits


def test_a_filler_line_that_says_before_does_not_match_the_question(mem, monkeypatch):
    add_conversation(mem, "a", [("user", "I work at Initech.")], day="2024-01-05")
    add_conversation(mem, "b", [("user", "Watered the tomatoes before the heatwave.")],
                     day="2024-06-05")
    add_conversation(mem, "c", [("user", "I work at Globex now.")], day="2024-09-05")
    seen, hits = _searched(mem, monkeypatch, "Where did I work before?")
    assert seen and all('"before"' not in q for q in seen)
    assert "tomatoes" not in hits[0].text
    assert [h.text for h in hits].index("I work at Initech.") < [h.text for h in hits].index(
        "Watered the tomatoes before the heatwave.")


def test_the_switch_puts_them_back(mem, monkeypatch):
    add_conversation(mem, "a", [("user", "I work at Initech.")], day="2024-01-05")
    monkeypatch.setattr(hybrid, "TIME_CUE_KEYWORDS", True)
    seen, _ = _searched(mem, monkeypatch, "Where did I work before?")
    assert any('"before"' in q for q in seen)
