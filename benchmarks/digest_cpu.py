"""CPU time of the default digest on copies of LoCoMo stores, and a fingerprint of what it made.

    .venv/bin/python benchmarks/digest_cpu.py --work DIR conv-26 conv-30
    OTHER_TREE/…/python benchmarks/digest_cpu.py --tree OTHER_TREE --work DIR conv-26   # a baseline

``DIR`` holds verbatim LoCoMo stores as `benchmarks/locomo.py --work DIR` leaves them (one
directory per sample); each is copied to a temp dir and digested there (deterministic mode), so
the stores are never changed. One onnxruntime thread by default (``--threads``): CPU time then
counts work, not the spinning of a second thread on a busy machine, so alternating runs of two
trees compare even under load. The fingerprint hashes every derived item's kind, text and
validity: two trees with the same fingerprint made the same facts and summaries.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("samples", nargs="+", help="sample directories in --work (conv-26 …)")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1],
                    help="the memcli source tree to run (default: this one)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    sys.path.insert(0, str(args.tree))
    os.cpu_count = lambda: args.threads  # the embedder sizes its onnxruntime session by this
    from memcli.services.digest import digest
    from memcli.services.memory import Memory

    for name in args.samples:
        with tempfile.TemporaryDirectory(prefix="memcli-digest-cpu-") as tmp:
            home = Path(tmp)
            shutil.copy(args.work / name / "memcli.db", home / "memcli.db")
            with Memory(home) as mem:
                mem.embedder.embed(["warm up"] * 40)  # load both sessions before timing
                mem.embedder.embed(["warm up"])
                cpu, wall = time.process_time(), time.perf_counter()
                r = digest(mem, use_llm=False)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            db = sqlite3.connect(home / "memcli.db")
            rows = db.execute("SELECT kind, text, valid_to IS NOT NULL FROM items "
                              "WHERE source = 'digest' ORDER BY kind, text").fetchall()
            links = db.execute("SELECT count(*) FROM links").fetchone()[0]
            db.close()
        fp = hashlib.sha1(json.dumps(rows).encode()).hexdigest()[:10]
        print(f"{args.tree.name} {name}: CPU {cpu:.2f} s, wall {wall:.2f} s, {r.messages} messages, "
              f"{r.notes} facts, {r.summaries} summaries, {links} links, {r.merged} merged, "
              f"{r.superseded} superseded, fingerprint {fp}; load {os.getloadavg()[0]:.1f}",
              flush=True)


if __name__ == "__main__":
    main()
