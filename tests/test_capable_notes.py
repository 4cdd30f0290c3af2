"""A capable model names the attribute of each note it writes (issue 14): its own prompt and
schema (prompts/digest_notes_capable.md, the attribute names from
retrieval/attribute_meaning.PROTOTYPES), validated attributes place notes no rule placed and the
model judges the pairs they make; invalid attributes, someone else's news and a model that is not
capable place nothing. The bundled model's prompt and schema stay as they were."""

import json
import re

import pytest

from memcli.backends.fakes import FakeLLM
from memcli.retrieval.attribute_meaning import PROTOTYPES
from memcli.services.digest.extract import NOTE_SCHEMA, model_attribute
from memcli.services.digest.pipeline import digest
from memcli.services.prompts import messages as prompt_messages
from tests.test_digest import add_conversation, facts

ASKS_NOTES = "extract durable personal memories"  # both notes prompts' system line
ASKS_UPDATE = "updates an older one"  # prompts/digest_update.md
LINE = re.compile(r"^\[(\d+)\] [^:]+: (.*)$", re.M)

FALCORA = "Falcora pays my bills."
REDPINE = "Badge photo taken, officially part of Redpine now."
BROTHER = "My brother is now head of sales at Vodafone."
# what the model answers for each message: (note text, attribute, value)
NOTES = {FALCORA: ("Falcora pays User's bills.", "employer", "Falcora"),
         REDPINE: ("User is officially part of Redpine now.", "employer", "Redpine"),
         BROTHER: ("User's brother is now head of sales at Vodafone.", "employer", "Vodafone")}


def model(notes=None, relation="update"):
    """A scripted model: the notes prompt gets a note per known message (``notes``: message →
    (text, attribute, value)), the update prompt ``relation``, the rest nothing valid."""
    notes = NOTES if notes is None else notes

    def responder(messages):
        system = messages[0]["content"]
        if ASKS_UPDATE in system:
            return json.dumps({"relation": relation, "reason": "the model said so"})
        if ASKS_NOTES not in system:
            return "not json"  # summaries fall back to the extractive ones
        out = []
        for i, body in LINE.findall(messages[-1]["content"]):
            if body in notes:
                text, attribute, value = notes[body]
                out.append({"message": int(i), "text": text, "type": "fact", "keywords": [],
                            "context": "said in passing", "attribute": attribute,
                            "value": value})
        return json.dumps({"notes": out})
    return FakeLLM(responder)


def history(mem, later=REDPINE):
    add_conversation(mem, "a", [("user", FALCORA)], day="2024-01-05")
    add_conversation(mem, "b", [("user", later)], day="2024-06-05")


def one(mem, word):
    [f] = [f for f in facts(mem) if word in f["text"]]
    return f


def notes_calls(llm):
    return [c for c in llm.calls if ASKS_NOTES in c["messages"][0]["content"]]


def test_capable_model_gets_the_attribute_prompt_and_schema(mem):
    llm = model()
    history(mem)
    digest(mem, llm=llm, judge_updates=True)
    [call, *_] = notes_calls(llm)
    system = call["messages"][0]["content"]
    assert all(name in system for name in PROTOTYPES) and '"none"' in system
    props = call["json_schema"]["properties"]["notes"]["items"]["properties"]
    assert props["attribute"]["enum"] == [*PROTOTYPES, "none"]
    assert "value" in props and "attribute" not in \
        call["json_schema"]["properties"]["notes"]["items"]["required"]


def test_bundled_model_keeps_its_prompt_and_schema(mem):
    small = model()
    history(mem)
    digest(mem, llm=small)  # FakeLLM is not capable: the bundled model's prompt and schema
    [call, *_] = notes_calls(small)
    assert call["json_schema"] == NOTE_SCHEMA
    assert "attribute" not in NOTE_SCHEMA["properties"]["notes"]["items"]["properties"]
    user = call["messages"][-1]["content"]
    transcript = user.split("\n\n", 1)[1].rsplit("\n\nFor each memory", 1)[0]
    assert call["messages"] == prompt_messages("digest_notes", transcript=transcript,
                                               title="Chat a")
    assert "employer" not in call["messages"][0]["content"]


def test_model_attributes_place_notes_and_the_model_closes_the_older(mem):
    llm = model()
    history(mem)
    digest(mem, llm=llm, judge_updates=True)
    falcora, redpine = one(mem, "Falcora"), one(mem, "Redpine")
    for f, value in ((falcora, "falcora"), (redpine, "redpine")):
        meta = json.loads(f["meta"])
        assert meta["by_model"] and meta["attributes"] == ["employer"]
        assert meta["values"] == {"employer": value} and "employer" in f["tags"]
    assert falcora["superseded_by"] == redpine["id"]
    assert falcora["valid_to"] == redpine["created_at"] and redpine["valid_to"] is None
    asked = [c["messages"][-1]["content"] for c in llm.calls
             if ASKS_UPDATE in c["messages"][0]["content"]]
    assert any("Older note (2024-01-05): Falcora pays User's bills." in a and
               "Newer note (2024-06-05): User is officially part of Redpine now." in a
               for a in asked), asked
    shown = mem.show(falcora["id"])
    assert any(h["field"] == "valid_to" for h in shown["history"])
    hits = mem.search("Who do I work for currently?", limit=10)  # no word shared
    first = next(h for h in hits if "Falcora" in h.text or "Redpine" in h.text)
    assert "Redpine" in first.text


@pytest.mark.parametrize("relation", ["both_true", "unrelated"])
def test_the_model_decides_the_pair_it_placed(mem, relation):
    history(mem)
    digest(mem, llm=model(relation=relation), judge_updates=True)
    assert one(mem, "Falcora")["valid_to"] is None


def _nothing_placed(mem):
    assert not any(json.loads(f["meta"]).get("by_model") for f in facts(mem))
    assert one(mem, "Falcora")["valid_to"] is None


def test_a_model_that_is_not_capable_places_nothing(mem):
    history(mem)
    digest(mem, llm=model())  # the same answers, from a model that does not count as capable
    _nothing_placed(mem)


@pytest.mark.parametrize("later, note", [
    (REDPINE, ("User is officially part of Redpine now.", "salary", "Redpine")),  # not a name
    (REDPINE, ("User is officially part of Redpine now.", "employer", "Globex")),  # not said
    (REDPINE, ("User is officially part of Redpine now.", "employer", "x" * 81)),  # too long
    (BROTHER, NOTES[BROTHER]),  # someone else's news
])
def test_invalid_model_attributes_place_nothing(mem, later, note):
    history(mem, later)
    digest(mem, llm=model({**NOTES, later: note}), judge_updates=True)
    later_facts = [f for f in facts(mem) if f["created_at"].startswith("2024-06-05")]
    assert not any(json.loads(f["meta"]).get("by_model") for f in later_facts)
    assert one(mem, "Falcora")["valid_to"] is None


@pytest.mark.parametrize("raw, body, placed", [
    ({"attribute": "employer", "value": "Redpine"}, REDPINE, ("employer", "redpine")),
    ({"attribute": "residence", "value": "Lyon."}, "Finally unpacked the last boxes in Lyon.",
     ("residence", "lyon")),
    ({"attribute": "job", "value": "data engineer"}, "They made me data engineer last month.",
     ("job", "data engineer")),
    ({"attribute": "salary", "value": "Redpine"}, REDPINE, None),  # not a name digest knows
    ({"attribute": "none", "value": "Redpine"}, REDPINE, None),
    ({"attribute": "employer", "value": "Red"}, REDPINE, None),  # a part of a word
    ({"attribute": "employer", "value": ""}, REDPINE, None),
    ({"attribute": "employer"}, REDPINE, None),
    ({"attribute": "employer", "value": "Vodafone"}, BROTHER, None),  # someone else's news
    ({"attribute": "residence", "value": "Nice"}, "Maybe we should rent a house in Nice.",
     None),  # a plan
])
def test_model_attribute_validation(raw, body, placed):
    assert model_attribute(raw, body) == placed


def _fact(mem, text, day, **meta):
    from memcli.core.models import NewItem

    [i] = mem.add_items([NewItem(text=text, kind="fact", source="digest",
                                 created_at=f"{day}T10:00:00Z", key=f"t:{text}",
                                 meta={"subject": "User", **meta})])
    return mem.store.get_item(i)


@pytest.mark.parametrize("by_model, llm, asked", [(True, True, True), (True, False, False),
                                                  (False, True, False)])
def test_a_pair_the_model_placed_is_the_models_to_judge(mem, by_model, llm, asked):
    """Two instruments (several at once), the older placed by meaning and no word of a change:
    the guard drops the pair, unless the newer was placed by the capable model judging it."""
    from memcli.services.digest.llmio import LLMCounter
    from memcli.services.digest.updates import candidates, judge

    _fact(mem, "User practises the cello every evening.", "2024-01-05",
          attribute="instrument", attributes=["instrument"], values={"instrument": "cello"},
          by_meaning=True)
    row = _fact(mem, "User rented a banjo for the term.", "2024-06-05",
                attribute="instrument", attributes=["instrument"], values={"instrument": "banjo"},
                **({"by_model": True} if by_model else {}))
    fake = model() if llm else None
    pairs = candidates(mem.store, row, None, llm=fake)
    assert bool(pairs) is asked
    if asked:
        [pair] = pairs
        assert pair.verdict == "unrelated"  # closed only on the model's word
        [pair] = judge(fake, row, pairs, LLMCounter())
        assert pair.verdict == "update" and pair.method == "llm"
