"""reflect (deterministic and FakeLLM, including garbage), retrieval over the structure (retention,
expansion, verbatim mapping) and the digest/reflect/notes CLI."""

import json
import math
from datetime import datetime, timedelta, timezone

import pytest

from memcli.backends.fakes import FakeLLM
from memcli.core.errors import MemcliError
from memcli.retrieval.graph import expand, retention, verbatim_sources
from memcli.retrieval.recall import recall_verbatim
from memcli.services.digest.pipeline import digest
from memcli.services.reflect import reflect
from tests.test_digest import CONV1, add_conversation

RUNNING = [
    ("user", "I started running in the park every morning before work."),
    ("user", "My running shoes are worn out, I bought new trail running shoes."),
    ("user", "I signed up for a running club that meets on Sundays."),
    ("user", "I plan to run a half marathon in October."),
    ("user", "I decided to learn Spanish before the trip to Madrid."),
]


def _setup(mem):
    add_conversation(mem, "run", RUNNING, day="2024-03-01")
    add_conversation(mem, "old", [("user", "I live in Lisbon near the castle.")], day="2023-01-01")
    add_conversation(mem, "new", [("user", "I moved to Berlin in May for a new job.")],
                     day="2024-06-01")
    digest(mem, use_llm=False)


def _assert_cites_two_existing_notes(mem):
    refl = mem.store.list_derived(["reflection"])
    assert refl
    for r in refl:
        cited = mem.store.sources_of(r["id"])
        assert len(cited) >= 2
        rows = mem.store.get_items(cited)
        assert len(rows) == len(cited) and all(x["kind"] == "fact" for x in rows.values())
    return refl


def test_deterministic_reflections_cite_two_notes_and_are_idempotent(mem):
    _setup(mem)
    rep = reflect(mem, use_llm=False)
    assert rep.mode == "deterministic" and rep.reflections >= 2
    refl = _assert_cites_two_existing_notes(mem)
    texts = " ".join(r["text"] for r in refl)
    assert "Recurring theme" in texts and "running" in texts
    assert "Changed (residence)" in texts and "Berlin" in texts
    assert reflect(mem, use_llm=False).reflections == 0  # nothing new → nothing written


def test_llm_reflection_valid_is_used_and_prompt_lists_notes(mem):
    _setup(mem)
    notes = mem.store.list_derived(["fact"], limit=60, current_only=True)
    run_idx = [i for i, n in enumerate(notes) if "running" in n["text"].lower()][:2]
    reply = json.dumps({"insights": [
        {"type": "pattern", "text": "User keeps returning to running: club, shoes and park.",
         "notes": run_idx},
        {"type": "pattern", "text": "User loves sailing boats on the ocean.", "notes": run_idx},
        {"type": "open_loop", "text": "User plans a half marathon in October.", "notes": [0, 999]},
    ]})
    llm = FakeLLM([reply])
    rep = reflect(mem, llm=llm)
    assert rep.mode == "llm" and rep.llm.accepted == 1
    assert "running" in llm.calls[0]["messages"][-1]["content"]
    refl = _assert_cites_two_existing_notes(mem)
    texts = [r["text"] for r in refl]
    assert "User keeps returning to running: club, shoes and park." in texts
    assert not any("sailing" in t for t in texts)  # ungrounded: dropped
    assert not any(t.startswith("User plans a half") for t in texts)  # one real note: dropped


@pytest.mark.parametrize("garbage", ["nonsense", '{"insights": [{"type": "pattern"}]}',
                                     '{"insights": [{"type": "pattern", "text": "User runs a '
                                     'lot in the park.", "notes": [999, 1000]}]}'])
def test_llm_garbage_falls_back_to_rules(mem, garbage):
    _setup(mem)
    rep = reflect(mem, llm=FakeLLM([garbage]))
    assert rep.reflections >= 2 and rep.llm.accepted == 0
    refl = _assert_cites_two_existing_notes(mem)
    assert any("Recurring theme" in r["text"] for r in refl)


# ---- retrieval over the structure ---------------------------------------------------------------
def test_retention_follows_the_forgetting_curve():
    now = datetime(2024, 6, 1, tzinfo=timezone.utc)
    fresh = {"created_at": "2024-06-01T00:00:00Z", "access_count": 0, "importance": 0.5}
    month = {"created_at": "2024-05-02T00:00:00Z", "access_count": 0, "importance": 0.5}
    assert retention(fresh, now) == pytest.approx(1.0)
    assert retention(month, now) == pytest.approx(math.exp(-30 / 30.0))
    used = dict(month, access_count=3)
    important = dict(month, importance=1.0)
    assert retention(used, now) > retention(month, now) < retention(important, now)
    recalled = dict(month, last_accessed="2024-05-31T00:00:00Z")
    assert retention(recalled, now) > 0.95  # recalling it resets the clock
    future = {"created_at": (now + timedelta(days=3)).isoformat()}
    assert retention(future, now) == 1.0


def test_hits_map_back_to_verbatim_messages(mem):
    add_conversation(mem, "c1", CONV1)
    digest(mem, use_llm=False)
    rep = reflect(mem, use_llm=False)
    fact = next(n for n in mem.store.list_derived(["fact"]) if "Lisbon" in n["text"])
    msgs = {m["id"]: m for m in mem.store.conversation_messages(
        mem.store.find_conversation("jsonl", "c1")["id"])}
    vmap = verbatim_sources(mem.store, [fact["id"], *rep.ids, *list(msgs)[:1]])
    assert [msgs[i]["external_id"] for i in vmap[fact["id"]]] == ["2"]
    for rid in rep.ids:  # reflection → facts → messages
        assert vmap[rid] and all(i in msgs for i in vmap[rid])
    first = list(msgs)[0]
    assert vmap[first] == [first]


def test_recall_verbatim_and_expand_use_the_notes(mem):
    add_conversation(mem, "c1", CONV1)
    digest(mem, use_llm=False)
    hits = recall_verbatim(mem, "Where does the user live?", limit=3)
    assert hits and all(h.kind == "message" for h in hits)
    assert "Lisbon" in hits[0].text
    plain = mem.search("Lisbon cat", limit=3)
    fact_hit = next(h for h in plain if h.kind == "fact")
    expanded = expand(mem.store, [fact_hit])
    src = mem.store.sources_of(fact_hit.id)[0]
    assert any(h.id == src for h in expanded)
    structured = mem.search("Lisbon cat", limit=10, structure=True)
    assert any(h.id == src for h in structured)


# ---- the services the front ends call ----------------------------------------------------------------
def test_list_notes_and_write_reflections_for_any_front_end(mem):
    from memcli.services.notes import list_notes, write_reflections

    _setup(mem)
    facts = list_notes(mem, kinds=["FACT"])
    assert facts and {n["kind"] for n in facts} == {"fact"}
    assert all(n["sources"] and not n["superseded_by"] for n in facts)
    assert set(facts[0]) == {"id", "kind", "text", "title", "created_at", "tags", "keywords",
                             "context", "type", "sources", "valid_to", "superseded_by"}
    assert any(n["superseded_by"] for n in list_notes(mem, kinds=["fact"], include_superseded=True))
    assert len(list_notes(mem, limit=1)) == 1
    report, written = write_reflections(mem, use_llm=False)
    assert [w["id"] for w in written] == report.ids and len(written) >= 2
    assert all(w["kind"] == "reflection" and len(w["sources"]) >= 2 for w in written)
    assert {n["id"] for n in list_notes(mem, kinds=["reflection"])} == set(report.ids)
    with pytest.raises(MemcliError, match="at least 1"):
        list_notes(mem, limit=0)
    with pytest.raises(MemcliError, match="at least 2"):
        write_reflections(mem, limit=1)


# ---- CLI ------------------------------------------------------------------------------------------
def test_cli_digest_notes_show_reflect(cli, cli_json, mem):
    _setup(mem)  # digest already ran through the library; add more through the CLI
    add_conversation(mem, "more", [("user", "My favorite coffee is a flat white from Bonanza.")],
                     day="2024-07-01")
    out = cli_json("digest", "--no-llm")
    assert out["conversations"] == 1 and out["notes"] >= 1 and out["mode"] == "deterministic"
    code, text, err = cli("digest", "--no-llm")
    assert code == 0 and "Nothing new" in text
    notes = cli_json("notes", "--kind", "fact")
    assert notes and all(n["kind"] == "fact" and n["sources"] for n in notes)
    assert not any(n["superseded_by"] for n in notes)  # current facts only by default
    everything = cli_json("notes", "--kind", "fact", "--all")
    old = next(n for n in everything if n["superseded_by"])
    code, text, err = cli("show", old["id"])
    assert code == 0 and "superseded_by:" in text and "history:" in text
    shown = cli_json("show", old["id"])
    assert shown["history"][0]["field"] == "valid_to"
    refl = cli_json("reflect", "--no-llm")
    assert refl["reflections"] >= 2
    assert all(len(r["sources"]) >= 2 for r in refl["reflections_written"])
    code, text, err = cli("notes", "--kind", "reflection")
    assert code == 0 and "reflection" in text


def test_cli_bad_input(cli):
    code, out, err = cli("digest", "--limit", "0")
    assert code == 1 and err.startswith("Error:") and "--limit" in err
    code, out, err = cli("notes", "-n", "0")
    assert code == 1 and err.startswith("Error:")
    code, out, err = cli("reflect", "--limit", "1", "--no-llm")
    assert code == 1 and "at least 2" in err
    code, out, err = cli("digest", "--no-llm")
    assert code == 0 and "Nothing new" in out
