"""Time to first token of a cold `memcli ask` with the default models, vs a naive path.

fast  = the real CLI as shipped: default embedder (MiniLM, numpy forward pass for one query),
        bundled SmolLM2 GGUF in-process (loaded in a thread during retrieval, with the cached
        model state after the static prompt prefix), answer streamed token by token (first
        byte on stdout = first answer token).
naive = the same question the straightforward way: sentence-transformers embedder (imports torch)
        and no streaming (`--json`: the first byte appears once the whole answer is generated).
Each run is a fresh process on the same seeded store; the two paths alternate in one run, so
they see the same machine load. ``--answer generate`` measures the bundled model writing the
answer (``[ask] answer = "generate"``: its first checked sentence is the first byte); the default
(``auto``) is what ships: the extractive answer for the bundled model. Usage:
    .venv/bin/python benchmarks/bench_ask_ttft.py [--notes 300] [--runs 7] [--max-tokens 48]
    .venv/bin/python benchmarks/bench_ask_ttft.py --answer generate
"""

from __future__ import annotations

import argparse
import os
import random
import select
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import header, table

MEMCLI = str(Path(sys.executable).with_name("memcli"))
QUESTIONS = ["who is my dentist?", "which database did we pick for the billing service?",
             "where is the spare key hidden?"]
NEEDLES = ["My dentist is Dr. Alvarez, her practice is on Pine Street",
           "We decided to use PostgreSQL for the billing service",
           "The spare key is hidden under the blue flower pot by the shed"]
WORDS = ("meeting lunch train book recipe garden budget trip call email project report walk "
         "movie concert doctor bank gym school market bike paint coffee music").split()


def seed(home: Path, n: int) -> None:
    from memcli.backends.factory import make_embedder
    from memcli.core.models import NewItem
    from memcli.services.memory import Memory

    rnd = random.Random(3)
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    items = [NewItem(text=f"Note about the {rnd.choice(WORDS)} and the {rnd.choice(WORDS)}: "
                          f"{' '.join(rnd.choices(WORDS, k=12))}",
                     created_at=(t0 + timedelta(hours=7 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"))
             for i in range(n)]
    items += [NewItem(text=t, created_at="2024-03-01T10:00:00Z") for t in NEEDLES]
    with Memory(home, embedder=make_embedder("onnx")) as mem:
        mem.add_items(items)


def run_once(home: Path, question: str, naive: bool, max_tokens: int) -> tuple[float, float, str]:
    """(seconds to the first byte on stdout, seconds to exit, output)."""
    env = dict(os.environ, MEMCLI_HOME=str(home), HF_HUB_OFFLINE="1")
    env.pop("MEMCLI_LLM", None)
    env.pop("MEMCLI_EMBEDDER", None)  # the product default for the fast path
    if naive:
        env["MEMCLI_EMBEDDER"] = "sbert"
    cmd = [MEMCLI, "ask", question, "--max-tokens", str(max_tokens)] + (["--json"] if naive else [])
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    fd = proc.stdout.fileno()
    first = None
    chunks = []
    while True:
        select.select([fd], [], [])
        data = os.read(fd, 65536)
        if not data:
            break
        if first is None:
            first = time.perf_counter() - start
        chunks.append(data)
    proc.wait()
    total = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-500:]}")
    return first or total, total, b"".join(chunks).decode()


PHASES = r"""
import json, sys, time
t0 = time.perf_counter()
import memcli.main  # noqa: F401  (what the memcli entry point imports)
t1 = time.perf_counter()
from memcli.core.text import query_words
from memcli.services.answer_context import build_messages, select_context, static_prefix
from memcli.services.memory import Memory
mem = Memory()
q = sys.argv[1]
hits = mem.search(q, limit=mem.config.ask_context_items)
hits = select_context(hits, query_words(q), mem.config.ask_abstain_threshold)
t2 = time.perf_counter()
llm = mem.llm
llm.preload(static_prefix())
t3 = time.perf_counter()
msgs = build_messages(q, hits, today="2024-05-01")
next(iter(llm.stream(msgs, max_tokens=8)))
t4 = time.perf_counter()
print(json.dumps({"import memcli.main": t1 - t0, "open store + embed query + search": t2 - t1,
                  "import llama_cpp + load GGUF + restore cached prompt-prefix state": t3 - t2,
                  "evaluate the rest of the prompt to the first token": t4 - t3,
                  "prompt characters": sum(len(m["content"]) for m in msgs)}))
"""


def phases(home: Path, question: str) -> dict:
    """Where the first-token time goes, in a fresh process (interpreter start-up not included)."""
    import json

    env = dict(os.environ, MEMCLI_HOME=str(home), HF_HUB_OFFLINE="1")
    env.pop("MEMCLI_LLM", None)
    env.pop("MEMCLI_EMBEDDER", None)
    out = subprocess.run([sys.executable, "-c", PHASES, question], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--notes", type=int, default=300)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--answer", default="auto", choices=["auto", "generate", "extractive"],
                    help="[ask] answer for both paths (auto: what ships)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        seed(home, args.notes)
        (home / "config.toml").write_text(f'[ask]\nanswer = "{args.answer}"\n')
        # one untimed run each so both paths read their model files from the page cache, as a
        # user's second command would (the first-ever run also builds the ONNX export once)
        run_once(home, QUESTIONS[0], False, args.max_tokens)
        run_once(home, QUESTIONS[0], True, args.max_tokens)
        fast, naive, fast_total, naive_total = [], [], [], []
        sample = ""
        for i in range(args.runs):
            q = QUESTIONS[i % len(QUESTIONS)]
            f1, t1, out = run_once(home, q, False, args.max_tokens)
            f2, t2, _ = run_once(home, q, True, args.max_tokens)
            fast.append(f1), fast_total.append(t1), naive.append(f2), naive_total.append(t2)
            sample = sample or out
        split = [phases(home, QUESTIONS[i % len(QUESTIONS)]) for i in range(min(3, args.runs))]

    def fmt(v):
        return f"{statistics.median(v):.2f} s (min {min(v):.2f}, max {max(v):.2f})"

    print(header("memcli ask: time to first token, cold process", extra={
        "store": f"{args.notes} synthetic notes + {len(NEEDLES)} answerable ones; "
                 f"{args.runs} runs per path, alternating; --max-tokens {args.max_tokens}; "
                 f"[ask] answer = {args.answer}",
        "models": "all-MiniLM-L6-v2 (default numpy path / sentence-transformers), "
                  "SmolLM2-135M-Instruct Q4_1 GGUF via llama-cpp-python, n_threads = cores",
    }))
    print()
    print(table(["path", "first byte on stdout (median)", "whole command (median)"], [
        ("fast: `memcli ask Q` (default embedder, streamed)", fmt(fast), fmt(fast_total)),
        ("naive: sbert embedder, answer printed when complete", fmt(naive), fmt(naive_total)),
    ]))
    print()
    print(f"Target: first token ≤ 1.5 s. Median speed-up of the first byte: "
          f"{statistics.median(naive) / statistics.median(fast):.1f}×.")
    print()
    print("Where the fast path's first-token time goes (fresh process, median of "
          f"{len(split)}; Python start-up not included):")
    print()
    print(table(["phase", "seconds"], [
        (k, f"{statistics.median(d[k] for d in split):.3f}") for k in split[0]
        if k != "prompt characters"]))
    print()
    print(f"Prompt size: {statistics.median(d['prompt characters'] for d in split):.0f} characters.")
    print()
    print("Sample fast output:")
    print()
    print("```")
    print(sample.strip())
    print("```")


if __name__ == "__main__":
    main()
