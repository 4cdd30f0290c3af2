"""The question's own day ("tonight", "today") narrows `ask` only when the question is about what
already happened (BENCHMARKS.md, LongMemEval, issue 15)."""

from datetime import datetime, timezone

import pytest

from memcli.core.models import NewItem
from memcli.retrieval.dates import time_window
from memcli.services.ask import retrieve_for_question

NOW = datetime(2024, 3, 15, 21, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("question", [
    "I've got some free time tonight, any documentary recommendations?",
    "What should I cook tonight?",
    "any ideas for this evening?",
    "I need a plan for today",
])
def test_the_present_day_is_no_window(question):
    assert time_window(question, NOW) is None


@pytest.mark.parametrize("question", [
    "what did I eat today?", "who called this morning", "what happened today",
    "the tea I drank this morning", "notes from today", "what have I done today",
    "what I talked about this afternoon",
])
def test_a_past_event_of_today_is_a_window(question):
    w = time_window(question, NOW)
    assert w is not None and w.iso() == ("2024-03-15T00:00:00Z", "2024-03-16T00:00:00Z")


def test_yesterday_needs_no_past_cue():
    w = time_window("yesterday", NOW)
    assert w is not None and w.iso()[0] == "2024-03-14T00:00:00Z"


def test_ask_for_tonight_finds_what_was_said_days_ago(tmp_path):
    from memcli.backends.fakes import HashEmbedder
    from memcli.services.memory import Memory

    with Memory(tmp_path, embedder=HashEmbedder()) as mem:
        mem.add_items([
            NewItem(text="I loved the documentaries Free Solo and Our Planet", kind="note",
                    created_at="2024-03-10T12:00:00Z"),
            NewItem(text="Got free time? The documentary recommendations list is on the fridge",
                    kind="note",
                    created_at="2024-03-15T09:00:00Z"),
        ])
        hits, window, _ = retrieve_for_question(
            mem, "I've got free time tonight, any documentary recommendations?", limit=5,
            now=NOW)
    assert window is None
    assert any("Free Solo" in h.text for h in hits)
