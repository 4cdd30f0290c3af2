"""digest: notes, summaries, provenance, idempotence, resumability, supersession, dedupe, links,
LLM validation (FakeLLM, including garbage) and the deterministic mode."""

import json

import numpy as np
import pytest

from memcli.backends.fakes import FakeLLM
from memcli.core.models import NewItem
from memcli.services.digest.pipeline import DERIVED_KINDS, Digester, check, digest

CONV1 = [
    ("user", "Hi there!"),
    ("assistant", "Hello! How can I help you today?"),
    ("user", "I live in Lisbon with my cat Miso and I work at Acme as a data engineer."),
    ("assistant", "Nice to meet you. What do you need?"),
    ("user", "I decided to learn Rust this year and I plan to finish the Rust book by March."),
    ("assistant", "Great plan, the Rust book is a good start."),
    ("user", "My favorite food is ramen, I eat it every Friday with my sister Ana."),
    ("assistant", "Sounds delicious."),
]


def add_conversation(mem, ext_id, turns, *, day="2024-01-05", title=None, start=0):
    conv = mem.store.upsert_conversation("jsonl", ext_id, title=title or f"Chat {ext_id}")
    items = [NewItem(text=t, kind="message", role=r, source="jsonl",
                     created_at=f"{day}T10:{(start + i) % 60:02d}:00Z", external_id=str(start + i),
                     position=start + i, key=f"jsonl:{ext_id}:{start + i}")
             for i, (r, t) in enumerate(turns)]
    mem.add_items(items, conversation_id=conv)
    return conv


def facts(mem, current_only=False):
    return mem.store.list_derived(["fact"], current_only=current_only)


def test_deterministic_digest_writes_grounded_notes_with_sources(mem):
    add_conversation(mem, "c1", CONV1)
    report = digest(mem, use_llm=False)
    assert report.mode == "deterministic" and report.conversations == 1
    assert report.messages == len(CONV1)
    notes = facts(mem)
    texts = " | ".join(n["text"] for n in notes)
    assert "User lives in Lisbon" in texts and "Rust" in texts and "ramen" in texts
    assert "Hello" not in texts  # nothing from greetings or the assistant
    for n in notes:
        srcs = mem.store.get_items(mem.store.sources_of(n["id"]))
        assert srcs and all(s["kind"] == "message" and s["role"] == "user" for s in srcs.values())
        # event time = the time of the message it came from
        assert n["created_at"] == min(s["created_at"] for s in srcs.values())
        meta = json.loads(n["meta"])
        assert meta["keywords"] and meta["context"].startswith("User said this on 2024-01-05")
        assert meta["type"] in ("fact", "preference", "event", "decision")
        assert n["tags"]
    summaries = mem.store.list_derived(["summary"])
    assert len(summaries) == 1
    assert len(mem.store.sources_of(summaries[0]["id"])) == len(CONV1)
    assert check(mem.store) == {"derived_without_sources": 0, "duplicate_facts": 0}
    shown = mem.show(notes[0]["id"])
    assert shown["sources"] and shown["keywords"] and shown["context"]


def test_digest_is_incremental_and_idempotent(mem):
    conv = add_conversation(mem, "c1", CONV1)
    first = digest(mem, use_llm=False)
    n_items = mem.store.counts()["items"]
    again = digest(mem, use_llm=False)
    assert (again.conversations, again.notes, again.summaries) == (0, 0, 0)
    assert mem.store.counts()["items"] == n_items
    # new messages in the same conversation: only they are digested
    more = [("user", "I adopted a second cat called Pixel from the shelter in Lisbon.")]
    mem.add_items([NewItem(text=more[0][1], kind="message", role="user", source="jsonl",
                           created_at="2024-02-01T09:00:00Z", position=len(CONV1),
                           key="jsonl:c1:new")], conversation_id=conv)
    third = digest(mem, use_llm=False)
    assert third.conversations == 1 and third.messages == 1 and third.notes >= 1
    assert first.notes + third.notes == len(facts(mem))
    assert any("Pixel" in n["text"] for n in facts(mem))


def test_interrupted_digest_resumes_without_duplicates(mem, monkeypatch):
    add_conversation(mem, "c1", CONV1)
    add_conversation(mem, "c2", [("user", "I bought a red bicycle for commuting to the office.")],
                     day="2024-01-09")
    real = Digester.write_notes
    calls = {"n": 0}

    def flaky(self, cands, msgs, vecs=None):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # Ctrl-C while the second conversation is being written
        return real(self, cands, msgs, vecs)

    monkeypatch.setattr(Digester, "write_notes", flaky)
    with pytest.raises(KeyboardInterrupt):
        digest(mem, use_llm=False)
    done = facts(mem)
    assert done and not any("bicycle" in n["text"] for n in done)  # c2 rolled back entirely
    monkeypatch.setattr(Digester, "write_notes", real)
    report = digest(mem, use_llm=False)
    assert report.conversations == 1  # only c2 left
    assert any("bicycle" in n["text"] for n in facts(mem))
    assert check(mem.store)["duplicate_facts"] == 0


def test_limit_and_remaining(mem):
    for i in range(3):
        add_conversation(mem, f"c{i}", [("user", f"I visited museum number {i} in Porto today.")])
    r = digest(mem, use_llm=False, limit=2)
    assert r.conversations == 2 and r.remaining == 1
    r = digest(mem, use_llm=False)
    assert r.conversations == 1 and r.remaining == 0


def test_changed_fact_is_superseded_and_ranks_below_current(mem):
    add_conversation(mem, "old", [("user", "I live in Lisbon, in a small flat near the river.")],
                     day="2023-03-01")
    add_conversation(mem, "new", [("user", "Big news: I moved to Berlin last month for a new job.")],
                     day="2024-06-01")
    r = digest(mem, use_llm=False)
    assert r.superseded == 1
    old = next(n for n in facts(mem) if "Lisbon" in n["text"])
    new = next(n for n in facts(mem) if "Berlin" in n["text"])
    assert old["superseded_by"] == new["id"] and old["valid_to"] == new["created_at"]
    assert new["valid_to"] is None
    shown = mem.show(old["id"])  # the old fact is kept, with its history
    assert shown["superseded_by"] == new["id"]
    assert any(h["field"] == "valid_to" for h in shown["history"])
    assert any(b["id"] == new["id"] and b["type"] == "supersedes" for b in shown["backlinks"])
    hits = mem.search("where does the user live", kinds=None) if False else \
        mem.search("where does the user live Lisbon Berlin", filters=mem.make_filters(kinds=["fact"]))
    order = [h.id for h in hits]
    assert order.index(new["id"]) < order.index(old["id"])
    assert mem.store.list_derived(["fact"], current_only=True)[0]["id"] != old["id"]


def test_older_fact_digested_later_is_the_superseded_one(mem):
    add_conversation(mem, "new", [("user", "I moved to Berlin in May and love it.")],
                     day="2024-06-01")
    digest(mem, use_llm=False)
    add_conversation(mem, "old", [("user", "I live in Lisbon near the castle.")], day="2023-01-01")
    digest(mem, use_llm=False)
    old = next(n for n in facts(mem) if "Lisbon" in n["text"])
    new = next(n for n in facts(mem) if "Berlin" in n["text"])
    assert old["superseded_by"] == new["id"] and new["superseded_by"] is None


def test_exact_and_near_duplicates_merge_keeping_provenance(mem):
    line = "I am allergic to peanuts and I always carry my epipen."
    add_conversation(mem, "a", [("user", line)], day="2024-01-01")
    add_conversation(mem, "b", [("user", line)], day="2024-02-01")
    add_conversation(mem, "c", [("user", line.replace("epipen.", "EpiPen!"))], day="2024-03-01")
    r = digest(mem, use_llm=False)
    peanut = [n for n in facts(mem) if "peanuts" in n["text"]]
    assert len(peanut) == 1 and r.merged == 2
    assert len(mem.store.sources_of(peanut[0]["id"])) == 3
    assert [h["field"] for h in mem.show(peanut[0]["id"])["history"]] == ["sources", "sources"]
    assert check(mem.store)["duplicate_facts"] == 0


def test_new_note_links_to_related_note_and_neighbour_tags_evolve(mem):
    add_conversation(mem, "a", [("user", "I started training for the Berlin marathon in April.")],
                     day="2024-01-01")
    add_conversation(mem, "b", [("user", "My marathon training plan has four runs every week.")],
                     day="2024-02-01")
    r = digest(mem, use_llm=False, link_min_sim=0.2)
    assert r.links >= 1
    a = next(n for n in facts(mem) if "Berlin" in n["text"])
    b = next(n for n in facts(mem) if "four runs" in n["text"])
    shown_b = mem.show(b["id"])
    link = next(link for link in shown_b["links"] if link["id"] == a["id"])
    assert link["type"] == "related" and "marathon" in link["reason"]
    assert any(x["id"] == b["id"] for x in mem.show(a["id"])["backlinks"])


def test_evolution_records_history():
    from memcli.services.digest.organise import evolve_tags

    class FakeStore:
        def __init__(self):
            self.tags = {1: ["berlin"], 2: ["marathon-training", "berlin"]}
            self.hist = []

        def tags_of(self, ids):
            return {i: self.tags[i] for i in ids}

        def set_tags(self, i, tags):
            self.tags[i] = list(tags)

        def add_history(self, *a):
            self.hist.append(a)

    s = FakeStore()
    assert evolve_tags(s, 1, {"id": 2}, ["marathon"]) == 1
    assert "marathon-training" in s.tags[1] and s.hist[0][1] == "tags"


# ---- with an LLM -----------------------------------------------------------------------------
def _notes_reply(notes):
    return json.dumps({"notes": notes})


def test_llm_notes_are_used_when_valid_and_grounded(mem):
    add_conversation(mem, "c1", CONV1)

    def responder(messages):
        text = messages[-1]["content"]
        if "[2] User:" in text:  # the notes prompt saw the numbered transcript
            return _notes_reply([
                {"message": 2, "text": "User lives in Lisbon and works at Acme.", "type": "fact",
                 "keywords": ["Lisbon", "Acme"], "context": "introducing themselves"},
                {"message": 2, "text": "User lives in Paris with three dogs.", "type": "fact",
                 "keywords": ["Paris"], "context": "hallucinated"},
                {"message": 99, "text": "User likes ramen very much indeed.", "type": "preference",
                 "keywords": [], "context": "bad index"},
                {"message": 3, "text": "I plan to finish the Rust book by March.",
                 "type": "decision", "keywords": ["Rust"], "context": "wrong message number"},
            ])
        return json.dumps({"title": "Intro", "summary": "User lives in Lisbon and works at Acme."})

    llm = FakeLLM(responder)
    r = digest(mem, llm=llm)
    assert r.mode == "llm" and r.llm.calls >= 2 and r.llm.accepted >= 1
    texts = [n["text"] for n in facts(mem)]
    assert "User lives in Lisbon and works at Acme." in texts
    assert not any("Paris" in t for t in texts)  # ungrounded: rejected
    assert not any("ramen very much" in t for t in texts)  # not said anywhere: rejected
    # a wrong message number is credited to the message that says it; "I" becomes the speaker
    rust = next(n for n in facts(mem) if n["text"] == "User plans to finish the Rust book by March.")
    assert [mem.store.get_item(s)["text"] for s in mem.store.sources_of(rust["id"])] == [CONV1[4][1]]
    # messages the model covered get no rule notes; the others still do
    assert not any(t.startswith("User lives in Lisbon with") for t in texts)
    assert any("Rust" in t for t in texts) and any("ramen" in t for t in texts)
    llm_note = next(n for n in facts(mem) if n["text"].startswith("User lives in Lisbon and"))
    assert json.loads(llm_note["meta"])["method"] == "llm"
    summary = mem.store.list_derived(["summary"])[0]
    assert summary["text"] == "User lives in Lisbon and works at Acme."
    prompts = [c["messages"][-1]["content"] for c in llm.calls]
    assert any("I live in Lisbon with my cat Miso" in p for p in prompts)


@pytest.mark.parametrize("garbage", [
    "not json at all", '{"notes": [', '{"notes": "lots"}', '[1, 2, 3]',
    '{"notes": [{"message": "two", "text": 5}]}', '{"title": "", "summary": "' + "x" * 30 + '"}',
])
def test_llm_garbage_never_corrupts_memory(mem, garbage):
    add_conversation(mem, "c1", CONV1)
    llm = FakeLLM([garbage])
    r = digest(mem, llm=llm)
    assert r.conversations == 1 and r.llm.calls >= 1 and r.llm.accepted == 0
    baseline_home_notes = {n["text"] for n in facts(mem)}
    assert any("Lisbon" in t for t in baseline_home_notes)  # the rule notes filled in
    for row in mem.store.list_derived(list(DERIVED_KINDS)):
        assert "x" * 20 not in row["text"] and row["text"].strip()
    assert check(mem.store)["derived_without_sources"] == 0


def test_llm_that_raises_falls_back(mem):
    add_conversation(mem, "c1", CONV1)

    def boom(messages):
        raise RuntimeError("model crashed")

    r = digest(mem, llm=FakeLLM(boom))
    assert r.llm.errors >= 1 and r.notes >= 3


def test_unloadable_llm_is_reported_and_digest_still_runs(mem, monkeypatch):
    add_conversation(mem, "c1", CONV1)

    class Broken:
        @property
        def llm(self):
            raise RuntimeError("no model file")

    from memcli.services.digest import llmio

    model, why = llmio.llm_of(Broken(), True)
    assert model is None and "no model file" in why


# ---- segmentation and summaries -----------------------------------------------------------------
def test_segments_cut_at_topic_change():
    from memcli.services.digest.segment import segment

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=16), rng.normal(size=16)
    vecs = [a + 0.1 * rng.normal(size=16) for _ in range(14)] + \
           [b + 0.1 * rng.normal(size=16) for _ in range(14)]
    vecs = np.array([v / np.linalg.norm(v) for v in vecs], dtype=np.float32)
    spans = segment(vecs, min_len=5)
    assert spans[0][0] == 0 and spans[-1][1] == 28
    assert any(abs(e - 14) <= 1 for _, e in spans[:-1])
    assert segment(vecs[:6]) == [(0, 6)]


def test_long_conversation_gets_segment_summaries(mem):
    cooking = [("user", f"For dinner I cooked pasta with tomato sauce and basil, attempt {i}.")
               for i in range(14)]
    travel = [("user", f"My train trip to Vienna leaves from the central station, day {i}.")
              for i in range(14)]
    add_conversation(mem, "long", cooking + travel)
    r = digest(mem, use_llm=False)
    assert r.segments >= 2
    seg = [s for s in mem.store.list_derived(["summary"]) if json.loads(s["meta"])["scope"] ==
           "segment"]
    assert len(seg) >= 2
    for s in seg:
        assert mem.store.sources_of(s["id"])


def test_standalone_notes_are_digested_once(mem):
    mem.remember("I prefer window seats on long flights and I always book them early.")
    r = digest(mem, use_llm=False)
    assert r.items == 1 and any("window seats" in n["text"] for n in facts(mem))
    assert digest(mem, use_llm=False).items == 0


def test_speaker_names_replace_first_person(mem):
    conv = mem.store.upsert_conversation("locomo", "s1", title="Session 1")
    mem.add_items([
        NewItem(text="I went to a LGBTQ support group yesterday and it was so powerful.",
                kind="message", role="user", source="locomo", position=0,
                created_at="2023-05-08T13:56:00Z", meta={"speaker": "Caroline"}, key="l:0"),
        NewItem(text="Melanie: I painted a sunrise over the lake last year.", kind="message",
                role="assistant", source="locomo", position=1, created_at="2023-05-08T13:57:00Z",
                key="l:1"),
    ], conversation_id=conv)
    digest(mem, use_llm=False)
    by_text = {n["text"]: n for n in facts(mem)}
    caroline = next(t for t in by_text if t.startswith("Caroline went to a LGBTQ support group"))
    assert "2023-05-07" in json.loads(by_text[caroline]["meta"])["context"]  # "yesterday"
    assert any(t.startswith("Melanie painted a sunrise") for t in by_text)


def test_ask_prefers_the_current_fact(mem):
    from memcli.services.ask import ask

    add_conversation(mem, "old", [("user", "I live in Lisbon, in a small flat near the river.")],
                     day="2023-03-01")
    add_conversation(mem, "new", [("user", "Big news: I moved to Berlin last month for a new job.")],
                     day="2024-06-01")
    digest(mem, use_llm=False)
    new = next(n for n in facts(mem) if "Berlin" in n["text"])
    old = next(n for n in facts(mem) if "Lisbon" in n["text"])
    mem.config.ask_abstain_threshold = 0.0  # the hashed test embedder has low similarities
    answer = ask(mem, "Where does the user live now, Lisbon or Berlin?", use_llm=False)
    assert answer.hits[0].id == new["id"]
    # the quotes are the person's own messages (the facts only restate them): the one the current
    # fact rests on first, the one behind the superseded fact after it, marked "earlier"
    new_msg, old_msg = mem.store.sources_of(new["id"]), mem.store.sources_of(old["id"])
    cited = [c.id for c in answer.citations]
    assert cited[0] in new_msg and new["id"] not in cited
    if old_msg[0] in cited:
        assert cited.index(old_msg[0]) > 0
        assert "earlier, 2023-03-01" in answer.answer.splitlines()[cited.index(old_msg[0])]


def test_llm_link_judgement_when_enabled(mem):
    add_conversation(mem, "a", [("user", "I started training for the Berlin marathon in April.")],
                     day="2024-01-01")
    digest(mem, use_llm=False)
    add_conversation(mem, "b", [("user", "My marathon training plan has four runs every week.")],
                     day="2024-02-01")

    def responder(messages):
        content = messages[-1]["content"]
        if "Note A:" in content:
            return json.dumps({"relation": "supports", "reason": "same marathon training"})
        return "garbage"

    llm = FakeLLM(responder)
    r = digest(mem, llm=llm, llm_links=True, link_min_sim=0.2)
    assert any("Note A:" in c["messages"][-1]["content"] for c in llm.calls)
    b = next(n for n in facts(mem) if "four runs" in n["text"])
    link = mem.show(b["id"])["links"][0]
    assert link["type"] == "supports" and link["reason"].startswith("same marathon training")
    assert r.llm.accepted >= 1


# ---- on real exports (../shared/samples, read at run time; skipped when absent) -------------------
def test_digest_real_exports_keeps_the_invariants(mem):
    from conftest import shared_path

    samples = shared_path("samples")
    if not samples.is_dir():
        pytest.skip("../shared/samples is absent")
    from memcli.services.ingest import import_path

    import_path(mem, "chatgpt", samples / "chatgpt" / "chatgpt2graph.json")
    import_path(mem, "claude", samples / "claude" / "context-carry_conversations.json")
    n_convs = mem.store.counts()["conversations"]
    r = digest(mem, use_llm=False)
    assert r.conversations == n_convs and r.remaining == 0
    assert check(mem.store) == {"derived_without_sources": 0, "duplicate_facts": 0}
    for n in mem.store.list_derived(list(DERIVED_KINDS)):
        srcs = mem.store.get_items(mem.store.sources_of(n["id"]))
        assert srcs and all(s["kind"] == "message" for s in srcs.values())
        if n["kind"] == "fact":  # personal notes only from what the user said
            assert all(s["role"] == "user" for s in srcs.values())
    assert digest(mem, use_llm=False).conversations == 0


@pytest.mark.parametrize("before,after,attr", [
    ("I work at Acme as a backend developer in the payments team.",
     "I got a new job at Stripe, starting in the infrastructure group.", "employer"),
    ("My phone number is 555-0101 if you need to reach me.",
     "My new phone number is 555-0199, the old one is gone.", "phone"),
    ("My favorite band is Radiohead, I listen to them daily.",
     "My favorite band is Khruangbin these days, on repeat.", "favorite:band"),
])
def test_supersession_for_other_attributes(mem, before, after, attr):
    add_conversation(mem, "a", [("user", before)], day="2023-01-01")
    add_conversation(mem, "b", [("user", after)], day="2024-01-01")
    digest(mem, use_llm=False)
    notes = facts(mem)
    old = next(n for n in notes if n["created_at"].startswith("2023"))
    new = next(n for n in notes if n["created_at"].startswith("2024"))
    assert json.loads(old["meta"])["attribute"] == attr
    assert old["superseded_by"] == new["id"] and new["valid_to"] is None


def test_unrelated_facts_do_not_supersede(mem):
    add_conversation(mem, "a", [("user", "I live in Lisbon near the castle.")], day="2023-01-01")
    add_conversation(mem, "b", [("user", "My sister lives in Porto with her two kids.")],
                     day="2024-01-01")
    digest(mem, use_llm=False)
    assert all(n["valid_to"] is None for n in facts(mem))


def test_model_calls_do_not_hold_the_write_lock(mem, home):
    """While the (slow, real) model thinks, other processes must still be able to write: the
    digest asks the model first and writes afterwards in one short transaction."""
    from memcli.backends.fakes import HashEmbedder
    from memcli.services.memory import Memory

    add_conversation(mem, "c1", CONV1)
    other = Memory(home, embedder=HashEmbedder())
    other.store.conn.execute("PRAGMA busy_timeout = 300")  # fail fast instead of waiting 30 s
    written = []

    def responder(messages):
        written.append(other.remember(f"written while the model runs {len(written)}"))
        return "not json"  # garbage: the rules take over

    try:
        digest(mem, llm=FakeLLM(responder))
    finally:
        other.close()
    assert written and all(written)
    assert check(mem.store)["duplicate_facts"] == 0


def test_a_fact_keeps_its_speaker_so_questions_naming_them_find_it(mem):
    conv = mem.store.upsert_conversation("locomo", "s2", title="Session 2")
    mem.add_items([
        NewItem(text="I started learning the cello last month and I love it.", kind="message",
                role="Caroline", source="locomo", position=0, created_at="2023-05-08T13:56:00Z",
                key="c:0"),
        NewItem(text="That is wonderful, keep practising!", kind="message", role="Melanie",
                source="locomo", position=1, created_at="2023-05-08T13:57:00Z", key="c:1"),
    ], conversation_id=conv)
    digest(mem, use_llm=False)
    notes = facts(mem)
    assert notes and all(n["role"] in ("Caroline", "Melanie") for n in notes)
    cello = next(n for n in notes if "cello" in n["text"])
    assert cello["role"] == "Caroline"
    hits = mem.search("What instrument is Caroline learning?", limit=5)
    assert any(h.id == cello["id"] for h in hits)


def test_units_are_embedded_together_and_written_one_transaction_each(mem, monkeypatch):
    """The deterministic digest embeds several conversations' new texts in one batch (the int8
    path runs a dozen short texts at a third of its bulk speed), then writes each conversation in
    its own transaction: a failure while writing the second keeps the first."""
    add_conversation(mem, "c1", CONV1)
    add_conversation(mem, "c2", [("user", "I bought a red bicycle for commuting to the office.")],
                     day="2024-01-09")
    calls = []
    real_embed = mem.embedder.embed
    monkeypatch.setattr(mem.embedder, "embed", lambda texts: calls.append(list(texts))
                        or real_embed(texts))
    digest(mem, use_llm=False)
    both = [c for c in calls if any("Lisbon" in t for t in c) and any("bicycle" in t for t in c)]
    assert len(both) == 1  # one batch held the notes of both conversations
    assert any("bicycle" in n["text"] for n in facts(mem))
    assert any("Lisbon" in n["text"] for n in facts(mem))


def test_near_index_finds_the_neighbours_the_store_scan_finds(mem):
    """A digest run holds the derived notes' vectors in memory (organise.NearIndex): its
    neighbours are the store's exact scan's, and notes written during the run join it."""
    from memcli.services.digest.organise import NearIndex, neighbours

    add_conversation(mem, "c1", CONV1)
    add_conversation(mem, "c2", [("user", "I bought a red bicycle for commuting to the office."),
                                 ("user", "My sister Ana moved to Porto for a new job.")],
                     day="2024-01-09")
    digest(mem, use_llm=False)
    index = NearIndex.load(mem.store, mem.embedder.dim)
    derived = mem.store.list_derived(["fact", "summary"])
    assert index is not None and sorted(index.ids) == sorted(r["id"] for r in derived)
    for q in ["Where does the user live?", "bicycle commute", "Ana Porto job", "ramen Friday"]:
        v = mem.embedder.embed([q])[0]
        want = neighbours(mem.store, v, 4)
        got = neighbours(mem.store, v, 4, index=index)
        assert np.allclose([s for _, s, _ in got], [s for _, s, _ in want], atol=1e-5)
        last = want[-1][1] + 1e-5  # below it, equal scores may come in either order
        assert [(i, k) for i, s, k in got if s > last] == [(i, k) for i, s, k in want if s > last]
        assert sum(s > last for _, s, _ in want) >= 1
    new = mem.embedder.embed(["bicycle commute"])[0]
    index.add(10_000, "fact", new)
    assert index.search(new, 1)[0][0] == 10_000


def test_near_index_is_not_built_past_its_size_limit(mem, monkeypatch):
    import memcli.services.digest.organise as organise

    add_conversation(mem, "c1", CONV1)
    digest(mem, use_llm=False)
    monkeypatch.setattr(organise, "NEAR_INDEX_MAX", 1)
    assert organise.NearIndex.load(mem.store, mem.embedder.dim) is None
    # the digest still runs on the store's scan
    add_conversation(mem, "c2", [("user", "I bought a red bicycle for commuting to the office.")],
                     day="2024-01-09")
    assert digest(mem, use_llm=False).notes >= 1


def test_near_index_sees_notes_other_processes_write_and_drops_removed_ones(mem):
    from memcli.services.digest.organise import NearIndex, neighbours

    add_conversation(mem, "c1", CONV1)
    digest(mem, use_llm=False)
    index = NearIndex.load(mem.store, mem.embedder.dim)
    before = len(index.ids)
    add_conversation(mem, "c2", [("user", "I bought a red bicycle for commuting to the office.")],
                     day="2024-01-09")
    digest(mem, use_llm=False)  # as another process would, while this index is held
    assert index.refresh(mem.store) and len(index.ids) > before
    assert len(set(index.ids)) == len(index.ids)  # nothing read twice
    v = mem.embedder.embed(["red bicycle commuting office"])[0]
    [(top, _, _)] = neighbours(mem.store, v, 1, index=index)
    assert "bicycle" in mem.store.get_item(top)["text"]
    mem.forget(top)  # removed by someone else: the index still holds its vector
    assert top in index.known and not mem.store.get_items([top])
    assert all(i != top for i, _, _ in neighbours(mem.store, v, 3, index=index))
