"""What "forget means gone" and the state checks cost (issue 16), on a copy of an existing memory.

    python benchmarks/bench_forget.py STORE_DIR [--n 20]

Copies STORE_DIR/memcli.db to a temporary directory (the original is never written) and measures:
the first open (migrations m004 FTS5 secure-delete and m005 gram index, filled from every item),
a later open, `PRAGMA quick_check` (what an open after an unclean shutdown runs), and `forget` of
``--n`` random items with and without the scrubbing (secure_delete, WAL checkpoint + truncate,
incremental vacuum)."""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store", type=Path)
    ap.add_argument("--n", type=int, default=20)
    args = ap.parse_args()

    from memcli.backends.fakes import HashEmbedder
    from memcli.services.memory import Memory
    from memcli.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        shutil.copy(args.store / "memcli.db", home / "memcli.db")
        t = time.perf_counter()
        Memory(home, embedder=HashEmbedder()).close()
        first_open = time.perf_counter() - t
        t = time.perf_counter()
        mem = Memory(home, embedder=HashEmbedder())
        later_open = time.perf_counter() - t
        t = time.perf_counter()
        mem.store.conn.execute("PRAGMA quick_check(5)").fetchall()
        quick = time.perf_counter() - t
        items = mem.store.counts()["items"]
        grams = mem.store.conn.execute("SELECT count(*) FROM items_grams").fetchone()[0]
        ids = [r[0] for r in mem.store.conn.execute("SELECT id FROM items ORDER BY id")]
        rng = random.Random(16)
        pick = rng.sample(ids, 2 * args.n)

        def timed(batch):
            out = []
            for item_id in batch:
                t = time.perf_counter()
                mem.forget(item_id)
                out.append(time.perf_counter() - t)
            return out

        scrubbed = timed(pick[:args.n])
        original_scrub = Store.scrub
        Store.scrub = lambda self: True  # the same forget, without the scrubbing
        mem.store.conn.execute("PRAGMA secure_delete = OFF")
        plain = timed(pick[args.n:])
        Store.scrub = original_scrub
        mem.close()
    size = (args.store / "memcli.db").stat().st_size
    print(f"store: {args.store} ({items} items, {size / 1e6:.1f} MB, {grams} with gram rows)")
    print(f"first open (migrations m004+m005): {first_open * 1000:.0f} ms; later open: "
          f"{later_open * 1000:.0f} ms; quick_check: {quick * 1000:.0f} ms")
    print(f"forget, median of {args.n}: {statistics.median(scrubbed) * 1000:.1f} ms scrubbed "
          f"(max {max(scrubbed) * 1000:.1f}), {statistics.median(plain) * 1000:.1f} ms without "
          f"secure_delete/checkpoint (max {max(plain) * 1000:.1f})")


if __name__ == "__main__":
    main()
