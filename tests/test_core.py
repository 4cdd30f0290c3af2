"""Store, hybrid search and the one-shot commands, on the deterministic hashed embedder."""

import os
import stat

import pytest

from memcli.core.errors import ModelMismatch, NotFound
from memcli.core.models import Filters, NewItem
from memcli.retrieval.hybrid import fts_query


def test_add_search_show_roundtrip(mem):
    a = mem.remember("My sister Alice lives in Lisbon and works as an architect", tags=["family"])
    mem.remember("The boiler service is due every October", title="House")
    hits = mem.search("where does alice live?")
    assert hits[0].id == a
    assert hits[0].tags == ["family"]
    shown = mem.show(a)
    assert shown["text"].startswith("My sister Alice")
    assert shown["source"]["type"] == "cli"


@pytest.mark.parametrize("query", ["what's", "c++ AND OR NOT", '"unbalanced', "NEAR(", "*", "ü ß é"])
def test_fts_query_survives_punctuation(mem, query):
    mem.remember("what's up with c++ and ü")
    mem.search(query)  # must not raise an FTS5 syntax error


def test_fts_query_quotes_every_word():
    assert fts_query("what's the plan?") == '"plan"'
    assert fts_query("the") == '"the"'  # only stopwords: keep them
    assert fts_query('say "hi"') == '"say" OR "hi"'


def test_filters_by_kind_tag_and_date(mem):
    old = mem.remember("trip to Porto with friends", created_at="2022-03-01T10:00:00Z",
                       tags=["travel"])
    new = mem.remember("trip to Porto for work", created_at="2024-03-01T10:00:00Z")
    ids = [h.id for h in mem.search("porto trip", filters=Filters(since="2023-01-01T00:00:00Z"))]
    assert ids == [new]
    ids = [h.id for h in mem.search("porto trip", filters=Filters(until="2023-01-01T00:00:00Z"))]
    assert ids == [old]
    assert [h.id for h in mem.search("porto", filters=Filters(tags=["travel"]))] == [old]
    assert mem.search("porto", filters=Filters(kinds=["message"])) == []


def test_forget_leaves_no_trace(mem):
    keep = mem.remember("lasagne recipe uses ricotta")
    gone = mem.remember("my bank PIN hint is the cat's birthday")
    conn = mem.store.conn
    assert conn.execute("SELECT count(*) FROM items_fts WHERE rowid = ?", (gone,)).fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM items_vec WHERE item_id = ?", (gone,)).fetchone()[0] == 1
    assert mem.forget(gone) == [gone]
    assert conn.execute("SELECT count(*) FROM items WHERE id = ?", (gone,)).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM items_fts WHERE rowid = ?", (gone,)).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM items_fts WHERE items_fts MATCH 'PIN'").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM items_vec WHERE item_id = ?", (gone,)).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM item_tags WHERE item_id = ?", (gone,)).fetchone()[0] == 0
    assert all(h.id != gone for h in mem.search("bank PIN birthday cat"))
    assert mem.stats()["vectors"] == 1 and mem.stats()["fts_rows"] == 1
    with pytest.raises(NotFound):
        mem.forget(gone)
    assert mem.show(keep)


def test_forget_removes_every_note_derived_from_it(mem):
    """A note derived from A and B may repeat A's text: it goes too (issue 16), and B is queued
    for digest again so what it says is re-derived."""
    a = mem.remember("fact source A")
    b = mem.remember("fact source B")
    only_a = mem.remember("derived from A", kind="fact", source="digest")
    both = mem.remember("derived from A and B", kind="fact", source="digest")
    mem.store.add_sources(only_a, [a])
    mem.store.add_sources(both, [a, b])
    assert sorted(mem.forget(a)) == sorted([a, only_a, both])
    assert mem.show(b)["id"] == b


def test_model_mismatch_is_refused_until_reindex(home):
    from memcli.backends.fakes import HashEmbedder
    from memcli.services.memory import Memory

    with Memory(home, embedder=HashEmbedder(256)) as m:
        m.remember("hello world")
    with Memory(home, embedder=HashEmbedder(128)) as m:
        with pytest.raises(ModelMismatch, match="memcli reindex"):
            m.search("hello")
        with pytest.raises(ModelMismatch):
            m.remember("another")
        assert m.reindex() == 1
        assert m.search("hello")[0].text == "hello world"
        assert m.stats()["embedding_dim"] == 128


def test_duplicate_key_is_skipped(mem):
    ids = mem.add_items([NewItem("one", key="k1"), NewItem("two", key="k2")])
    again = mem.add_items([NewItem("one", key="k1"), NewItem("three", key="k3")])
    assert ids[0] and ids[1] and again[0] is None and again[1]
    assert mem.stats()["items"] == 3


def test_transaction_rolls_back_everything(mem):
    before = mem.stats()
    with pytest.raises(RuntimeError):
        with mem.store.transaction():
            mem.add_items([NewItem("will vanish")])
            raise RuntimeError("boom")
    assert mem.stats() == before


def test_files_are_private(mem, home):
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(home / "memcli.db").st_mode) == 0o600


# ---- CLI ----------------------------------------------------------------------------------------
def test_cli_add_search_json_contract(cli, cli_json):
    code, out, err = cli("add", "Dentist appointment moved to Friday 3pm", "--tag", "health")
    assert code == 0 and out.startswith("Remembered #")
    cli("add", "Buy oat milk and coffee beans", "--title", "Groceries")
    hits = cli_json("search", "when is the dentist?", "-n", "5")
    assert hits[0]["text"].startswith("Dentist")
    for hit in hits:
        assert {"id", "kind", "text", "score", "created_at", "source"} <= hit.keys()
        assert {"type", "conversation_id", "message_id", "path", "title"} <= hit["source"].keys()
    assert len(cli_json("search", "coffee", "-n", "1")) == 1


def test_cli_add_from_stdin(cli, cli_json):
    code, out, _ = cli("add", "-", "--title", "From pipe", input="piped text about kayaks\n")
    assert code == 0
    item = cli_json("show", out.split("#")[1].strip())
    assert item["text"] == "piped text about kayaks" and item["title"] == "From pipe"


def test_cli_errors_are_one_line_and_exit_1(cli):
    for args in (["show", "999"], ["show", "abc"], ["forget", "12345"], ["add", "   "],
                 ["search", "x", "--since", "not a date at all qq"], ["search", "x", "-n", "0"]):
        code, out, err = cli(*args)
        assert code == 1, args
        assert err.startswith("Error: ") and err.count("\n") == 1, (args, err)


def test_cli_stats_and_forget(cli, cli_json):
    cli("add", "first")
    cli("add", "second")
    assert cli_json("stats")["notes"] == 2
    assert cli_json("forget", "1") == {"removed": [1]}
    s = cli_json("stats")
    assert s["notes"] == 1 and s["vectors"] == 1 and s["fts_rows"] == 1


def test_cli_as_of_makes_relative_dates_relative(cli, cli_json):
    cli("add", "quarterly review notes", "--date", "2023-05-10")
    cli("add", "quarterly review again", "--date", "2023-07-10")
    hits = cli_json("search", "quarterly review", "--since", "last month", "--as-of", "2023-07-20")
    assert [h["text"] for h in hits] == ["quarterly review again"]


def test_bad_database_file_is_a_clear_error(home, cli):
    home.mkdir(parents=True)
    (home / "memcli.db").write_bytes(b"this is not sqlite" * 100)
    code, out, err = cli("stats")
    assert code == 1 and err.startswith("Error:") and err.count("\n") == 1


