"""`forget` means gone: no byte of the forgotten text in memcli.db, -wal or -shm afterwards (SQLite
secure_delete, FTS5 secure-delete, the WAL truncated), derived notes that rest on the forgotten item
go whatever else they rest on (and are re-derived from what remains by the next digest), and a
fact the forgotten one had superseded is current again."""

import json

from memcli.core.models import NewItem
from memcli.services.digest.pipeline import digest

MARKER = "Quolvexaprint"  # one word, so its stem is itself in the FTS index


def raw_files(home):
    """name → bytes of the database file and its WAL and shared-memory files (when present)."""
    out = {}
    for suffix in ("", "-wal", "-shm"):
        p = home / f"memcli.db{suffix}"
        if p.exists():
            out[p.name] = p.read_bytes()
    return out


def copies(home, word: str) -> dict[str, int]:
    """How often ``word`` (or its tail: an FTS leaf stores a term after the prefix it shares
    with the previous one) occurs in each file, any case, UTF-8 or UTF-16."""
    probes = {word.lower(), word[3:].lower() if len(word) >= 10 else word.lower()}
    probes = {p.encode() for p in probes} | {p.encode("utf-16-le") for p in probes}
    return {name: sum(data.lower().count(p) for p in probes)
            for name, data in raw_files(home).items()}


def add_conversation(mem, ext_id, turns, day):
    conv = mem.store.upsert_conversation("jsonl", ext_id, title=f"Chat {ext_id}")
    mem.add_items([NewItem(text=t, kind="message", role=r, source="jsonl",
                           created_at=f"{day}T10:{i:02d}:00Z", external_id=str(i), position=i,
                           key=f"jsonl:{ext_id}:{i}") for i, (r, t) in enumerate(turns)],
                  conversation_id=conv)
    return conv


def fill(mem, n=200):
    for i in range(n):
        mem.remember(f"filler note {i} about tomatoes, the allotment and the weather")


def test_forgotten_note_and_its_derived_fact_leave_no_bytes(cli, home):
    code, _, err = cli("add", "filler about tomatoes and the allotment")
    assert code == 0, err
    code, out, _ = cli("add", f"My locker code word is {MARKER} and my home address is "
                       f"12 {MARKER} Street, flat 3B.", "--json")
    note = json.loads(out)["id"]
    for i in range(60):
        cli("add", f"another filler note {i} about the weather and the garden")
    assert cli("digest", "--no-llm")[0] == 0
    derived = json.loads(cli("show", note, "--json")[1]).get("backlinks", [])
    facts = [n for n in json.loads(cli("notes", "--all", "--json")[1])
             if note in (n.get("sources") or [])]
    assert facts, "the note was digested into a fact"
    assert sum(copies(home, MARKER).values()) > 0  # the probe sees the text while it is stored
    code, out, err = cli("forget", note, "--json")
    assert code == 0, err
    removed = json.loads(out)["removed"]
    assert removed[0] == note and {f["id"] for f in facts} <= set(removed), derived
    assert copies(home, MARKER) == {name: 0 for name in raw_files(home)}
    assert cli("search", MARKER, "--json")[1].count(MARKER) == 0
    assert cli("doctor")[0] == 0


def test_forgotten_message_leaves_no_bytes_on_a_busy_file(mem, home):
    fill(mem)
    add_conversation(mem, "c1", [("user", "Hi there!"),
                                 ("user", f"My passport number is {MARKER} 7781, keep it safe."),
                                 ("assistant", "Noted, I will keep it safe.")], "2024-01-05")
    digest(mem, use_llm=False)
    fill(mem, 50)
    msg = next(h.id for h in mem.search(MARKER) if h.kind == "message")
    mem.forget(msg)
    assert copies(home, MARKER) == {name: 0 for name in raw_files(home)}
    assert not mem.store.fts_search(f'"{MARKER}"', 5)


def test_existing_database_without_auto_vacuum_is_scrubbed_too(home, make_memory):
    """A memory created before this change has auto_vacuum off: freed pages stay in the file,
    zeroed by secure_delete."""
    from memcli.store.connection import sqlite_module

    home.mkdir(parents=True)
    sqlite_module().connect(str(home / "memcli.db")).close()  # an empty file: no auto_vacuum
    mem = make_memory()
    assert mem.store.conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    fill(mem)
    secret = mem.remember(f"the safe combination is {MARKER} " * 50)
    fill(mem, 20)
    mem.forget(secret)
    assert copies(home, MARKER) == {name: 0 for name in raw_files(home)}


def test_new_database_gives_freed_pages_back(mem, home):
    assert mem.store.conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    big = mem.remember(f"{MARKER} " + "lorem ipsum dolor sit amet " * 4000)
    mem.store.scrub()  # the note's pages into the file
    size = (home / "memcli.db").stat().st_size
    mem.forget(big)
    assert (home / "memcli.db").stat().st_size < size
    assert mem.store.conn.execute("PRAGMA freelist_count").fetchone()[0] == 0


def test_a_merged_fact_goes_with_either_source_and_is_re_derived_from_the_rest(mem):
    line = "I am allergic to peanuts and I always carry my epipen."
    a = add_conversation(mem, "a", [("user", line)], "2024-01-01")
    add_conversation(mem, "b", [("user", line)], "2024-02-01")
    digest(mem, use_llm=False)
    [fact] = [n for n in mem.store.list_derived(["fact"]) if "peanuts" in n["text"]]
    sources = mem.store.sources_of(fact["id"])
    msg_a = next(m["id"] for m in mem.store.conversation_messages(a))
    assert len(sources) == 2 and msg_a in sources
    removed = mem.forget(msg_a)
    assert fact["id"] in removed  # it also rested on b, but its text is a's as much as b's
    assert not [n for n in mem.store.list_derived(["fact"]) if "peanuts" in n["text"]]
    r = digest(mem, use_llm=False)  # b was queued again: the statement comes back from b alone
    assert r.conversations == 1
    [again] = [n for n in mem.store.list_derived(["fact"]) if "peanuts" in n["text"]]
    assert mem.store.sources_of(again["id"]) == [s for s in sources if s != msg_a]


def test_forgetting_the_successor_makes_the_superseded_fact_current_again(mem, home):
    add_conversation(mem, "old", [("user", "I live in Lisbon, in a small flat near the river.")],
                     "2023-03-01")
    new_conv = add_conversation(
        mem, "new", [("user", "Big news: I moved to Berlin last month for a new job.")],
        "2024-06-01")
    assert digest(mem, use_llm=False).superseded == 1
    facts = mem.store.list_derived(["fact"])
    old = next(n for n in facts if "Lisbon" in n["text"])
    new = next(n for n in facts if "Berlin" in n["text"])
    assert old["superseded_by"] == new["id"]
    msg = next(m["id"] for m in mem.store.conversation_messages(new_conv))
    removed = mem.forget(msg)
    assert new["id"] in removed
    shown = mem.show(old["id"])
    assert "superseded_by" not in shown and "valid_to" not in shown
    assert [n["id"] for n in mem.store.list_derived(["fact"], current_only=True)] == [old["id"]]
    assert not [b for b in shown.get("backlinks", []) if b["type"] == "supersedes"]
    last = shown["history"][-1]
    assert last["field"] == "valid_to" and last["new_value"] is None
    assert f"#{new['id']}" in last["reason"] and "current again" in last["reason"]
    assert "Berlin" not in json.dumps(shown)  # no quote of the forgotten fact is kept
    assert copies(home, "Berlin") == {name: 0 for name in raw_files(home)}


def test_forgetting_the_middle_of_a_chain_hands_over_to_the_next(mem):
    ids = []
    for year, city in (("2021", "Lisbon"), ("2022", "Porto"), ("2023", "Madrid")):
        add_conversation(mem, city, [("user", f"I live in {city} now, in a small flat.")],
                         f"{year}-03-01")
    digest(mem, use_llm=False)
    by_city = {c: next(n for n in mem.store.list_derived(["fact"]) if c in n["text"])
               for c in ("Lisbon", "Porto", "Madrid")}
    assert by_city["Lisbon"]["superseded_by"] == by_city["Porto"]["id"]
    assert by_city["Porto"]["superseded_by"] == by_city["Madrid"]["id"]
    ids = mem.forget(by_city["Porto"]["id"])
    assert ids == [by_city["Porto"]["id"]]
    lisbon = mem.show(by_city["Lisbon"]["id"])
    assert lisbon["superseded_by"] == by_city["Madrid"]["id"]
    assert lisbon["valid_to"] == by_city["Porto"]["valid_to"]
    assert any(b["id"] == by_city["Madrid"]["id"] and b["type"] == "supersedes"
               for b in lisbon["backlinks"])


def test_flat_3b_merged_into_3c_is_gone_after_forget_and_3c_comes_back(cli, home, mem):
    """The issue's case: the 3C note was merged into the 3B fact (what cosine ≥ 0.95 dedup did);
    forgetting the 3B note must not leave a fact saying 3B, and digest re-derives 3C."""
    b = json.loads(cli("add", "My home address is 12 Harbour Street, flat 3B.", "--json")[1])["id"]
    assert cli("digest", "--no-llm")[0] == 0
    c = json.loads(cli("add", "My home address is 12 Harbour Street, flat 3C.", "--json")[1])["id"]
    [fact] = [n for n in mem.store.list_derived(["fact"]) if "3B" in n["text"]]
    with mem.store.transaction():  # the merge: the 3B fact now also rests on the 3C note
        mem.store.add_sources(fact["id"], [c])
        mem.store.mark_digested("item", c)
    removed = json.loads(cli("forget", b, "--json")[1])["removed"]
    assert fact["id"] in removed
    texts = [r[0] for r in mem.store.conn.execute("SELECT text FROM items")]
    assert not [t for t in texts if "3B" in t]
    assert copies(home, "flat 3B") == {name: 0 for name in raw_files(home)}
    assert cli("digest", "--no-llm")[0] == 0
    current = mem.store.list_derived(["fact"], current_only=True)
    assert [n["text"] for n in current if "Harbour" in n["text"]] == [
        "User's home address is 12 Harbour Street, flat 3C."]
    hits = json.loads(cli("search", "home address", "--json")[1])
    assert hits and all("3B" not in h["text"] for h in hits)
