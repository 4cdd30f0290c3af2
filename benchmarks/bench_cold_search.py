"""Cold one-shot `memcli search` on a 10,000-message store vs the naive path.

fast  = the real CLI, default embedder (numpy forward pass over the memory-mapped MiniLM weights)
naive = the same CLI with MEMCLI_EMBEDDER=sbert (imports sentence_transformers/torch and encodes)
Both are fresh processes, measured alternately in the same run. ``--baseline PATH`` also runs
another ``memcli`` executable (e.g. the previous commit's, installed in a second venv) on the same
store, alternating with this one, so old and new are compared under the same load. Usage:
    .venv/bin/python benchmarks/bench_cold_search.py [--messages 10000] [--runs 11] [--baseline BIN]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEMCLI = str(Path(sys.executable).with_name("memcli"))

TOPICS = {
    "travel": ["booked a flight to {city}", "the hotel in {city} was {adj}", "train from {city} to {city2}",
               "packing list for {city}: passport, charger, {thing}"],
    "cooking": ["tried a {adj} {dish} recipe", "need {thing} for the {dish}", "the {dish} took {n} minutes"],
    "work": ["meeting with {name} about the {project} roadmap", "{project} deadline moved to {day}",
             "{name} reviewed my {project} pull request"],
    "health": ["ran {n} km this morning", "dentist appointment on {day}", "slept badly, {n} hours"],
    "family": ["{name}'s birthday is on {day}", "called {name} about the {thing}",
               "{name} visited from {city}"],
}
FILL = {
    "city": ["Lisbon", "Berlin", "Osaka", "Toronto", "Nairobi", "Lima", "Oslo", "Hanoi"],
    "city2": ["Porto", "Munich", "Kyoto", "Montreal", "Mombasa", "Cusco", "Bergen", "Hue"],
    "adj": ["great", "noisy", "cheap", "spicy", "quiet", "lovely", "awful"],
    "thing": ["umbrella", "adapter", "sunscreen", "ginger", "lemons", "tickets", "keys"],
    "dish": ["curry", "risotto", "ramen", "tagine", "paella", "lasagne"],
    "n": [str(i) for i in range(3, 60)],
    "name": ["Ana", "Ben", "Chen", "Dara", "Emil", "Fatima", "Goran", "Hana"],
    "project": ["billing", "search", "mobile app", "data pipeline", "onboarding"],
    "day": ["Monday", "Tuesday", "Friday", "March 3", "June 12", "the weekend"],
}
NEEDLES = [
    ("My sister Alice moved to Reykjavik last spring and works as a glaciologist there",
     "which country does my sibling live in now"),
    ("I'm allergic to penicillin, the doctor noted it after the rash in 2019",
     "what medicine can't I take"),
    ("The spare key for the cabin is hidden under the blue flower pot by the shed",
     "where did we hide the cottage key"),
]


def synth(n: int, seed: int = 7):
    rnd = random.Random(seed)
    t0 = datetime(2023, 1, 1, tzinfo=timezone.utc)
    convs, msgs = [], 0
    while msgs < n:
        topic = rnd.choice(list(TOPICS))
        size = min(rnd.randint(6, 30), n - msgs)
        when = t0 + timedelta(hours=rnd.randint(0, 24 * 600))
        turns = []
        for i in range(size):
            tpl = rnd.choice(TOPICS[rnd.choice([topic, topic, rnd.choice(list(TOPICS))])])
            text = tpl.format(**{k: rnd.choice(v) for k, v in FILL.items()})
            turns.append({"role": "user" if i % 2 == 0 else "assistant", "content": text,
                          "created_at": (when + timedelta(minutes=i)).isoformat()})
        convs.append({"id": f"c{len(convs)}", "title": f"{topic} chat {len(convs)}", "messages": turns})
        msgs += size
    return convs


def build_store(home: Path, n: int) -> None:
    from memcli.core.models import NewItem
    from memcli.services.memory import Memory

    with Memory(home) as mem:
        for conv in synth(n - len(NEEDLES)):
            with mem.store.transaction():
                cid = mem.store.upsert_conversation("jsonl", conv["id"], title=conv["title"])
                mem.add_items([NewItem(text=m["content"], kind="message", role=m["role"], source="jsonl",
                                       created_at=m["created_at"], external_id=str(i), position=i,
                                       title=conv["title"], key=f"jsonl:{conv['id']}:{i}")
                               for i, m in enumerate(conv["messages"])], conversation_id=cid)
        for text, _ in NEEDLES:
            mem.remember(text)
        assert mem.stats()["items"] == n, mem.stats()


def run_once(home: Path, query: str, embedder: str | None, memcli: str = MEMCLI
             ) -> tuple[float, list]:
    env = dict(os.environ, MEMCLI_HOME=str(home), HF_HUB_OFFLINE="1")
    env.pop("MEMCLI_EMBEDDER", None)
    if embedder:
        env["MEMCLI_EMBEDDER"] = embedder
    t = time.perf_counter()
    out = subprocess.run([memcli, "search", query, "-n", "10", "--json"], env=env,
                         capture_output=True, text=True)
    dt = time.perf_counter() - t
    if out.returncode:
        raise SystemExit(out.stderr)
    return dt, json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--home", type=Path, default=None, help="reuse/keep the store here")
    ap.add_argument("--baseline", default=None, metavar="BIN",
                    help="another memcli executable to time alternately on the same store")
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="memcli-bench-")) / "home"
    if not (home / "memcli.db").exists():
        t = time.perf_counter()
        build_store(home, args.messages)
        print(f"built {args.messages} items in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    fast, naive, base, found, base_same = [], [], [], 0, 0
    run_once(home, "warm the OS file cache", None)
    for i in range(args.runs):
        text, query = NEEDLES[i % len(NEEDLES)]
        dt, hits = run_once(home, query, None)
        fast.append(dt)
        if args.baseline:
            db, bhits = run_once(home, query, None, args.baseline)
            base.append(db)
            # an older commit may rank differently: count, don't require, agreement
            base_same += [h["id"] for h in bhits] == [h["id"] for h in hits]
        found += hits[0]["text"] == text
        if i < max(3, args.runs // 2):
            dn, nhits = run_once(home, query, "sbert")
            naive.append(dn)
            assert [h["id"] for h in nhits] == [h["id"] for h in hits], "paths disagree"
    mf, mn = statistics.median(fast), statistics.median(naive)
    base_row = (f"| baseline `{args.baseline}` (same store, alternating) | {len(base)} | "
                f"{statistics.median(base):.3f} | {min(base):.3f} | {max(base):.3f} |\n"
                f"\nthe baseline returned the same hit ids in {base_same}/{len(base)} runs\n"
                if base else "")
    load = os.getloadavg()[0]
    print(f"""### Cold one-shot search, {args.messages:,} stored messages
- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, \
{datetime.now().strftime('%Y-%m-%d')}, load average {load:.2f}
- command: `.venv/bin/python benchmarks/bench_cold_search.py --messages {args.messages} --runs {args.runs}`

| path | runs | median s | min s | max s |
|---|---|---|---|---|
| memcli search (default: numpy MiniLM query embedding) | {len(fast)} | {mf:.3f} | {min(fast):.3f} | \
{max(fast):.3f} |
| naive (sentence-transformers import + encode) | {len(naive)} | {mn:.3f} | {min(naive):.3f} | \
{max(naive):.3f} |
{base_row}
ratio fast/naive = {mf / mn:.3f} (target ≤ 0.15); median fast ≤ 0.5 s: {mf <= 0.5}; \
needle ranked first in {found}/{len(fast)} fast runs; both paths returned identical hit ids.""")


if __name__ == "__main__":
    main()
