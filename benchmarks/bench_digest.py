"""Digest benchmark: throughput (messages/s) in deterministic mode and with the bundled LLM, and
LoCoMo evidence recall@k (categories 1-4) of the plain verbatim index vs the digested structure.

    .venv/bin/python benchmarks/bench_digest.py                     # throughput, both modes
    .venv/bin/python benchmarks/bench_digest.py --locomo 10         # + LoCoMo recall, 10 samples
    .venv/bin/python benchmarks/bench_digest.py --no-llm --locomo 2 --embedder hash   # quick

LoCoMo is read from ../shared/eval at run time (never copied). Each sample is stored the way an
importer would (one conversation per session, a message per turn, role = the speaker, external id
= dia_id, time = the session date). "verbatim" ranks messages with the plain hybrid search;
"digested" runs `digest --no-llm` and ranks messages with
`memcli.retrieval.recall.recall_verbatim` (search over everything; each hit replaced by the verbatim
messages it rests on, a summary by its 5 messages closest to the query); "digested (plain
search)" maps the plain `hybrid_search` hits the same way but a summary to all its messages. Recall@k
= share of gold evidence turns among the top k messages, averaged over questions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval" / "locomo10.json"
KS = (5, 10, 25)

from locomo import add_sample, build_memory, clean_evidence, turn_ids  # noqa: E402  (same loading as the LoCoMo runner)


def make_embedder(name: str):
    from memcli.backends.factory import make_embedder as make
    from memcli.backends.fakes import HashEmbedder

    return HashEmbedder() if name == "hash" else make(name)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} CPUs, Python " \
           f"{platform.python_version()}"


def throughput(data, embedder_name: str, llm: bool, llm_sessions: int,
               llm_only: bool = False) -> list[str]:
    from memcli.services.digest.pipeline import check, digest

    rows = []
    modes = [] if llm_only else [("deterministic (--no-llm)", False, None)]
    if llm:
        modes.append(("bundled LLM (SmolLM2-135M)", True, llm_sessions))
    for label, use_llm, max_sessions in modes:
        home = Path(tempfile.mkdtemp(prefix="bench-digest-"))
        try:
            mem, _ = build_memory(data[0], home, make_embedder(embedder_name), max_sessions)
            n_msgs = mem.store.counts()["messages"]
            t0 = time.perf_counter()
            llm_obj = None
            if use_llm:
                from memcli.backends.factory import make_llm

                llm_obj = make_llm(mem.config.__class__(llm_backend="llama"))
            r = digest(mem, use_llm=use_llm, llm=llm_obj)
            dt = time.perf_counter() - t0
            inv = check(mem.store)
            rows.append(f"| {label} | {n_msgs} | {r.conversations} | {r.notes} | {r.summaries} | "
                        f"{r.links} | {r.superseded} | {r.merged} | {r.llm.calls} / "
                        f"{r.llm.accepted} | {dt:.1f} | {n_msgs / dt:.2f} | "
                        f"{inv['derived_without_sources']} / {inv['duplicate_facts']} |")
            again = time.perf_counter()
            r2 = digest(mem, use_llm=False)
            rows[-1] += f" {time.perf_counter() - again:.2f} s, {r2.notes} new |"
            print(rows[-1], file=sys.stderr, flush=True)
            mem.close()
        finally:
            shutil.rmtree(home, ignore_errors=True)
    return rows


def scale(data, n_messages: int, embedder_name: str) -> list[str]:
    """The default `memcli digest` (what import and add now run by themselves) on a store of
    ``n_messages`` LoCoMo turns: the ten conversations, cycled (each round under its own source,
    so as new conversations; repeated statements then merge as duplicates) until there are
    enough. Building the store (embedding) is not timed."""
    from memcli.services.digest.pipeline import check, digest

    home = Path(tempfile.mkdtemp(prefix="bench-digest-scale-"))
    try:
        from memcli.services.memory import Memory

        mem = Memory(home, embedder=make_embedder(embedder_name))
        mem.embedder.embed(["warm up"])
        built = time.perf_counter()
        rnd = 0
        while mem.store.counts()["messages"] < n_messages:
            for sample in data:
                add_sample(mem, sample, source=f"locomo-{rnd}")
                if mem.store.counts()["messages"] >= n_messages:
                    break
            rnd += 1
        n = mem.store.counts()["messages"]
        build_s = time.perf_counter() - built
        t0 = time.perf_counter()
        r = digest(mem)
        dt = time.perf_counter() - t0
        inv = check(mem.store)
        row = (f"| default `digest` ({r.mode}) | {n} | {r.conversations} | {r.notes} | "
               f"{r.summaries} | {r.links} | {r.superseded} | {r.merged} | {dt:.1f} | "
               f"{n / dt:.1f} | {inv['derived_without_sources']} / {inv['duplicate_facts']} | "
               f"{n / build_s:.1f} | {build_s / (build_s + dt):.0%} |")
        print(row, file=sys.stderr, flush=True)
        mem.close()
        return [row]
    finally:
        shutil.rmtree(home, ignore_errors=True)


def locomo(data, n_samples: int, embedder_name: str, log) -> dict:
    from memcli.core.models import Filters
    from memcli.retrieval.hybrid import hybrid_search
    from memcli.retrieval.recall import recall_verbatim
    from memcli.services.digest.pipeline import digest

    embedder = make_embedder(embedder_name)
    res: dict[str, list[dict]] = {"verbatim": [], "digested": [], "digested (plain search)": []}
    for sample in data[:n_samples]:
        t0 = time.perf_counter()
        home = Path(tempfile.mkdtemp(prefix="bench-locomo-"))
        mem, last = build_memory(sample, home, embedder)
        now = last + timedelta(days=1)
        known = turn_ids(sample)
        qas = []
        for qa in sample["qa"]:
            if qa.get("category") not in (1, 2, 3, 4):
                continue
            gold = clean_evidence(qa.get("evidence"), known)
            if gold:
                qas.append((qa["question"], gold, qa["category"]))

        def ext(ids, rows):
            return [rows[i]["external_id"] for i in ids if i in rows and rows[i]["external_id"]]

        for q, gold, cat in qas:
            hits = hybrid_search(mem.store, embedder, q, limit=max(KS), now=now,
                                 filters=Filters(kinds=["message"]))
            res["verbatim"].append(_score([h.source["message_id"] for h in hits], gold, cat))
        td = time.perf_counter()
        r = digest(mem, use_llm=False)
        dsec = time.perf_counter() - td
        for q, gold, cat in qas:
            hits = recall_verbatim(mem, q, limit=max(KS), now=now)
            res["digested"].append(_score([h.source["message_id"] for h in hits], gold, cat))
            plain = hybrid_search(mem.store, embedder, q, limit=max(KS), now=now)
            ranked: list[str] = []
            smap = mem.store.sources_map([h.id for h in plain])
            srows = mem.store.get_items([s for v in smap.values() for s in v])
            for h in plain:
                ids = [h.source["message_id"]] if h.kind == "message" else \
                    ext(smap.get(h.id, []), srows)
                ranked += [d for d in ids if d not in ranked]
            res["digested (plain search)"].append(_score(ranked, gold, cat))
        log(f"{sample['sample_id']}: {len(qas)} questions, {r.messages} messages digested in "
            f"{dsec:.1f}s ({r.notes} notes, {r.summaries} summaries, {r.links} links), total "
            f"{time.perf_counter() - t0:.1f}s; running R@10: " + ", ".join(
                f"{k} {sum(x['R@10'] for x in v) / len(v):.3f}" for k, v in res.items()) +
            f" ({len(res['verbatim'])} questions)")
        mem.close()
        shutil.rmtree(home, ignore_errors=True)
    return res


def _score(ranked, gold, cat):
    out = {f"R@{k}": len(set(ranked[:k]) & set(gold)) / len(gold) for k in KS}
    out["cat"] = cat
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--embedder", default="onnx", help="onnx (default), sbert or hash")
    ap.add_argument("--no-llm", action="store_true", help="skip the LLM throughput run")
    ap.add_argument("--llm-sessions", type=int, default=1,
                    help="sessions of conv-26 digested with the LLM (the small set)")
    ap.add_argument("--llm-only", action="store_true", help="only the LLM throughput row")
    ap.add_argument("--locomo", type=int, default=0, metavar="N", help="LoCoMo samples (0 = skip)")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--scale", type=int, default=0, metavar="N",
                    help="also time the default digest on N messages (LoCoMo cycled)")
    args = ap.parse_args(argv)
    if not EVAL.exists():
        print(f"LoCoMo not found at {EVAL}; nothing to measure", file=sys.stderr)
        return 1
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    data = json.loads(EVAL.read_text(encoding="utf-8"))
    started = time.perf_counter()
    out = ["```", f"machine: {machine()}",
           f"command: .venv/bin/python benchmarks/bench_digest.py {' '.join(argv or sys.argv[1:])}",
           f"embedder: {args.embedder}", "```", ""]
    if not args.skip_throughput:
        out += [f"Digest throughput on LoCoMo conv-26 (deterministic: all sessions; LLM: first "
                f"{args.llm_sessions} session(s))", "",
                "| mode | messages | conversations | notes | summaries | links | superseded | "
                "merged | LLM calls / accepted | seconds | messages/s | orphans / dup facts | "
                "re-run |", "|---|" + "---|" * 12]
        rows = throughput(data, args.embedder, not args.no_llm, args.llm_sessions, args.llm_only)
        out += rows
        out.append("")
    if args.scale:
        out += [f"Default `memcli digest` on {args.scale} messages", "",
                "| mode | messages | conversations | notes | summaries | links | superseded | "
                "merged | seconds | messages/s | orphans / dup facts | storing them (embedding "
                "included), msg/s | import + digest throughput vs import alone |",
                "|---|" + "---|" * 12]
        out += scale(data, args.scale, args.embedder)
        out.append("")
    if args.locomo:
        res = locomo(data, args.locomo, args.embedder, lambda s: print(s, file=sys.stderr))
        out += [f"LoCoMo evidence recall, categories 1-4, {args.locomo} samples, "
                f"{len(res['verbatim'])} questions", "",
                "| index | " + " | ".join(f"R@{k}" for k in KS) + " | R@10 multi-hop | "
                "R@10 temporal | R@10 open-domain | R@10 single-hop |",
                "|---|" + "---|" * (len(KS) + 4)]
        for name, rows in res.items():
            cells = [f"{sum(r[f'R@{k}'] for r in rows) / len(rows):.3f}" for k in KS]
            for cat in (1, 2, 3, 4):
                sub = [r["R@10"] for r in rows if r["cat"] == cat]
                cells.append(f"{sum(sub) / len(sub):.3f}" if sub else "-")
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out.append("")
    out.append(f"total {time.perf_counter() - started:.0f} s")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
