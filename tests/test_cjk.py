"""CJK and other unsegmented scripts are findable by their words: the gram index (core/scripts.py,
table items_grams) kept in step with items on insert, tags, forget and doctor, filled for an
existing memory by its migration; a Latin query never reads it."""

import json

import pytest

from memcli.core.scripts import gram_query, gram_text, has_unsegmented
from memcli.services.maintenance import diagnose, repair


def test_grams_of_a_run_and_of_a_query():
    assert gram_text("my 护照 is here") == "护 照 护照"
    assert gram_text("plain latin text") == ""
    assert gram_query("护照") == '"护照"'
    assert gram_query("我的护照") == '"我的" OR "的护" OR "护照"'
    assert gram_query("猫") == '"猫"'
    assert not has_unsegmented("Crème brûlée, naïve café") and has_unsegmented("여권")


def test_search_finds_a_chinese_word_inside_a_sentence(cli):
    for text in ("今天天气很好，我们去公园散步吧", "护士在医院工作了十年", "我的护照放在书桌左边的抽屉里"):
        assert cli("add", text)[0] == 0
    code, out, err = cli("search", "护照", "--json")
    assert code == 0, err
    hits = json.loads(out)
    assert hits[0]["text"] == "我的护照放在书桌左边的抽屉里"
    # a longer query ranks the item holding more of its bigrams first
    hits = json.loads(cli("search", "护照在哪里", "--json")[1])
    assert hits[0]["text"].startswith("我的护照")


@pytest.mark.parametrize("doc,query", [
    ("パスポートは机の引き出しにあります", "パスポート"),
    ("어제 여권을 서랍에 넣어 두었어요", "여권"),
    ("ฉันเก็บหนังสือเดินทางไว้ในลิ้นชัก", "หนังสือเดินทาง"),
    ("Meeting notes: 会议在星期三下午三点", "星期三"),
])
def test_other_unsegmented_scripts_and_mixed_text(mem, doc, query):
    target = mem.remember(doc)
    mem.remember("a note about the weather in Lisbon")
    mem.remember("今天天气很好")
    assert mem.search(query)[0].id == target


def test_gram_rows_follow_insert_tags_and_forget(mem, home):
    plain = mem.remember("nothing unsegmented here")
    cjk = mem.remember("我的护照在抽屉里")

    def rows():
        return {r[0] for r in mem.store.conn.execute("SELECT rowid FROM items_grams")}

    assert rows() == {cjk}
    mem.store.set_tags(plain, ["旅行"])
    assert rows() == {cjk, plain}
    assert mem.search("旅行")[0].id == plain
    mem.store.set_tags(plain, [])
    assert rows() == {cjk}
    mem.forget(cjk)
    assert rows() == set()
    assert not mem.store.gram_search('"护照"', 5)
    data = (home / "memcli.db").read_bytes()
    assert "护照".encode() not in data


def test_migration_fills_the_gram_index_of_an_existing_memory(home, make_memory):
    mem = make_memory()
    cjk = mem.remember("我的护照在抽屉里")
    mem.remember("an English note")
    mem.store.conn.execute("DROP TABLE items_grams")
    mem.store.conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_grams'")
    mem.close()
    again = make_memory()
    assert [r[0] for r in again.store.conn.execute("SELECT rowid FROM items_grams")] == [cjk]
    assert again.search("护照")[0].id == cjk


def test_doctor_finds_and_fixes_a_missing_or_extra_gram_row(mem):
    cjk = mem.remember("我的护照在抽屉里")
    plain = mem.remember("an English note")
    mem.store.conn.execute("DELETE FROM items_grams WHERE rowid = ?", (cjk,))
    mem.store.conn.execute("INSERT INTO items_grams(rowid, grams) VALUES (?, '护 照')", (plain,))
    report = diagnose(mem, embedder=mem.embedder)
    lines = [p.line() for p in report.problems]
    assert any("gram-index" in line and f"{cjk}" in line for line in lines), lines
    assert any("no such item" in line for line in lines), lines
    assert repair(mem, embedder=mem.embedder).ok
    assert mem.search("护照")[0].id == cjk
    assert {r[0] for r in mem.store.conn.execute("SELECT rowid FROM items_grams")} == {cjk}


def test_a_latin_query_never_reads_the_gram_index(mem, monkeypatch):
    mem.remember("my passport is in the left drawer")
    mem.remember("我的护照在抽屉里")

    def boom(*a, **k):
        raise AssertionError("gram index read for a Latin query")

    monkeypatch.setattr(type(mem.store), "gram_search", boom)
    assert mem.search("passport drawer")[0].text.startswith("my passport")
