"""The coarse vector index (memcli/vecindex.py + the vec_bits/vec_f16 tables in store.py)."""

import numpy as np
import pytest

from memcli.core.models import Filters, NewItem
from memcli.store import vecindex as vx, vectors as store_vectors


def unit(rng, n, dim=64):
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_bit_matrix_ranks_by_hamming_distance():
    rng = np.random.default_rng(0)
    dim = 100  # not a multiple of 64: slots are padded to whole words
    vecs = unit(rng, 700, dim)
    ids = [3, 5, 900, *range(1000, 1697)]  # spread over several chunks, with gaps
    chunks: dict[int, bytes | None] = {}
    bits = vx.pack_bits(vecs, dim)
    assert bits.shape == (700, vx.slot_bytes(dim)) == (700, 16)
    for i, b in zip(ids, bits):
        c = i // vx.CHUNK
        chunks[c] = vx.update_chunk(chunks.get(c), bits.shape[1], {i % vx.CHUNK: b.tobytes()})
    bm = vx.BitMatrix(sorted(chunks.items()), dim)
    assert len(bm) == 700 and sorted(bm.ids.tolist()) == sorted(ids)
    q = unit(rng, 1, dim)[0]
    want = np.array([np.count_nonzero((v > 0) != (q > 0)) for v in vecs])
    got = bm.nearest(q, 50, dim)
    by_id = dict(zip(ids, want))
    dists = [by_id[int(i)] for i in got]
    assert dists == sorted(dists) and dists[-1] <= np.sort(want)[49]
    assert len(bm.nearest(q, 5000, dim)) == 700  # m beyond n: everything, ordered


def test_chunk_slots_clear_and_list():
    size = vx.slot_bytes(384)
    blob = vx.update_chunk(None, size, {0: b"\xff" * size, 7: b"\x01" * size})
    assert len(blob) == vx.chunk_bytes(size)
    assert vx.chunk_ids(blob, 2) == [2 * vx.CHUNK, 2 * vx.CHUNK + 7]
    blob = vx.update_chunk(blob, None, {}, {0})
    assert vx.chunk_ids(blob, 2) == [2 * vx.CHUNK + 7]
    assert blob[vx.MASK_BYTES:vx.MASK_BYTES + size] == bytes(size)


def test_rescore_is_cosine():
    rng = np.random.default_rng(1)
    vecs = unit(rng, 20)
    q = rng.standard_normal(64).astype(np.float32) * 3  # not normalised
    out = vx.rescore(q, [(i, vx.f16_bytes(v)) for i, v in enumerate(vecs)])
    exact = vecs @ (q / np.linalg.norm(q))
    assert [i for i, _ in out] == list(np.argsort(-exact))
    assert max(abs(s - exact[i]) for i, s in out) < 2e-3


@pytest.fixture
def coarse_always(monkeypatch):
    """Use the coarse path at any size (normally from 20,000 vectors on)."""
    monkeypatch.setattr(store_vectors, "COARSE_MIN", 0)
    monkeypatch.setattr(store_vectors, "COARSE_CANDIDATES", 40)


def fill(mem, n=300, kinds=("message", "note"), seed=2):
    """``n`` items with dense clustered vectors (sign bits suit dense embeddings such as MiniLM;
    the sparse hashed test embedder would not say much about them)."""
    rng = np.random.default_rng(seed)
    centres = unit(rng, 8, mem.embedder.dim)
    vecs = centres[np.arange(n) % 8] + 0.6 * unit(rng, n, mem.embedder.dim)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    items = [NewItem(text=f"entry {i} about {['tea', 'rust', 'maps', 'bikes'][i % 4]}",
                     kind=kinds[i % len(kinds)], source="cli",
                     created_at=f"2024-01-{1 + i % 28:02d}T10:00:00Z") for i in range(n)]
    mem.fill_vectors = vecs
    return mem.add_items(items, vectors=vecs)


def near(mem, i, scale=0.3, seed=9):
    """A query vector close to the ``i``-th filled item's."""
    rng = np.random.default_rng(seed + i)
    q = mem.fill_vectors[i] + scale * unit(rng, 1, mem.embedder.dim)[0]
    return q / np.linalg.norm(q)


def test_coarse_search_matches_exact_on_top_hits(mem, coarse_always):
    fill(mem)
    assert mem.store.coarse_inconsistencies() == {"missing": [], "extra": []}
    for i in (3, 50, 222):
        qv = near(mem, i)
        coarse = mem.store.vec_search(qv, 10)
        exact = mem.store.vec_search(qv, 10, exact=True)
        assert coarse[0][0] == exact[0][0]
        assert len({i for i, _ in coarse} & {i for i, _ in exact}) >= 8
        assert abs(coarse[0][1] - exact[0][1]) < 2e-3


def test_coarse_filters_narrow_and_broad(mem, coarse_always, monkeypatch):
    ids = fill(mem)
    qv = near(mem, 10)
    narrow = Filters(kinds=["note"], since="2024-01-06T00:00:00Z", until="2024-01-07T00:00:00Z")
    rows = mem.store.get_items(ids)
    allowed = {i for i in ids if rows[i]["kind"] == "note"
               and "2024-01-06" <= rows[i]["created_at"] < "2024-01-07"}
    got = mem.store.vec_search(qv, 10, narrow)
    assert got and {i for i, _ in got} <= allowed
    assert [i for i, _ in got] == [i for i, _ in mem.store.vec_search(qv, 10, narrow, exact=True)]
    monkeypatch.setattr(store_vectors, "EXACT_SUBSET", 5)  # force the broad-filter path
    broad = Filters(kinds=["message"])
    got = mem.store.vec_search(qv, 10, broad)
    assert len(got) == 10 and all(rows[i]["kind"] == "message" for i, _ in got)


def test_forget_and_reindex_keep_the_coarse_index_in_step(mem, coarse_always):
    ids = fill(mem, 120)
    qv = near(mem, 7, scale=0.05)
    top = mem.store.vec_search(qv, 1)[0][0]
    assert top == ids[7]
    mem.forget(top)
    assert top not in {i for i, _ in mem.store.vec_search(qv, 50)}
    assert mem.store.coarse_inconsistencies() == {"missing": [], "extra": []}
    mem.reindex()
    assert mem.store.coarse_inconsistencies() == {"missing": [], "extra": []}
    assert mem.store.counts()["vectors"] == len(ids) - 1


def test_another_connection_s_writes_are_seen(mem, coarse_always):
    from memcli.services.memory import Memory

    fill(mem, 50)
    qv = mem.embedder.embed(["zebra crossing at midnight"])[0]  # shares no word with fill()
    mem.store.vec_search(qv, 5)  # loads and caches the bit matrix
    other = Memory(mem.home, embedder=mem.embedder)
    new_id = other.add_items([NewItem(text="zebra crossing at midnight", kind="note",
                                      source="cli")])[0]
    other.close()
    assert mem.store.vec_search(qv, 1)[0][0] == new_id


def test_migration_derives_the_index_for_an_older_memory(home, mem):
    from memcli.services.memory import Memory
    from memcli.store import Store

    ids = fill(mem, 40)
    mem.store.conn.execute("DELETE FROM vec_bits")
    mem.store.conn.execute("DELETE FROM vec_f16")
    mem.store.conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm003_coarse_vectors'")
    assert len(mem.store.coarse_inconsistencies()["missing"]) == len(ids)
    mem.close()
    with Store(Memory(home).db_path) as s:
        assert s.coarse_inconsistencies() == {"missing": [], "extra": []}


def test_doctor_finds_and_repairs_a_damaged_coarse_index(mem, cli):
    from memcli.services import maintenance

    ids = fill(mem, 30)
    mem.store.conn.execute("DELETE FROM vec_f16 WHERE item_id = ?", (ids[3],))
    report = maintenance.diagnose(mem, embedder=mem.embedder)
    assert any("coarse index" in p.message for p in report.problems)
    fixed = maintenance.repair(mem, embedder=mem.embedder)
    assert not fixed.problems and any("coarse" in f for f in fixed.fixed)
    assert mem.store.coarse_inconsistencies() == {"missing": [], "extra": []}


def test_a_rolled_back_write_leaves_no_trace_in_the_cached_index(mem, coarse_always):
    fill(mem, 60)
    probe = near(mem, 5, scale=0.01)
    with pytest.raises(RuntimeError):
        with mem.store.transaction():
            [new_id] = mem.add_items([NewItem(text="ghost", kind="note", source="cli")],
                                     vectors=[probe])
            assert mem.store.vec_search(probe, 1)[0][0] == new_id  # cached, uncommitted
            raise RuntimeError("roll back")
    assert new_id not in {i for i, _ in mem.store.vec_search(probe, 60)}
    assert len(mem.store._bit_matrix(mem.embedder.dim)) == 60
