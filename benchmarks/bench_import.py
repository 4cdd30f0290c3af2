"""Import throughput with the real default embedder (ONNX all-MiniLM-L6-v2), embeddings included.

Generates a synthetic ChatGPT export (``conversations.json``, tree-shaped ``mapping`` like the real
thing) and the same conversations as JSONL, imports each into a fresh memory through the library
(``memcli.services.ingest.import_path``, what ``memcli import`` calls), and reports messages/s with the time
split into parse+validate, embedding and database writes. A re-import (must add 0) is timed too.

    .venv/bin/python benchmarks/bench_import.py [--messages 5000] [--per-conversation 20]
    .venv/bin/python benchmarks/bench_import.py --messages 2000 --sources jsonl --precision fp32,int8 --probe

``--precision``: the bulk-embedding precision(s) (``$MEMCLI_EMBED_PRECISION``), each imported in the
same run, alternated; ``--probe``: also a matrix-multiply probe (bench_embed.py) in the same run,
so the embedding's FLOP rate is reported as a fraction of the machine's measured peak.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import header, make_embedder, peak_rss_mib, table

WORDS = ("the a to of and in for is on that with as it at by this from be or have an are was "
         "not but can your you we they will if my do about more so what when which their there "
         "garden tomato bicycle chain train ticket Lisbon Berlin recipe bread starter oven flour "
         "meeting project deadline review budget invoice client design database index query "
         "python script error test deploy server memory laptop battery screen keyboard dentist "
         "appointment birthday present holiday flight hotel museum concert guitar piano lesson "
         "running marathon knee doctor vitamin sleep coffee espresso grinder beans roast tea "
         "weather rain umbrella jacket winter summer mountain river lake forest camping tent"
         ).split()


def sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def message_text(rng: random.Random, role: str, short: bool = False) -> str:
    # user turns are short questions; assistant turns are paragraphs (longer than the model's
    # 256-token window now and then, as real answers are). --short: one-line chat messages.
    if short:
        return sentence(rng, rng.randint(5, 12))
    if role == "user":
        return " ".join(sentence(rng, rng.randint(6, 14)) for _ in range(rng.randint(1, 3)))
    return " ".join(sentence(rng, rng.randint(8, 18)) for _ in range(rng.randint(3, 12)))


def make_export(n_messages: int, per_conv: int, seed: int = 7, short: bool = False) -> list[dict]:
    rng = random.Random(seed)
    convs = []
    t0 = 1_700_000_000
    for c in range(max(1, n_messages // per_conv)):
        mapping = {"root": {"id": "root", "parent": None, "children": [], "message": None}}
        parent = "root"
        created = t0 + c * 3600
        for j in range(per_conv):
            mid = f"c{c}-m{j}"
            role = "user" if j % 2 == 0 else "assistant"
            mapping[parent]["children"].append(mid)
            mapping[mid] = {"id": mid, "parent": parent, "children": [], "message": {
                "id": mid, "author": {"role": role}, "create_time": created + j * 30,
                "content": {"content_type": "text", "parts": [message_text(rng, role, short)]},
                "weight": 1.0, "metadata": {}}}
            parent = mid
        convs.append({"id": f"conv-{c}", "conversation_id": f"conv-{c}",
                      "title": sentence(rng, 4)[:-1], "create_time": created,
                      "update_time": created + per_conv * 30, "current_node": parent,
                      "mapping": mapping})
    return convs


def locomo_texts(n_messages: int, per_conv: int) -> list[list[tuple[str, str]]]:
    """Real chat text for ``--text locomo``: LoCoMo's turns (read from ../shared/eval at run time,
    never copied), its sessions cut into conversations of ``per_conv`` turns and cycled until
    ``n_messages``; the first speaker of a session is the user, the other the assistant."""
    from locomo import SHARED_EVAL, sessions, turn_text

    path = SHARED_EVAL / "locomo10.json"
    if not path.exists():
        sys.exit(f"Error: {path} not found (--text locomo reads LoCoMo from ../shared/eval)")
    data = json.loads(path.read_text())
    convs: list[list[tuple[str, str]]] = []
    while sum(map(len, convs)) < n_messages:
        for sample in data:
            for _, _, turns in sessions(sample["conversation"]):
                first = turns[0].get("speaker") if turns else None
                for i in range(0, len(turns), per_conv):
                    convs.append([("user" if t.get("speaker") == first else "assistant",
                                   turn_text(t)) for t in turns[i:i + per_conv]])
    out, left = [], n_messages
    for c in convs:
        if left <= 0:
            break
        out.append(c[:left])
        left -= len(out[-1])
    return out


def make_locomo_export(n_messages: int, per_conv: int) -> list[dict]:
    """The ChatGPT-shaped export of :func:`locomo_texts` (same layout as :func:`make_export`)."""
    convs = []
    t0 = 1_700_000_000
    for c, turns in enumerate(locomo_texts(n_messages, per_conv)):
        mapping = {"root": {"id": "root", "parent": None, "children": [], "message": None}}
        parent, created = "root", t0 + c * 3600
        for j, (role, text) in enumerate(turns):
            mid = f"c{c}-m{j}"
            mapping[parent]["children"].append(mid)
            mapping[mid] = {"id": mid, "parent": parent, "children": [], "message": {
                "id": mid, "author": {"role": role}, "create_time": created + j * 30,
                "content": {"content_type": "text", "parts": [text]}, "weight": 1.0,
                "metadata": {}}}
            parent = mid
        convs.append({"id": f"conv-{c}", "conversation_id": f"conv-{c}",
                      "title": f"chat {c}", "create_time": created,
                      "update_time": created + len(turns) * 30, "current_node": parent,
                      "mapping": mapping})
    return convs


def to_jsonl(convs: list[dict]) -> str:
    lines = []
    for c in convs:
        msgs = [n["message"] for n in c["mapping"].values() if n["message"]]
        lines.append(json.dumps({"id": c["id"], "title": c["title"], "messages": [
            {"role": m["author"]["role"], "content": m["content"]["parts"][0], "id": m["id"]}
            for m in msgs]}))
    return "\n".join(lines) + "\n"


class TimedEmbedder:
    def __init__(self, inner):
        self.inner, self.model_id, self.dim, self.seconds, self.texts = inner, inner.model_id, \
            inner.dim, 0.0, 0
        self.calls: list[list[str]] = []  # what each call embedded (for the FLOP count)
        self.cpu_seconds = 0.0

    def embed(self, texts):
        t, c = time.perf_counter(), time.process_time()
        out = self.inner.embed(texts)
        self.seconds += time.perf_counter() - t
        self.cpu_seconds += time.process_time() - c
        self.texts += len(texts)
        self.calls.append(list(texts))
        return out

    def work(self) -> dict:
        """Tokens, padded tokens and FLOPs of everything embedded (bench_embed.padded_work)."""
        from bench_embed import padded_work

        total = {"tokens": 0, "padded": 0, "flops": 0.0}
        if getattr(self.inner, "tokenizer", None) is None:
            return total
        for texts in self.calls:
            for k, v in padded_work(self.inner, texts).items():
                total[k] += v
        return total


def run_one(source: str, path: Path, embedder, workdir: Path, digest: bool = False,
            tag: str = "") -> dict:
    """One import into a fresh memory; ``digest``: followed by the digest `memcli import` now runs
    by itself (the default, deterministic one), timed as part of the import."""
    from memcli.services.ingest import import_path
    from memcli.services.memory import Memory

    timed = TimedEmbedder(embedder)
    with Memory(workdir / f"home-{source}{'-digest' if digest else ''}{tag}",
                embedder=timed) as mem:
        t, cpu = time.perf_counter(), time.process_time()
        r = import_path(mem, source, path)
        digest_s = 0.0
        if digest:
            from memcli.services.digest import digest as run_digest

            d = time.perf_counter()
            run_digest(mem)
            digest_s = time.perf_counter() - d
        total, cpu = time.perf_counter() - t, time.process_time() - cpu
        work = timed.work()
        t = time.perf_counter()
        again = import_path(mem, source, path)
        re_s = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(3):  # the same pass 1 the import did, alone
            sum(1 for _ in __import__(f"memcli.importers.{source}", fromlist=["parse"]).parse(path))
        parse_s = (time.perf_counter() - t) / 3
    return {"source": source + (" + auto-digest" if digest else ""), "added": r.added,
            "embed_tokens": work["tokens"], "embed_flops": work["flops"],
            "embed_cpu_s": timed.cpu_seconds,
            "digest_s": digest_s, "total_s": total, "embed_s": timed.seconds,
            "parse_s": parse_s, "write_s": max(0.0, total - timed.seconds - 2 * parse_s),
            "msg_per_s": r.added / total if total else 0.0, "cpu_s": cpu,
            "msg_per_cpu_s": r.added / cpu if cpu else 0.0, "reimport_added": again.added,
            "reimport_s": re_s}


def probe_row(r: dict, peak: dict) -> list:
    """The embedding's achieved rate against the GEMM peak measured in the same run (by wall
    clock on all cores, and per CPU-second on one thread: a busy machine moves the second little),
    and the import rate if embedding ran at the per-CPU-s peak on every core (the rest unchanged)."""
    cores = os.cpu_count() or 1
    wall = r["embed_flops"] / max(r["embed_s"], 1e-9) / 1e9
    cpu = r["embed_flops"] / max(r["embed_cpu_s"], 1e-9) / 1e9
    at_peak_s = (r["total_s"] - r["embed_s"]
                 + r["embed_flops"] / max(cores * peak["cpu"], 1e-9) / 1e9)
    return [r["precision"], f"{peak['wall']:.0f}", f"{wall:.0f}", f"{wall / max(peak['wall'], 1e-9):.0%}",
            f"{peak['cpu']:.0f}", f"{cpu:.0f}", f"{cpu / max(peak['cpu'], 1e-9):.0%}",
            f"{r['added'] / at_peak_s:.0f}"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--per-conversation", type=int, default=20)
    ap.add_argument("--embedder", default="onnx", help="onnx (default, the product's), sbert, hash")
    ap.add_argument("--sources", default="chatgpt,jsonl")
    ap.add_argument("--short", action="store_true", help="one-sentence messages (~12 tokens)")
    ap.add_argument("--text", choices=("synthetic", "locomo"), default="synthetic",
                    help="message text: random words (default) or LoCoMo's real chat turns")
    ap.add_argument("--digest", action="store_true",
                    help="also import each source with the automatic digest and report the ratio")
    ap.add_argument("--precision", default=None,
                    help="bulk-embedding precision(s), comma-separated: fp32, int8 "
                         "(default: the product's, $MEMCLI_EMBED_PRECISION)")
    ap.add_argument("--probe", action="store_true",
                    help="also measure the fp32/int8 matrix-multiply peak in the same run")
    args = ap.parse_args(argv)
    from memcli.backends.embedders import PRECISION_ENV, bulk_precision

    precisions = (args.precision or bulk_precision()).split(",")

    convs = (make_locomo_export(args.messages, args.per_conversation) if args.text == "locomo"
             else make_export(args.messages, args.per_conversation, short=args.short))
    with tempfile.TemporaryDirectory(prefix="memcli-bench-import-") as tmp:
        work = Path(tmp)
        files = {"chatgpt": work / "conversations.json", "jsonl": work / "conversations.jsonl"}
        files["chatgpt"].write_text(json.dumps(convs))
        files["jsonl"].write_text(to_jsonl(convs))
        n_msgs = sum(len(c["mapping"]) - 1 for c in convs)
        embedders, load_s = {}, 0.0
        for p in precisions:
            os.environ[PRECISION_ENV] = p
            t = time.perf_counter()
            embedders[p] = make_embedder(args.embedder)
            embedders[p].embed([f"warm up {i}" for i in range(8)])  # bulk session too
            load_s = max(load_s, time.perf_counter() - t)
        embedder = embedders[precisions[0]]
        tok = getattr(embedder, "tokenizer", None)
        sample = [n["message"]["content"]["parts"][0] for c in convs[:20]
                  for n in c["mapping"].values() if n["message"]]
        avg_tokens = (sum(min(256, len(e.ids)) for e in tok.encode_batch(sample)) / len(sample)
                      if tok else None)
        rows = []
        peaks = {p: {"wall": 0.0, "cpu": 0.0} for p in ("fp32", "int8")}
        for s in args.sources.split(","):
            for p in precisions:  # alternated: a busy machine slows each the same way
                if args.probe:
                    from bench_embed import probe_all

                    for q, got in probe_all(os.cpu_count() or 1).items():
                        peaks[q] = {k: max(peaks[q][k], got[k]) for k in got}
                rows.append(run_one(s, files[s], embedders[p], work, tag=f"-{p}") | {"precision": p})
                if args.digest:
                    rows.append(run_one(s, files[s], embedders[p], work, digest=True,
                                        tag=f"-{p}") | {"precision": p})

    extra = {
        "data": f"{'LoCoMo-text' if args.text == 'locomo' else 'synthetic'} export, "
                f"{len(convs)} conversations × {args.per_conversation} messages "
                f"= {n_msgs} messages; ChatGPT file {files['chatgpt'].name} "
                f"{len(json.dumps(convs)) / 1e6:.1f} MB",
        "embedder": f"{args.embedder} ({embedder.model_id}), loaded in {load_s:.1f} s (not counted)"
                    + (f"; mean {avg_tokens:.0f} tokens per message (truncated at 256)"
                       if avg_tokens else ""),
        "peak RSS": f"{peak_rss_mib():.0f} MiB",
    }
    print(header("Import throughput (embeddings included)", extra=extra))
    print()
    print(table(["source", "precision", "added", "wall s", "msg/s (wall)", "CPU s",
                 "msg per CPU-s", "embed s", "embed tokens/s", "parse+validate s (per pass)",
                 "db write s", "re-import added", "re-import s"],
                [[r["source"], r["precision"], r["added"], r["total_s"], f"{r['msg_per_s']:.1f}",
                  r["cpu_s"], f"{r['msg_per_cpu_s']:.1f}", r["embed_s"],
                  f"{r['embed_tokens'] / max(r['embed_s'], 1e-9):,.0f}", r["parse_s"],
                  r["write_s"], r["reimport_added"], r["reimport_s"]] for r in rows]))
    print()
    if args.probe:
        print(table(["precision", "GEMM peak, wall, all cores (G/s)", "embedding, wall (G/s)",
                     "fraction", "GEMM peak per CPU-s (G/s)", "embedding per CPU-s (G/s)",
                     "fraction", f"msg/s at the per-CPU-s peak on {os.cpu_count()} cores"],
                    [probe_row(r, peaks[r["precision"]]) for r in rows]))
        print()
    embed_share = 100 * sum(r['embed_s'] for r in rows) / max(1e-9, sum(r['total_s'] for r in rows))
    print(f"CPU s counts every thread of the process; on an otherwise idle machine with "
          f"{os.cpu_count()} cores the wall-clock rate could reach at most "
          f"~{os.cpu_count()} × msg per CPU-s. Embedding is {embed_share:.0f}% of the wall time.")
    for plain, with_digest in zip(rows[::2], rows[1::2]) if args.digest else ():
        print(f"{with_digest['source']}: {with_digest['msg_per_s']:.1f} msg/s = "
              f"{with_digest['msg_per_s'] / plain['msg_per_s']:.0%} of the import alone "
              f"({plain['msg_per_s']:.1f} msg/s); the digest took {with_digest['digest_s']:.1f} s")
    for r in rows:
        assert r["added"] == n_msgs and r["reimport_added"] == 0, r


if __name__ == "__main__":
    main()
