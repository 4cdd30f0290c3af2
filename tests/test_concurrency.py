"""Concurrency: CLI adds, an import, searches and a chat writing at once against one database.
No "database is locked" (or any error) may reach the user and no write may be lost."""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from memcli.store import connection as dbmod

SCRIPT = Path(sys.executable).with_name("memcli")
MEMCLI = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-c",
                                                 "from memcli.main import run; run()"]

WORKER = textwrap.dedent('''
    import json, sys, time
    from memcli.backends.fakes import HashEmbedder
    from memcli.services.memory import Memory

    role, home, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    done = 0
    with Memory(home, embedder=HashEmbedder()) as mem:
        if role == "writer":
            for i in range(n):
                mem.remember(f"library note {i} about the garden shed", tags=["lib"])
                done += 1
        elif role == "searcher":
            deadline = time.time() + n
            while time.time() < deadline:
                mem.search("garden conversation violin", limit=5)
                mem.stats()
                done += 1
        elif role == "chat":
            from memcli.backends.fakes import FakeLLM
            from memcli.services.chat import ChatSession

            session = ChatSession(mem, llm=FakeLLM(), title="concurrency chat")
            for i in range(n):
                session.ask(f"what did I plan for the garden, take {i}?")
                done += 1
            print(json.dumps({"chat": session.external_id}))
    print(json.dumps({"role": role, "done": done}))
''')


def _export(path: Path, conversations: int, messages: int) -> int:
    total = 0
    with path.open("w") as f:
        for c in range(conversations):
            msgs = [{"role": "user" if i % 2 == 0 else "assistant",
                     "content": f"conversation {c} message {i} about violin lessons and tax"}
                    for i in range(messages)]
            total += len(msgs)
            f.write(json.dumps({"id": f"c{c}", "title": f"chat {c}", "messages": msgs}) + "\n")
    return total


def _env(home):
    return dict(os.environ, MEMCLI_HOME=str(home), MEMCLI_EMBEDDER="hash", MEMCLI_LLM="fake",
                PYTHONPATH=str(Path(__file__).resolve().parents[1]))


def _spawn(cmd, home, **kw):
    return subprocess.Popen(cmd, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def _has_chat() -> bool:
    try:
        import memcli.services.chat  # noqa: F401
        from memcli.backends.fakes import FakeLLM  # noqa: F401
    except ImportError:
        return False
    return True


def test_cli_add_import_search_and_chat_at_the_same_time(home, tmp_path):
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    export = tmp_path / "export.jsonl"
    n_import = _export(export, 120, 6)
    n_cli, n_lib, n_chat = 4, 60, 4
    # the database exists and is indexed before the storm (creation races: see the next test)
    assert subprocess.run([*MEMCLI, "add", "seed note"], env=_env(home)).returncode == 0

    py = [sys.executable, str(worker)]
    procs = {
        "import": _spawn([*MEMCLI, "import", "jsonl", str(export), "--json"], home),
        "writer": _spawn([*py, "writer", str(home), str(n_lib)], home),
        "searcher": _spawn([*py, "searcher", str(home), "6"], home),
    }
    # a shell loop of real `memcli add` and `memcli search` invocations
    loop = " ; ".join(f'"$@" add "cli loop note {i} pinned" --tag cli || exit 3; '
                      f'"$@" search "violin tax" -n 3 > /dev/null || exit 4'
                      for i in range(n_cli))
    procs["cli"] = _spawn(["bash", "-c", loop, "loop", *MEMCLI], home)
    if _has_chat():
        procs["chat"] = _spawn([*py, "chat", str(home), str(n_chat)], home)

    outputs = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        outputs[name] = (proc.returncode, out, err)
    for name, (code, _out, err) in outputs.items():
        assert "locked" not in err.lower(), f"{name}: {err}"
        assert "Traceback" not in err, f"{name}: {err}"
        assert code == 0, f"{name} exited {code}: {err}"

    searches = json.loads(outputs["searcher"][1].strip().splitlines()[-1])["done"]
    assert searches > 3  # it kept searching while the others wrote
    conn = dbmod.connect(home / "memcli.db", readonly=True)
    count = lambda sql: conn.execute(sql).fetchone()[0]
    assert count("SELECT count(*) FROM items WHERE source = 'jsonl'") == n_import
    assert json.loads(outputs["import"][1])["added"] == n_import
    assert count("SELECT count(*) FROM items WHERE text LIKE 'library note %'") == n_lib
    assert count("SELECT count(*) FROM items WHERE text LIKE 'cli loop note %'") == n_cli
    if "chat" in procs:
        assert count("SELECT count(*) FROM items WHERE source = 'chat'") == 2 * n_chat
    assert count("SELECT count(*) FROM items") == count("SELECT count(*) FROM items_fts")
    assert count("SELECT count(*) FROM items") == count("SELECT count(*) FROM items_vec")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_many_processes_creating_the_same_new_memory_at_once(home):
    """Six `memcli add` start on a memory that does not exist yet: one creates and migrates it,
    the others wait; every note lands."""
    procs = [subprocess.Popen([*MEMCLI, "add", f"first-run note {i}"], env=_env(home),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(6)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert all(code == 0 for code, _ in results), results
    conn = dbmod.connect(home / "memcli.db", readonly=True)
    assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 6
    conn.close()


def test_reindex_keeps_its_write_transactions_short(home):
    """A slow model re-embedding everything must not hold the write lock the whole time: an `add`
    from another connection goes through between two batches."""
    import threading

    from memcli.backends.fakes import HashEmbedder
    from memcli.services.memory import Memory

    class SlowEmbedder(HashEmbedder):
        def embed(self, texts):
            time.sleep(0.3)
            return super().embed(texts)

    with Memory(home, embedder=HashEmbedder()) as m:
        for i in range(200):
            m.remember(f"note {i} about reindexing")
    slow = Memory(home, embedder=SlowEmbedder())
    t = threading.Thread(target=slow.reindex, kwargs={"batch": 20})
    t.start()
    time.sleep(0.5)
    started = time.perf_counter()
    with Memory(home, embedder=HashEmbedder()) as other:
        other.remember("written while reindex runs")
    waited = time.perf_counter() - started
    busy = t.is_alive()
    t.join()
    slow.close()
    assert busy, "reindex finished too early for the test to mean anything"
    assert waited < 2.0, f"the add waited {waited:.1f} s for the reindex"
    with Memory(home, embedder=HashEmbedder()) as m:
        from memcli.services.maintenance import diagnose

        assert m.stats()["items"] == 201
        assert diagnose(m, embedder=m.embedder).ok
