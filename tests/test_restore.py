"""`memcli restore BACKUP_FILE`: a good backup replaces the memory (the old one kept as a dated
.bak); every kind of bad input is one `Error:` line and leaves `memcli stats` unchanged."""

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest


def stats(cli) -> dict:
    code, out, err = cli("stats", "--json")
    assert code == 0, err
    data = json.loads(out)
    data.pop("size_bytes", None)
    return data


@pytest.fixture
def filled(cli):
    for text in ("the spare key is under the blue flowerpot", "dentist moved to Friday 3pm"):
        assert cli("add", text, "--no-digest")[0] == 0  # about restore, not digest
    return stats(cli)


@pytest.fixture
def backup(cli, filled, tmp_path) -> Path:
    path = tmp_path / "good.db"
    assert cli("backup", path)[0] == 0
    return path


def refused(cli, before: dict, *args) -> str:
    code, out, err = cli("restore", *args)
    assert code == 1, (out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert stats(cli) == before
    return lines[0]


def test_restore_a_backup_keeps_the_old_memory_as_bak(cli, backup, home):
    assert cli("add", "written after the backup", "--no-digest")[0] == 0
    assert stats(cli)["notes"] == 3
    code, out, err = cli("restore", backup)
    assert code == 0, err
    assert "2 notes" in out and "Newest item:" in out and ".bak" in out
    after = stats(cli)
    assert after["notes"] == 2 and after["items"] == 2
    baks = list(home.glob("memcli.db.*.bak"))
    assert len(baks) == 1 and stat.S_IMODE(baks[0].stat().st_mode) == 0o600
    assert not list(home.glob(".restore-*")) and not Path(f"{baks[0]}-wal").exists()
    kept = sqlite3.connect(baks[0]).execute("SELECT count(*) FROM items").fetchone()[0]
    assert kept == 3  # the replaced memory, committed WAL included
    code, out, _ = cli("search", "spare key", "--json", "-n", "1")
    assert json.loads(out)[0]["text"].startswith("the spare key")
    assert cli("doctor")[0] == 0


def test_restore_into_a_new_home(cli, backup, tmp_path, monkeypatch):
    monkeypatch.setenv("MEMCLI_HOME", str(tmp_path / "second"))
    code, out, err = cli("restore", backup, "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["counts"]["notes"] == 2 and info["previous"] is None
    assert stats(cli)["notes"] == 2


def test_not_sqlite(cli, filled, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("just some text, not a database\n" * 20)
    assert "not an SQLite database" in refused(cli, filled, bad)


def test_truncated(cli, backup, filled, tmp_path):
    cut = tmp_path / "cut.db"
    data = backup.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    assert "truncated" in refused(cli, filled, cut)


def test_another_programs_database(cli, filled, tmp_path):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers(name) VALUES ('Ada')")
    conn.commit()
    conn.close()
    assert "not a memcli memory" in refused(cli, filled, other)


def test_newer_schema(cli, backup, filled):
    conn = sqlite3.connect(backup)
    conn.execute("INSERT INTO _sqlite_migrations(migration_set, name, applied_at) "
                 "VALUES ('memcli', 'm999_from_the_future', '2030-01-01')")
    conn.commit()
    conn.close()
    assert "newer memcli" in refused(cli, filled, backup)


def test_other_embedding_model(cli, backup, filled):
    conn = sqlite3.connect(backup)
    conn.execute("UPDATE meta SET value = 'some-other-model' WHERE key = 'embedding_model'")
    conn.commit()
    conn.close()
    assert "some-other-model" in refused(cli, filled, backup)


def test_damaged_pages(cli, backup, filled, tmp_path):
    bad = tmp_path / "damaged.db"
    data = bytearray(backup.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for at in range(2 * page + 8, len(data) - page, page):  # scribble over every b-tree page
        data[at:at + 64] = os.urandom(64)
    bad.write_bytes(bytes(data))
    assert "damaged" in refused(cli, filled, bad)


def test_missing_file(cli, filled, tmp_path):
    assert "no such file" in refused(cli, filled, tmp_path / "nope.db")


def test_refused_while_another_process_has_the_memory_open(cli, backup, filled, home):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from memcli.services.memory import Memory\n"
         f"m = Memory({str(home)!r}); m.stats(); print('open', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ})
    try:
        assert holder.stdout.readline().strip() == "open"
        assert "open in another process" in refused(cli, filled, backup)
    finally:
        holder.kill()
        holder.wait()
    assert cli("restore", backup)[0] == 0
