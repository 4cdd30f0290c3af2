"""`memcli replicate` with a file:// Litestream replica in a temporary folder, and
`memcli restore --from URL` on a second home (a second device)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memcli.services import replicate as rep
from memcli.store import state
from memcli.store.database import Store

VOLATILE = ("database", "size_bytes")


def stats(cli) -> dict:
    code, out, err = cli("stats", "--json")
    assert code == 0, err
    return {k: v for k, v in json.loads(out).items() if k not in VOLATILE}


def top_hit(cli, query: str) -> dict:
    code, out, err = cli("search", query, "--json", "-n", "3")
    assert code == 0, err
    return [{k: h[k] for k in ("id", "text", "kind", "created_at")} for h in json.loads(out)]


def use_home(monkeypatch, path: Path) -> None:
    monkeypatch.setenv("MEMCLI_HOME", str(path))


def test_replicate_write_more_restore_on_a_second_device(cli, home, tmp_path, monkeypatch):
    replica = tmp_path / "replica"
    url = f"file://{replica}"
    assert cli("add", "the spare key is under the blue flowerpot")[0] == 0
    code, out, err = cli("replicate", url, "--once")
    assert code == 0, err
    assert "up to transaction" in out
    assert f'url = "{url}"' in (home / "config.toml").read_text()  # recorded for next time
    assert oct(replica.stat().st_mode & 0o777) == "0o700"
    assert cli("add", "dentist moved to Friday 3pm", "--tag", "health")[0] == 0
    jsonl = tmp_path / "chat.jsonl"
    jsonl.write_text(json.dumps({"id": "c1", "title": "Trip", "messages": [
        {"role": "user", "content": "We fly to Porto on May 2nd"},
        {"role": "assistant", "content": "Noted: Porto, May 2nd"}]}) + "\n")
    assert cli("import", "jsonl", jsonl)[0] == 0
    code, out, err = cli("replicate", "--once", "--json")  # the URL now comes from config.toml
    assert code == 0, err
    assert json.loads(out)["txid"]
    source_stats, source_hits = stats(cli), top_hit(cli, "when do we fly to Porto")
    code, out, err = cli("doctor")
    assert code == 0, out + err
    assert "replica: " + url in out

    use_home(monkeypatch, tmp_path / "laptop2")
    code, out, err = cli("restore", "--from", url)
    assert code == 0, err
    assert (f"1 conversations, 2 messages, {source_stats['notes']} notes") in out
    assert stats(cli) == source_stats
    assert top_hit(cli, "when do we fly to Porto") == source_hits
    code, out, err = cli("doctor")
    assert code == 0, out + err


def test_memcli_keeps_writing_while_replicate_runs(cli, home, tmp_path):
    url = f"file://{tmp_path / 'replica'}"
    assert cli("add", "first note")[0] == 0
    # as in a terminal: Ctrl-C reaches it even when this test runs as a background job (a shell
    # starts those with SIGINT ignored, and Python then installs no KeyboardInterrupt handler)
    proc = subprocess.Popen([sys.executable, "-m", "memcli", "replicate", url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "replica" / "ltx").exists():
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
            time.sleep(0.2)
        while rep.replica_state(url)["txid"] is None:  # the first snapshot
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        first = rep.replica_state(url)["txid"]
        db = home / "memcli.db"
        assert state.replicating(db)  # so memcli's writers leave checkpoints to Litestream
        assert autocheckpoint(db) == 0
        code, _, err = cli("replicate", url, "--once")
        assert code == 1 and "already running" in err
        for i in range(20):  # writes go through while Litestream holds its read transaction
            assert cli("add", f"note number {i} written during replication",
                       "--no-digest")[0] == 0
        # forget's WAL truncation gives up soon instead of waiting out Litestream's read
        # transaction for the whole 30 s busy timeout (blocking every writer meanwhile)
        started = time.monotonic()
        assert cli("forget", "1")[0] == 0
        assert time.monotonic() - started < 20
        want = stats(cli)
        deadline = time.monotonic() + 30
        while rep.replica_state(url)["txid"] == first:  # a sync (every 1 s) shipped them
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        out, err = proc.communicate(timeout=90)  # replicate stops Litestream within 2 × 20 s
    assert proc.returncode == 0, err
    assert not state.replicating(db) and autocheckpoint(db) == 1000
    second = tmp_path / "second"
    code, out, err = cli("--home", second, "restore", "--from", url)
    assert code == 0, err
    code, out, _ = cli("--home", second, "stats", "--json")
    got = {k: v for k, v in json.loads(out).items() if k not in VOLATILE}
    assert got == want


def autocheckpoint(db: Path) -> int:
    """wal_autocheckpoint of a writer that has just begun a transaction on ``db``."""
    with Store(db) as s:
        with s.transaction():
            return s.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]


def test_writers_follow_replication_as_it_starts_and_stops(tmp_path):
    db = tmp_path / "memcli.db"
    with Store(db) as s:  # a long-lived writer (memcli chat, mcp) opened before replication
        def pages() -> int:
            with s.transaction():
                s.set_meta("probe", "x")
            return s.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]

        assert pages() == 1000 and not state.replicating(db)
        with state.replicating_lock(db):
            assert state.replicating(db)
            assert pages() == 0
            with pytest.raises(rep.MemcliError, match="already running"):
                with state.replicating_lock(db):
                    pass
        assert not state.replicating(db)
        assert pages() == 1000


def test_replicate_without_litestream_says_how_to_get_it(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(rep.sys, "executable", str(tmp_path / "nowhere" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    code, out, err = cli("replicate", str(tmp_path / "r"), "--once")
    assert code == 1
    assert "Litestream is not installed" in err and "replica" in err


def test_restore_from_an_empty_replica_changes_nothing(cli, tmp_path):
    assert cli("add", "keep me")[0] == 0
    before = stats(cli)
    (tmp_path / "empty").mkdir()
    code, out, err = cli("restore", "--from", f"file://{tmp_path / 'empty'}")
    assert code == 1 and err.startswith("Error: cannot restore from")
    assert stats(cli) == before


@pytest.mark.parametrize("given,want", [("/tmp/x", "file:///tmp/x"),
                                        ("s3://bucket/memcli", "s3://bucket/memcli")])
def test_urls(given, want):
    assert rep.normalize_url(given) == want


def test_kill9_of_replicate_and_writer_short_run(tmp_path):
    """The short version of benchmarks/kill9_replica.py (the full run is in BENCHMARKS.md)."""
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "kill9_replica.py"), "--kills", "3",
         "--conversations", "150", "--max-delay", "2", "--restore-every", "2", "--seed", "5",
         "--keep", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=600, cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "0 failures; 0 lost, 0 duplicated" in proc.stdout, proc.stdout
