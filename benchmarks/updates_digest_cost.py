"""CPU cost of issue 14's digest additions (attributes by meaning, tentative notes): the
deterministic digest of copies of verbatim LoCoMo stores (``locomo.py --work DIR``), with them
on and off (benchmarks/updates_toggle.switch_off), alternating, as process CPU time.

    .venv/bin/python benchmarks/updates_digest_cost.py --work /work/locomo_u14 --rounds 2
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import sys, time, json
sys.path.insert(0, {bench!r})
import common, locomo, updates_toggle
if {off!r}:
    updates_toggle.switch_off()
from memcli.services.digest.pipeline import digest
from memcli.services.memory import Memory
mem = Memory({home!r}, embedder=common.make_embedder("onnx"))
mem.embedder.embed(["warm up"])
t = time.process_time()
r = digest(mem, use_llm=False)
cpu = time.process_time() - t
facts = mem.store.list_derived(["fact"])
sup = sum(1 for f in facts if f.get("superseded_by"))
print(json.dumps({{"cpu": cpu, "messages": r.messages, "facts": len(facts), "superseded": sup}}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--samples", default="conv-26,conv-30")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)
    bench = str(Path(__file__).resolve().parent)
    import json
    for name in args.samples.split(","):
        for rnd in range(args.rounds):
            for off in ((False, True) if rnd % 2 == 0 else (True, False)):
                tmp = Path(tempfile.mkdtemp(prefix="u14cost-"))
                try:
                    shutil.copytree(args.work / name, tmp / "h")
                    out = subprocess.run([sys.executable, "-c", CHILD.format(
                        bench=bench, off=off, home=str(tmp / "h"))], capture_output=True,
                        text=True, check=True).stdout.strip().splitlines()[-1]
                    r = json.loads(out)
                    print(f"{name} round {rnd + 1} {'off' if off else 'on '}: "
                          f"{r['cpu']:.2f} CPU-s, {r['messages']} messages, {r['facts']} facts, "
                          f"{r['superseded']} superseded", flush=True)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
