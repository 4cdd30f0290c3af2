"""The keyword search primitive (store/items.py ``fts_search``/``gram_search``): without filters
it reads the FTS table alone (no join with ``items``, bm25 computed once per row); its ranking,
scores and ties must be those of the joined query it replaced, and filters still apply."""

from memcli.core.models import Filters
from memcli.retrieval.hybrid import fts_query

# the query fts_search ran before the scale work (issue 15): the reference ranking
JOINED = ("SELECT items_fts.rowid, -bm25(items_fts, 2.0, 1.0, 1.5) AS s FROM items_fts "
          "JOIN items ON items.id = items_fts.rowid WHERE items_fts MATCH ?{where} "
          "ORDER BY bm25(items_fts, 2.0, 1.0, 1.5) LIMIT ?")

TEXTS = [
    "dentist appointment on Friday at 10:30", "dentist appointment on Monday at 9:30",
    "called Ana about the keys", "called Ben about the keys", "called Chen about the keys",
    "the hotel in Lisbon was noisy", "the hotel in Oslo was quiet, the keys were lost",
    "need to buy lemons and ginger", "tried a spicy curry recipe tonight",
    "the dentist said the appointment can move, keys at the front desk",
]


def _fill(mem):
    ids = [mem.remember(t, created_at=f"2024-0{1 + i % 9}-01T00:00:00Z",
                        tags=["health"] if "dentist" in t else ())
           for i, t in enumerate(TEXTS * 3)]  # repeats: equal scores, ties at the LIMIT boundary
    return ids


def test_unfiltered_search_ranks_and_scores_as_the_joined_query(mem):
    _fill(mem)
    for q in ["dentist appointment", "keys", "called about the keys", "hotel noisy keys",
              "what's the recipe?", "nothing matches this"]:
        for limit in (1, 4, 7, 50):
            want = [tuple(r) for r in mem.store.conn.execute(
                JOINED.format(where=""), (fts_query(q), limit))]
            assert mem.store.fts_search(fts_query(q), limit) == want, (q, limit)


def test_filters_still_apply(mem):
    ids = _fill(mem)
    since = "2024-05-01T00:00:00Z"
    got = mem.store.fts_search(fts_query("keys"), 50, Filters(since=since))
    assert got and all(mem.store.get_item(i)["created_at"] >= since for i, _ in got)
    want = [tuple(r) for r in mem.store.conn.execute(
        JOINED.format(where=" AND items.created_at >= ?"), (fts_query("keys"), since, 50))]
    assert got == want
    tagged = {i for i, _ in mem.store.fts_search(fts_query("keys"), 50, Filters(tags=["health"]))}
    assert tagged == {i for i, t in zip(ids, TEXTS * 3) if "dentist" in t and "keys" in t}
    assert mem.store.fts_search(fts_query("keys"), 50, Filters(kinds=["message"])) == []


def test_a_forgotten_item_leaves_the_unfiltered_search(mem):
    keep = mem.remember("the spare keys are under the mat")
    gone = mem.remember("the spare keys are in the blue box")
    mem.forget(gone)
    assert [i for i, _ in mem.store.fts_search(fts_query("spare keys"), 10)] == [keep]
    assert [h.id for h in mem.search("spare keys")] == [keep]


def test_an_fts_row_without_an_item_never_becomes_a_hit(mem):
    """Only a damaged file has one (doctor reports and removes it); the unfiltered keyword side no
    longer joins items, so the hit builder is what drops it."""
    keep = mem.remember("the spare keys are under the mat")
    mem.store.conn.execute(
        "INSERT INTO items_fts(rowid, title, text, tags) VALUES (9999, '', 'spare keys ghost', '')")
    assert 9999 in {i for i, _ in mem.store.fts_search(fts_query("spare keys"), 10)}
    assert [h.id for h in mem.search("spare keys")] == [keep]
    assert mem.store.fts_inconsistencies()["extra"] == [9999]


def test_gram_search_unfiltered_and_filtered(mem):
    a = mem.remember("我的护照在抽屉里", created_at="2024-01-01T00:00:00Z")
    b = mem.remember("护照 renewal next month", created_at="2024-06-01T00:00:00Z")
    got = mem.store.gram_search('"护照"', 10)
    assert {i for i, _ in got} == {a, b}
    assert [i for i, _ in mem.store.gram_search(
        '"护照"', 10, Filters(since="2024-03-01T00:00:00Z"))] == [b]


def test_both_join_orders_give_the_same_filtered_hits(mem, monkeypatch):
    """A filtered search starts from the FTS rows or from an items index (store/items.py
    ``_items_first``); ties are broken by id, so the hits do not depend on which."""
    _fill(mem)
    filters = [Filters(since="2024-03-01T00:00:00Z"), Filters(kinds=["note"]),
               Filters(since="2024-02-01T00:00:00Z", until="2024-08-01T00:00:00Z", kinds=["note"])]
    for f in filters:
        for q in ["keys", "dentist appointment", "called about the keys"]:
            got = {}
            for first in (True, False):
                monkeypatch.setattr(type(mem.store), "_items_first", lambda *a, _f=first: _f)
                got[first] = mem.store.fts_search(fts_query(q), 4, f)
            assert got[True] == got[False] and got[True], (f, q)
