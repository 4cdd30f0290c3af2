"""Can the bundled SmolLM2-135M rerank what `memcli ask` retrieves? A query-likelihood probe.

For LoCoMo questions (categories 1-4, the evidence as published): the top ``--top`` hits of the ask
path (``memcli.services.ask.retrieve_for_question``) on a copy of stores built by
``benchmarks/locomo.py --work DIR`` (the stores themselves are never written), then every hit
scored by the bundled GGUF model as the mean log-probability of the question's tokens after the
passage (``Text: <speaker>: <passage>\\nQuestion: <question>``, log P(question | passage), as in
unsupervised passage reranking), and the two scores interpolated after min-max scaling within the
question's list: ``(1 − α)·hybrid + α·likelihood``. Reported per α: evidence R@5 / R@10 / MRR
within the reranked top (α = 0 is the ask path as it ships), R@10 per category, and what the model
costs per question (tokens evaluated, wall and CPU milliseconds).

    .venv/bin/python benchmarks/rerank_probe.py --work /work/locomo_lead \\
        --samples conv-26,conv-30,conv-41 --per-sample 20 --top 30 [--digested] [--json OUT]

``--digested`` reads the ``<sample>-digest`` stores ``benchmarks/locomo.py --digest --work DIR``
left beside them. The data is read from ../shared/eval at run time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
import locomo

PROMPT = "Text: {passage}\nQuestion:"


class QueryLikelihood:
    """log P(question | passage) under a GGUF model (llama-cpp-python, logits of every token)."""

    def __init__(self, model_path: str | None = None, threads: int | None = None,
                 n_ctx: int = 512):
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as memcli's own llama backend
        import llama_cpp

        from memcli.backends.llm import default_model_path

        self.path = str(model_path or default_model_path())
        self.llama = llama_cpp.Llama(model_path=self.path, n_ctx=n_ctx, n_batch=n_ctx,
                                     logits_all=True, verbose=False,
                                     n_threads=threads or os.cpu_count())
        self.n_ctx = n_ctx
        self.tokens = 0

    def score(self, passage: str, question: str) -> float:
        """Mean log-probability per question token (the passage cut to fit the context)."""
        import numpy as np

        m = self.llama
        q = m.tokenize((" " + question.strip()).encode("utf-8"), add_bos=False)
        p = m.tokenize(PROMPT.format(passage=passage.strip()).encode("utf-8"), add_bos=True)
        room = self.n_ctx - len(q) - 1
        if len(p) > room:
            p = p[:room]
        m.reset()
        m.eval(p + q)
        self.tokens += len(p) + len(q)
        rows = np.asarray(m.scores[len(p) - 1:len(p) + len(q) - 1], dtype=np.float64)
        top = rows.max(axis=1, keepdims=True)
        logz = top[:, 0] + np.log(np.exp(rows - top).sum(axis=1))
        return float((rows[np.arange(len(q)), q] - logz).mean())


def passage_of(hit) -> str:
    from memcli.core.models import speaker_name

    who = speaker_name(hit.role) if getattr(hit, "role", None) else None
    return f"{who}: {hit.text}" if who and not hit.text.startswith(who + ":") else hit.text


def minmax(values: list[float]) -> list[float]:
    lo, hi = min(values), max(values)
    return [0.0 if hi <= lo else (v - lo) / (hi - lo) for v in values]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True,
                    help="stores built by benchmarks/locomo.py --work (copied, never written)")
    ap.add_argument("--samples", default="conv-26,conv-30,conv-41")
    ap.add_argument("--per-sample", type=int, default=20,
                    help="N questions (categories 1-4) of each sample, evenly spaced")
    ap.add_argument("--top", type=int, default=30, help="hits reranked per question")
    ap.add_argument("--alphas", default="0,0.1,0.2,0.3,0.5,0.7,1")
    ap.add_argument("--digested", action="store_true", help="the <sample>-digest stores")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    from memcli.services.ask import retrieve_for_question

    data = {s["sample_id"]: s for s in locomo.load(locomo.SHARED_EVAL / "locomo10.json")}
    alphas = [float(a) for a in args.alphas.split(",")]
    embedder = common.make_embedder("onnx")
    model = QueryLikelihood(threads=args.threads)
    rows: list[dict] = []
    wall = cpu = 0.0
    tmp = Path(tempfile.mkdtemp(prefix="rerank-probe-"))
    try:
        for sid in args.samples.split(","):
            sample = data[sid]
            src = args.work / (sid + ("-digest" if args.digested else ""))
            home = tmp / src.name
            shutil.copytree(src, home)
            mem, last = locomo.build_memory(sample, home, embedder)
            now = last + timedelta(days=1)
            known = locomo.turn_ids(sample)
            eligible = [qa for qa in sample["qa"] if qa.get("category") in locomo.CATEGORIES
                        and locomo.clean_evidence(qa.get("evidence"), known)]
            step = max(1, len(eligible) // args.per_sample)  # spread over the conversation
            for qa in eligible[::step][:args.per_sample]:
                gold = locomo.clean_evidence(qa.get("evidence"), known)
                hits, _, _ = retrieve_for_question(mem, qa["question"], limit=args.top, now=now)
                t, c = time.perf_counter(), time.process_time()
                ql = [model.score(passage_of(h), qa["question"]) for h in hits]
                wall += time.perf_counter() - t
                cpu += time.process_time() - c
                base, lik = minmax([h.score for h in hits] or [0.0]), minmax(ql or [0.0])
                row = {"sample": sid, "category": qa["category"], "question": qa["question"]}
                for a in alphas:
                    order = list(range(len(hits))) if a == 0 else sorted(  # 0: as shipped
                        range(len(hits)), key=lambda i: -((1 - a) * base[i] + a * lik[i]))
                    ranked = locomo.hit_dia_ids(mem, [hits[i] for i in order])
                    row[str(a)] = locomo.score(ranked, gold)
                rows.append(row)
                print(f"[{len(rows)}] {sid} {qa['question'][:60]!r}: "
                      f"R@10 {row[str(alphas[0])]['R@10']:.2f} → "
                      + " ".join(f"{row[str(a)]['R@10']:.2f}" for a in alphas[1:]),
                      file=sys.stderr, flush=True)
            mem.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = len(rows)
    table = []
    for a in alphas:
        agg = {k: sum(r[str(a)][k] for r in rows) / n for k in ("R@5", "R@10", "MRR")}
        cats = [sum(r[str(a)]["R@10"] for r in rows if r["category"] == c)
                / max(1, sum(1 for r in rows if r["category"] == c)) for c in locomo.CATEGORIES]
        table.append((f"α = {a}" + (" (the ask path)" if a == 0 else ""), agg["R@5"],
                      agg["R@10"], agg["MRR"], *cats))
    extra = {"model": Path(model.path).name, "questions": f"{n} ({args.samples}, "
             f"{args.per_sample} of categories 1-4 each, evenly spaced)",
             "stores": "digested" if args.digested else "verbatim",
             "reranked": f"top {args.top} of retrieve_for_question (evidence recall within "
                         f"them, the ceiling of any rerank: "
                         f"{sum(r[str(alphas[0])]['R@50'] for r in rows) / n:.3f})",
             "model cost per question": f"{model.tokens / n:.0f} tokens, "
                                        f"{wall / n * 1000:.0f} ms wall, {cpu / n * 1000:.0f} ms CPU"}
    print(common.header("Query-likelihood rerank probe (LoCoMo, ask path)", extra=extra))
    print()
    print(common.table(["ranking", "R@5", "R@10", "MRR",
                        *[f"R@10 {v}" for v in locomo.CATEGORIES.values()]], table))
    if args.json:
        args.json.write_text(json.dumps({"summary": [list(r) for r in table], "extra": extra,
                                         "questions": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
