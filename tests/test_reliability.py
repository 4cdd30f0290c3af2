"""Backup and doctor: damage the database on purpose, check doctor finds it and --fix repairs it."""

import importlib
import json
import os
import stat
import threading

from memcli.backends.fakes import HashEmbedder
from memcli.core.models import NewItem
from memcli.services.maintenance import backup, diagnose, repair
from memcli.services.memory import Memory
from memcli.store import connection as dbmod


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _raw(mem):
    """A second connection with foreign keys OFF, to do damage the app never would."""
    conn = dbmod.connect(mem.db_path)
    conn.execute("PRAGMA foreign_keys = OFF")
    return conn


def _fill(mem, n=6):
    return [mem.remember(f"note number {i} about {w}", tags=[f"t{i % 2}"])
            for i, w in enumerate(["lisbon", "boilers", "violin", "tax", "garden", "cats"][:n])]


def test_doctor_healthy_database(mem, cli):
    _fill(mem)
    report = diagnose(mem, embedder=mem.embedder)
    assert report.ok, report.problems
    code, out, err = cli("doctor")
    assert code == 0, out + err
    assert out.startswith("ok: 6 items")


def test_doctor_finds_and_fixes_every_kind_of_inconsistency(mem, cli):
    ids = _fill(mem)
    conn = _raw(mem)
    conn.execute("DELETE FROM items_fts WHERE rowid = ?", (ids[0],))          # missing FTS row
    conn.execute("INSERT INTO items_fts(rowid, title, text, tags) VALUES (999, '', 'ghost', '')")
    conn.execute("UPDATE items SET text = 'rewritten behind the index' WHERE id = ?", (ids[1],))
    conn.execute("DELETE FROM items_vec WHERE item_id = ?", (ids[2],))        # missing vector
    conn.execute("INSERT INTO items_vec(item_id, embedding, kind, source, created_at) "
                 "VALUES (998, ?, 'note', 'cli', '2020-01-01T00:00:00Z')",
                 (HashEmbedder().embed(["x"])[0].tobytes(),))                 # vector of nothing
    conn.execute("UPDATE items SET kind = 'fact' WHERE id = ?", (ids[3],))     # stale vec column
    conn.execute("INSERT INTO item_tags(item_id, tag) VALUES (997, 'orphan')")
    conn.execute("INSERT INTO links(src_id, dst_id, target, type, created_at) "
                 "VALUES (?, 996, '996', 'related', '2020-01-01T00:00:00Z')", (ids[4],))
    conn.execute("INSERT INTO item_sources(item_id, source_id) VALUES (?, 995)", (ids[5],))
    conn.close()

    code, out, err = cli("doctor")
    assert code == 1
    lines = out.strip().splitlines()
    assert any(line.startswith("fts: 1 items have no full-text row") for line in lines), out
    assert any(line.startswith("fts: 1 full-text rows belong to no item (999)") for line in lines)
    assert any(line.startswith("fts: 1 full-text rows differ") for line in lines)
    assert any(line.startswith(f"vectors: 1 items have no vector ({ids[2]})") for line in lines)
    assert any(line.startswith("vectors: 1 vectors belong to no item (998)") for line in lines)
    assert any(line.startswith("vectors: 1 vectors carry stale") for line in lines)
    assert sum(line.startswith("orphans:") for line in lines) == 3, out

    code, out, err = cli("doctor", "--json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    assert {p["check"] for p in data["problems"]} == {"fts", "vectors", "orphans"}

    # before the fix, the rewritten text is invisible to keyword search
    assert not [h for h in mem.search("rewritten behind") if h.id == ids[1] and h.bm25]
    code, out, err = cli("doctor", "--fix")
    assert code == 0, out + err
    assert "fixed fts:" in out and "fixed vectors:" in out and "fixed orphans:" in out
    assert out.strip().splitlines()[-1].startswith("ok: 6 items")
    assert cli("doctor")[0] == 0

    c = mem.store.conn
    assert c.execute("SELECT count(*) FROM items_fts").fetchone()[0] == 6
    assert c.execute("SELECT count(*) FROM items_vec").fetchone()[0] == 6
    assert c.execute("SELECT kind FROM items_vec WHERE item_id = ?", (ids[3],)).fetchone()[0] == "fact"
    assert c.execute("SELECT count(*) FROM item_tags WHERE tag = 'orphan'").fetchone()[0] == 0
    assert c.execute("SELECT count(*) FROM links").fetchone()[0] == 0
    assert c.execute("SELECT count(*) FROM item_sources").fetchone()[0] == 0
    assert c.execute("PRAGMA foreign_key_check").fetchall() == []
    hits = mem.search("rewritten behind the index")
    assert hits[0].id == ids[1] and hits[0].bm25
    hits = mem.search("note number 0 lisbon")
    assert hits[0].id == ids[0] and hits[0].bm25


def test_doctor_keeps_messages_whose_conversation_row_vanished(mem):
    from memcli.core.models import NewItem

    conv = mem.store.upsert_conversation("jsonl", "c1", title="t")
    [mid] = mem.add_items([NewItem(text="a message", kind="message", source="jsonl",
                                   key="jsonl:c1:0")], conversation_id=conv)
    conn = _raw(mem)
    conn.execute("DELETE FROM conversations WHERE id = ?", (conv,))
    conn.close()
    report = diagnose(mem, embedder=mem.embedder)
    assert [p.check for p in report.problems] == ["orphans"]
    after = repair(mem, embedder=mem.embedder)
    assert after.ok, after.problems
    assert mem.show(mid)["text"] == "a message"  # unlinked, not deleted


def test_doctor_reports_model_mismatch_and_does_not_fake_a_fix(mem):
    _fill(mem, 2)
    other = HashEmbedder(dim=64)
    report = diagnose(mem, embedder=other)
    [problem] = report.problems
    assert problem.check == "model" and "reindex" in problem.message and not problem.fixable
    mem.store.conn.execute("DELETE FROM items_vec WHERE item_id = 1")
    after = repair(mem, embedder=other)
    assert {p.check for p in after.problems} == {"model", "vectors"}  # not re-embedded with 64 dims
    assert mem.store.conn.execute("SELECT count(*) FROM items_vec").fetchone()[0] == 1


def test_doctor_repairs_permissions(mem, cli):
    _fill(mem, 1)
    os.chmod(mem.home, 0o755)
    os.chmod(mem.db_path, 0o644)
    code, out, _ = cli("doctor")
    assert code == 1 and "permissions: memcli.db is 0o644, should be 0o600" in out
    # (opening the memory already re-tightens the data dir: Memory() calls ensure_private_dir)
    code, out, _ = cli("doctor", "--fix")
    assert code == 0, out
    assert _mode(mem.home) == 0o700 and _mode(mem.db_path) == 0o600


def test_doctor_on_a_file_that_is_not_a_database(home, cli):
    home.mkdir(parents=True)
    (home / "memcli.db").write_bytes(b"this is not sqlite at all " * 100)
    code, out, err = cli("doctor")
    assert code == 1
    assert err.startswith("Error: ") and len(err.strip().splitlines()) == 1


def test_private_modes_of_data_dir_db_wal_shm(mem):
    _fill(mem, 2)  # the connection is open: -wal and -shm exist now
    assert _mode(mem.home) == 0o700
    for suffix in ("", "-wal", "-shm"):
        path = f"{mem.db_path}{suffix}"
        assert os.path.exists(path), path
        assert _mode(path) == 0o600, (path, oct(_mode(path)))


def test_backup_is_consistent_private_and_refuses_to_overwrite(mem, tmp_path, cli):
    _fill(mem)
    dest = tmp_path / "b" / "copy.db"
    dest.parent.mkdir()
    code, out, err = cli("backup", dest)
    assert code == 0, err
    assert "Backed up 6 items" in out
    assert _mode(dest) == 0o600
    assert not [p for p in dest.parent.iterdir() if p.name != "copy.db"]  # no -wal/-journal left

    code, out, err = cli("backup", dest)
    assert code == 1 and "already exists" in err and "--force" in err
    mem.remember("one more after the first backup")
    code, out, err = cli("backup", dest, "--force", "--json")
    assert code == 0 and json.loads(out)["items"] == 7

    # the backup is a working memory on its own
    home2 = tmp_path / "restored"
    home2.mkdir()
    (home2 / "memcli.db").write_bytes(dest.read_bytes())
    os.chmod(home2 / "memcli.db", 0o600)  # write_bytes made it 0644: doctor would flag that
    with Memory(home2, embedder=HashEmbedder()) as m2:
        assert m2.stats()["items"] == 7
        assert m2.search("violin")[0].text.startswith("note number 2")
        assert diagnose(m2, embedder=m2.embedder).ok

    # into a directory: a dated file
    code, out, err = cli("backup", dest.parent, "--json")
    assert code == 0
    assert os.path.basename(json.loads(out)["path"]).startswith("memcli-backup-")
    # never onto the live database
    code, out, err = cli("backup", mem.db_path, "--force")
    assert code == 1 and "live database" in err


def test_backup_while_another_process_writes(home, tmp_path):
    """Online backup under concurrent writes: the copy is one consistent snapshot."""
    writer_mem = Memory(home, embedder=HashEmbedder())
    writer_mem.remember("seed")
    stop = threading.Event()
    written = []

    def writer():
        with Memory(home, embedder=HashEmbedder()) as w:
            i = 0
            while not stop.is_set():
                written.append(w.remember(f"concurrent note {i}"))
                i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        results = []
        for k in range(3):
            results.append(backup(writer_mem, tmp_path / f"b{k}.db"))
    finally:
        stop.set()
        t.join()
    writer_mem.close()
    assert len(written) > 0
    for k, info in enumerate(results):
        conn = dbmod.connect(tmp_path / f"b{k}.db", readonly=True)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n = conn.execute("SELECT count(*) FROM items").fetchone()[0]
        assert n == info["items"]
        # every item in the snapshot has its FTS row and vector: no torn transaction
        assert conn.execute("SELECT count(*) FROM items_fts").fetchone()[0] == n
        assert conn.execute("SELECT count(*) FROM items_vec").fetchone()[0] == n
        conn.close()
    assert results[-1]["items"] >= results[0]["items"]


def test_forget_removes_the_notes_derived_from_it(mem, cli):
    from memcli.core.models import NewItem

    a = mem.remember("Alice moved to Porto in May")
    b = mem.remember("Alice likes the ocean")
    [only_a] = mem.add_items([NewItem(text="Alice lives in Porto", kind="fact", source="digest")])
    [both] = mem.add_items([NewItem(text="Alice is happy by the sea", kind="fact", source="digest")])
    with mem.store.transaction():
        mem.store.add_sources(only_a, [a])
        mem.store.add_sources(both, [a, b])
    code, out, err = cli("forget", a, "--json")
    assert code == 0, err
    # a note derived from a and b may repeat a's text: it goes too (issue 16)
    assert sorted(json.loads(out)["removed"]) == sorted([a, only_a, both])
    remaining = {r[0] for r in mem.store.conn.execute("SELECT id FROM items")}
    assert remaining == {b}
    for table, col in (("items_fts", "rowid"), ("items_vec", "item_id")):
        got = {r[0] for r in mem.store.conn.execute(f"SELECT {col} FROM {table}")}
        assert got == {b}, table
    assert mem.store.conn.execute("SELECT count(*) FROM items_fts WHERE items_fts MATCH 'porto'"
                             ).fetchone()[0] == 0
    assert diagnose(mem, embedder=mem.embedder).ok


def test_forget_on_real_digest_output_leaves_nothing_derived_from_it(mem, tmp_path, cli):
    """Digest a conversation (fake LLM), then forget its messages: every derived note that rested
    only on them goes too, and no index still finds its words."""
    pipeline = importlib.import_module("memcli.services.digest.pipeline")
    from memcli.backends.fakes import FakeLLM
    from memcli.services.ingest import import_path

    export = tmp_path / "c.jsonl"
    export.write_text(json.dumps({"id": "secret", "title": "Zanzibar plans", "messages": [
        {"role": "user", "content": "I am planning a surprise trip to Zanzibar for Maria in June."},
        {"role": "assistant", "content": "Zanzibar in June is dry season; book the ferry early."},
        {"role": "user", "content": "Maria must not find out about the Zanzibar trip."}]}) + "\n"
        + json.dumps({"id": "other", "title": "Garden", "messages": [
            {"role": "user", "content": "The tomatoes need watering twice a week."}]}) + "\n")
    import_path(mem, "jsonl", export)
    pipeline.digest(mem, use_llm=True, llm=FakeLLM())
    conn = mem.store.conn
    secret = [r[0] for r in conn.execute(
        "SELECT i.id FROM items i JOIN conversations c ON c.id = i.conversation_id "
        "WHERE c.external_id = 'secret'")]
    derived = {r[0] for r in conn.execute(
        f"SELECT DISTINCT item_id FROM item_sources WHERE source_id IN "
        f"({','.join('?' * len(secret))})", secret)}
    assert derived, "the digest derived nothing from the conversation"
    only_secret = {d for d in derived if set(mem.store.sources_of(d)) <= set(secret)}
    removed = set()
    for item_id in secret:
        code, out, err = cli("forget", item_id, "--json")
        if code == 0:
            removed |= set(json.loads(out)["removed"])
        else:
            assert "no item" in err  # already removed as part of an earlier cascade
    assert only_secret <= removed
    left = {r[0] for r in conn.execute("SELECT id FROM items")}
    assert not (only_secret | set(secret)) & left
    assert conn.execute("SELECT count(*) FROM conversations WHERE external_id = 'secret'"
                        ).fetchone()[0] == 0
    for table, col in (("items_fts", "rowid"), ("items_vec", "item_id")):
        ids = {r[0] for r in conn.execute(f"SELECT {col} FROM {table}")}
        assert ids == left, table
    # derived notes that also rest on other items survive, minus the forgotten sources
    for d in derived - only_secret:
        assert not set(mem.store.sources_of(d)) & set(secret)
    assert diagnose(mem, embedder=mem.embedder).ok


def test_doctor_fix_rebuilds_a_damaged_index(mem, cli):
    """An index whose entries disagree with its table (what a torn page or a buggy tool leaves):
    integrity_check fails, doctor --fix rebuilds it and the check passes again."""
    for i in range(12):
        mem.remember(f"note number {i}", created_at=f"2023-01-{1 + i:02d}")
    mem.close()
    conn = dbmod.connect(mem.db_path)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX items_created ON items (added_at)'"
                 " WHERE name = 'items_created'")
    conn.execute("PRAGMA writable_schema = OFF")
    conn.close()
    code, out, err = cli("doctor")
    lines = out.strip().splitlines()
    assert code == 1 and lines[0].startswith("integrity: row 1 missing from index items_created")
    assert len(lines) == 7 and "more integrity_check errors" in lines[-2]
    assert "is damaged" in lines[-1] and "--salvage" in lines[-1]  # what to do (issue 16)
    code, out, err = cli("add", "written into a damaged file?")
    assert code == 1 and "is damaged" in err  # refused until doctor --fix repairs it
    code, out, err = cli("doctor", "--fix")
    assert code == 0, out + err
    assert "fixed integrity: rebuilt SQL indexes" in out
    conn = dbmod.connect(mem.db_path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 12
    conn.close()


def test_doctor_reembeds_a_named_speakers_line_as_add_did(mem):
    """A vector rebuilt by `doctor --fix` must equal the one written at import (speaker name in)."""
    import numpy as np

    from memcli.services.maintenance import repair

    [item_id] = mem.add_items([NewItem("I adopted a greyhound", kind="message", role="Caroline")])
    before = np.frombuffer(mem.store.vectors_of([item_id])[item_id], dtype=np.float32).copy()
    with mem.store.transaction():
        mem.store.delete_vectors([item_id])
    repair(mem, embedder=mem.embedder)
    after = np.frombuffer(mem.store.vectors_of([item_id])[item_id], dtype=np.float32)
    assert np.allclose(before, after)
