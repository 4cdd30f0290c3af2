"""Why memcli's writers leave checkpoints to Litestream while `memcli replicate` runs.

Two copies of the same experiment run side by side, for the same time: Litestream (the venv's
binary) replicates a WAL database to a ``file://`` replica while two writer processes commit
small transactions (inserts into an indexed table, some deletes) through the SQLite memcli uses
(pysqlite3); Litestream is kill -9'd and restarted now and then, as `memcli replicate` may be.
Every few seconds the replica is restored into a new file and ``PRAGMA integrity_check`` is run
on it. The only difference between the two copies is the writers' ``wal_autocheckpoint``: 1000
(SQLite's default, each writer also checkpoints) or 0 (Litestream alone checkpoints, which is
what memcli's writers do while replication runs: ``Store._follow_replication``).

    .venv/bin/python benchmarks/replica_checkpoints.py --seconds 400

Exit status 1 if a restore of the autocheckpoint=0 copy fails its integrity check.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _sqlite():
    from memcli.store.connection import sqlite_module

    return sqlite_module()


def writer(db: str, pages: int, stop_at: float, seed: int) -> None:
    sq = _sqlite()
    rnd = random.Random(seed)
    c = sq.connect(db, isolation_level=None, timeout=30)
    for pragma in ("busy_timeout = 30000", "synchronous = NORMAL",
                   f"wal_autocheckpoint = {pages}"):
        c.execute(f"PRAGMA {pragma}")
    while time.time() < stop_at:
        try:
            c.execute("BEGIN IMMEDIATE")
        except sq.OperationalError:  # busy while a restarted Litestream recovers the WAL
            time.sleep(0.05)
            continue
        for _ in range(rnd.randint(1, 40)):
            c.execute("INSERT INTO t(k, v) VALUES (?, ?)",
                      (rnd.random(), os.urandom(rnd.randint(20, 600)).hex()))
        if rnd.random() < 0.2:
            c.execute("DELETE FROM t WHERE rowid IN (SELECT rowid FROM t ORDER BY random() "
                      "LIMIT 20)")
        c.execute("COMMIT")
    c.close()


def experiment(pages: int, seconds: float, seed: int, result) -> None:
    from memcli.services.replicate import litestream_bin

    ls_bin = str(litestream_bin())
    sq = _sqlite()
    rnd = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix=f"replica-ckpt-{pages}-"))
    db, replica = work / "x.db", work / "replica"
    c = sq.connect(str(db), isolation_level=None)
    c.execute("PRAGMA auto_vacuum = INCREMENTAL")  # as memcli creates its files
    c.execute("PRAGMA journal_mode = WAL")
    c.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, k REAL, v TEXT)")
    c.execute("CREATE INDEX tk ON t(k)")
    c.close()
    cfg = work / "litestream.yml"
    cfg.write_text(f"dbs:\n  - path: {db}\n    replica:\n      url: file://{replica}\n")
    log = open(work / "litestream.log", "a")

    def start():
        return subprocess.Popen([ls_bin, "replicate", "-config", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=log)

    ls = start()
    stop_at = time.time() + seconds
    writers = [mp.Process(target=writer, args=(str(db), pages, stop_at, seed * 10 + i))
               for i in range(2)]
    for w in writers:
        w.start()
    restores = bad = kills = 0
    first_bad = ""
    try:
        while time.time() < stop_at:
            time.sleep(3)
            if rnd.random() < 0.5:  # as a kill -9 of `memcli replicate` and its Litestream
                ls.kill()
                ls.wait()
                kills += 1
                time.sleep(rnd.random())
                ls = start()
                time.sleep(1.5)
            out = work / f"restored-{restores}.db"
            p = subprocess.run([ls_bin, "restore", "-o", str(out), f"file://{replica}"],
                               capture_output=True, text=True)
            if p.returncode != 0:  # nothing shipped yet
                continue
            r = sq.connect(str(out))
            check = [row[0] for row in r.execute("PRAGMA integrity_check(3)")]
            r.close()
            restores += 1
            if check != ["ok"]:
                bad += 1
                first_bad = first_bad or " ".join("; ".join(check).split())[:200]
            for f in (out, Path(f"{out}-wal"), Path(f"{out}-shm")):
                f.unlink(missing_ok=True)
    finally:
        for w in writers:
            w.join()
        ls.terminate()
        ls.wait()
        live = sq.connect(str(db))
        live_ok = live.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        live.close()
        shutil.rmtree(work, ignore_errors=True)
    result.put({"pages": pages, "restores": restores, "bad": bad, "kills": kills,
                "live_ok": live_ok, "first_bad": first_bad})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=400)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    from benchmarks import common

    q = mp.Queue()
    runs = [mp.Process(target=experiment, args=(pages, args.seconds, args.seed, q))
            for pages in (1000, 0)]
    for r in runs:
        r.start()
    results = sorted((q.get() for _ in runs), key=lambda r: -r["pages"])
    for r in runs:
        r.join()
    print(common.header("Restores of a Litestream replica under concurrent writes",
                        extra={"seconds": f"{args.seconds:.0f} per copy, both at once"}))
    print(common.table(
        ["writers' wal_autocheckpoint", "restores", "failed integrity_check", "Litestream kills",
         "live database", "first failure"],
        [(r["pages"], r["restores"], r["bad"], r["kills"], "ok" if r["live_ok"] else "DAMAGED",
          r["first_bad"] or "–") for r in results]))
    return 1 if results[-1]["bad"] else 0


if __name__ == "__main__":
    sys.exit(main())
