"""Question answering through the product's ask path (``memcli.services.ask.ask``), on LoCoMo and
the LongMemEval-S development split.

Stores are built by benchmarks/locomo.py (``build_memory``: a conversation per session, turns as
messages) and benchmarks/longmemeval.py (``build_memory`` and its loader, which reads the gzipped
dev split). Each question is asked once per reader:

- ``evidence/<profile>``: no model (``use_llm=False``): the extractive answer, with the context
  the ``small`` or ``capable`` profile would give a model (its budget; no model is needed to know
  what goes into the context);
- ``bundled``: the bundled SmolLM2-135M GGUF generating (``[ask] answer = generate``), through the
  grounding checks (a failed answer becomes the extractive one);
- ``model`` / ``endpoint``: ``--model PATH`` (a GGUF) or ``--endpoint URL`` (OpenAI-compatible),
  under their automatic profile.

Per reader: **context recall** (every gold evidence turn is in the context the model saw; a
LongMemEval question without gold turns counts its gold sessions), **citation support** (the
first citation is a gold turn / in a gold session), **containment** (the normalised gold answer
occurs in the answer text before any evidence list), **F1** (token F1 as in the LoCoMo paper:
lower case, punctuation and articles dropped, stemmed words; LoCoMo categories 1-4),
**abstention** (LoCoMo category 5, adversarial: share abstained; answerable questions: share
wrongly abstained) and seconds per question. LongMemEval preference questions have rubric answers:
no containment for them.

    .venv/bin/python benchmarks/qa.py --dataset locomo --samples 10            # evidence readers
    .venv/bin/python benchmarks/qa.py --dataset longmemeval --limit 5          # 5 per type
    .venv/bin/python benchmarks/qa.py --dataset locomo --samples 2 --limit 10 --readers evidence,bundled
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
import locomo
import longmemeval

LME_FILE = locomo.SHARED_EVAL / "longmemeval_s_dev.json.gz"
ARTICLES = {"a", "an", "the", "and"}


# ---- scoring ------------------------------------------------------------------------------------
def norm_tokens(text: str) -> list[str]:
    """LoCoMo's normalisation (lower case, no punctuation or articles) with memcli's words and
    stems (memcli.core.text)."""
    from memcli.core.text import FTS_WORD, stem, words

    return [stem(w) for w in words(str(text), FTS_WORD) if w not in ARTICLES]


def f1(prediction: str, gold: str) -> float:
    p, g = norm_tokens(prediction), norm_tokens(gold)
    common_ = Counter(p) & Counter(g)
    same = sum(common_.values())
    if not p or not g or not same:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def contains(prediction: str, gold: str) -> bool:
    g = " ".join(norm_tokens(gold))
    return bool(g) and f" {g} " in f" {' '.join(norm_tokens(prediction))} "


def answer_text(ans) -> str:
    """The answer before any appended evidence list."""
    from memcli.services.ask import EVIDENCE_HEAD

    return ans.answer.split(EVIDENCE_HEAD)[0]


# ---- readers -----------------------------------------------------------------------------------
def make_readers(names: list[str], args) -> list[tuple[str, dict]]:
    """(label, keyword arguments for ``ask``) per reader."""
    out = []
    for name in names:
        if name in ("evidence", "evidence/small", "evidence/capable"):
            for prof in ("small", "capable"):
                if name in ("evidence", f"evidence/{prof}"):
                    out.append((f"evidence/{prof}", {"use_llm": False, "profile": prof}))
        elif name == "bundled":
            from memcli.backends.llama import LlamaLLM

            out.append(("bundled (generate)", {"llm": LlamaLLM(), "answer": "generate"}))
        elif name == "model":
            from memcli.backends.llama import LlamaLLM

            out.append((f"model {Path(args.model).name}", {"llm": LlamaLLM(args.model)}))
        elif name == "endpoint":
            from memcli.backends.openai import OpenAILLM

            out.append((f"endpoint {args.endpoint}",
                        {"llm": OpenAILLM(args.endpoint, args.endpoint_model or "")}))
        else:
            raise SystemExit(f"unknown reader {name!r}")
    return out


def ask_one(mem, question: str, now, kwargs: dict, max_tokens: int):
    from memcli.services.ask import ask

    kwargs = dict(kwargs)
    answer_mode = kwargs.pop("answer", None)
    saved = mem.config.ask_answer
    if answer_mode:
        mem.config.ask_answer = answer_mode
    try:
        t = time.perf_counter()
        ans = ask(mem, question, now=now, max_tokens=max_tokens, **kwargs)
        return ans, time.perf_counter() - t
    finally:
        mem.config.ask_answer = saved


def message_ids(hits) -> list[str]:
    return [h.source.get("message_id") for h in hits if h.source.get("message_id")]


def record(ans, seconds: float, gold_ids: set[str], gold_answer, *, category, support) -> dict:
    seen = set(message_ids(ans.context if ans.context is not None else ans.hits))
    first = ans.citations[0].source.get("message_id") if ans.citations else None
    text = answer_text(ans)
    row = {"category": category, "seconds": seconds, "abstained": bool(ans.abstained),
           "context_items": len(ans.context if ans.context is not None else ans.hits),
           "generated": float(bool(ans.own_text))}  # the model's own sentences were shown
    if gold_ids:
        row["context_recall"] = float(gold_ids <= seen)
        row["citation_support"] = float(first is not None and support(first))
    if gold_answer is not None:
        row["containment"] = float(contains(text, gold_answer))
        row["f1"] = f1(text, gold_answer)
    return row


# ---- datasets ----------------------------------------------------------------------------------
def run_locomo(args, readers, embedder, log) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    data = locomo.load(args.locomo)
    for sample in data[: args.samples]:
        home = Path(tempfile.mkdtemp(prefix="qa-locomo-"))
        try:
            mem, last = locomo.build_memory(sample, home, embedder)
            mem.config.llm_n_ctx = args.n_ctx  # the window the capable profile is sized from
            now = last + timedelta(days=1)
            known = locomo.turn_ids(sample)
            taken: Counter = Counter()
            for qa in sample["qa"]:
                cat = qa.get("category")
                if cat not in (1, 2, 3, 4, 5) or (args.limit and taken[cat] >= args.limit):
                    continue
                taken[cat] += 1
                gold = set(locomo.clean_evidence(qa.get("evidence"), known))
                answer = None if cat == 5 else str(qa.get("answer", ""))
                for label, kwargs in readers:
                    ans, sec = ask_one(mem, qa["question"], now, kwargs, args.max_tokens)
                    out[label].append(record(ans, sec, gold if cat != 5 else set(), answer,
                                             category=cat, support=gold.__contains__))
            log(f"{sample['sample_id']}: {sum(taken.values())} questions")
            mem.close()
        finally:
            shutil.rmtree(home, ignore_errors=True)
    return out


def run_longmemeval(args, readers, embedder, log) -> dict[str, list[dict]]:
    from memcli.core.timeutil import utcnow

    out: dict[str, list[dict]] = defaultdict(list)
    cache = longmemeval.CachingEmbedder(embedder)
    taken: Counter = Counter()
    done = _resume(args.rows, out)
    for entry in _round_robin(longmemeval.iter_questions(args.longmemeval)):
        qtype = entry.get("question_type", "?")
        if args.types and qtype not in args.types:
            continue
        if args.limit and taken[qtype] >= args.limit:
            continue
        taken[qtype] += 1
        if entry["question_id"] in done:
            continue
        home = args.work / entry["question_id"] if args.work else \
            Path(tempfile.mkdtemp(prefix="qa-lme-"))
        try:
            mem, gold_turns = longmemeval.build_memory(entry, home, cache)
            mem.config.llm_n_ctx = args.n_ctx
            now = longmemeval.parse_date(entry.get("question_date")) or utcnow()
            sessions = {str(s) for s in entry.get("answer_session_ids") or []}
            abstain = str(entry["question_id"]).endswith("_abs")
            gold = set(gold_turns)  # none: every gold session must be in the context (below)
            answer = None if qtype == "single-session-preference" or abstain \
                else str(entry.get("answer", ""))

            def support(mid: str, sessions=sessions) -> bool:
                return mid.rsplit("_", 1)[0] in sessions

            for label, kwargs in readers:
                ans, sec = ask_one(mem, entry["question"], now, kwargs, args.max_tokens)
                row = record(ans, sec, gold, answer, category=qtype, support=support)
                if not gold_turns and sessions and not abstain:
                    seen = {m.rsplit("_", 1)[0] for m in message_ids(ans.context or [])}
                    row["context_recall"] = float(sessions <= seen)
                    first = ans.citations[0].source.get("message_id") if ans.citations else None
                    row["citation_support"] = float(first is not None and support(first))
                out[label].append(row)
                if args.rows:
                    with open(args.rows, "a", encoding="utf-8") as fh:
                        fh.write(json.dumps({"question_id": entry["question_id"],
                                             "reader": label, **row}) + "\n")
            log(f"[{sum(taken.values())}] {entry['question_id']} {qtype}: "
                f"{mem.store.counts()['messages']} messages")
            mem.close()
        finally:
            if not args.work:
                shutil.rmtree(home, ignore_errors=True)
    return out


def _round_robin(entries) -> list[dict]:
    """One question of each type in turn, so a part of the split (``--limit``, or a run cut
    short with ``--rows``) holds every type in the same proportion."""
    by: dict[str, list[dict]] = defaultdict(list)
    for e in entries:
        by[e.get("question_type", "?")].append(e)
    queues = list(by.values())
    out = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def _resume(rows_file, out: dict[str, list[dict]]) -> set[str]:
    """``--rows``: the rows an earlier run wrote (one per question and reader) count again, and
    their questions are not asked twice."""
    done: set[str] = set()
    if rows_file and Path(rows_file).exists():
        for line in Path(rows_file).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            done.add(row.pop("question_id"))
            out[row.pop("reader")].append(row)
    return done


# ---- report ------------------------------------------------------------------------------------
METRICS = ("context_recall", "citation_support", "containment", "f1")


def mean(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if key in r]
    return sum(vals) / len(vals) if vals else None


def summarise(rows: list[dict], answerable=lambda r: r["category"] != 5) -> dict:
    ans = [r for r in rows if answerable(r)]
    adv = [r for r in rows if not answerable(r)]
    out = {m: mean(ans, m) for m in METRICS}
    out["false_abstention"] = mean([{"x": float(r["abstained"])} for r in ans], "x")
    out["abstention_cat5"] = mean([{"x": float(r["abstained"])} for r in adv], "x")
    out["seconds"] = mean(rows, "seconds")
    out["context_items"] = mean(rows, "context_items")
    out["generated"] = mean(rows, "generated")
    out["n"] = len(ans)
    out["n_unanswerable"] = len(adv)
    return out


def report(name: str, results: dict[str, list[dict]], args, elapsed: float) -> tuple[str, dict]:
    lines = [common.header(f"QA through `memcli ask`: {name}", extra={
        "selection": (f"{args.samples} conversations" if name == "LoCoMo" else LME_FILE.name)
                     + (f", first {args.limit} questions per category/type" if args.limit else
                        ", all questions"),
        "capable budget": "[llm] n_ctx " + str(args.n_ctx) + " tokens",
        "wall time": f"{elapsed:.0f} s"})]
    summary = {}
    rows_out = []
    for label, rows in results.items():
        s = summarise(rows) if name == "LoCoMo" else summarise(rows, lambda r: True)
        summary[label] = s
        rows_out.append((label, s["context_recall"], s["citation_support"], s["containment"],
                         s["f1"] if name == "LoCoMo" else None, s["false_abstention"],
                         s["abstention_cat5"], s["context_items"], s["generated"], s["seconds"],
                         s["n"]))
    lines.append("")
    lines.append(common.table(["reader", "context recall", "citation support", "containment",
                               "F1", "abstained (answerable)", "abstained (cat 5)",
                               "context items", "generated shown", "s/question", "n"], rows_out))
    by = defaultdict(dict)
    for label, rows in results.items():
        for cat in sorted({r["category"] for r in rows}, key=str):
            by[cat][label] = [r for r in rows if r["category"] == cat]
    lines.append("\nContext recall / containment by category or type:\n")
    labels = list(results)
    lines.append(common.table(["category", *labels], [
        (str(cat), *[_pair(per.get(lab, [])) for lab in labels]) for cat, per in by.items()]))
    return "\n".join(lines), summary


def _pair(rows: list[dict]) -> str:
    cr, ct = mean(rows, "context_recall"), mean(rows, "containment")
    fmt = lambda v: "–" if v is None else f"{v:.2f}"
    return f"{fmt(cr)} / {fmt(ct)} (n={len(rows)})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", choices=["locomo", "longmemeval", "both"], default="both")
    ap.add_argument("--locomo", type=Path, default=locomo.SHARED_EVAL / "locomo10.json")
    ap.add_argument("--longmemeval", type=Path, default=LME_FILE)
    ap.add_argument("--samples", type=int, default=10, help="LoCoMo conversations")
    ap.add_argument("--limit", type=int, default=None,
                    help="only the first N questions of each category (LoCoMo) / type (LongMemEval)")
    ap.add_argument("--types", type=lambda v: set(filter(None, v.split(","))), default=None,
                    help="LongMemEval: only these question types (comma-separated, e.g. "
                         "knowledge-update)")
    ap.add_argument("--readers", default="evidence",
                    help="comma-separated: evidence (= evidence/small + evidence/capable), bundled, "
                         "model, endpoint")
    ap.add_argument("--model", default=None, help="a GGUF file (adds the 'model' reader)")
    ap.add_argument("--endpoint", default=None, help="an OpenAI-compatible base URL")
    ap.add_argument("--endpoint-model", default=None)
    ap.add_argument("--n-ctx", type=int, default=None,
                    help="the model window the capable profile is sized from ([llm] n_ctx)")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--embedder", default="onnx", choices=["onnx", "sbert", "hash"])
    ap.add_argument("--json", type=Path, default=None, help="write the summaries here")
    ap.add_argument("--work", type=Path, default=None,
                    help="LongMemEval: keep each question's store in WORK/<question id> and "
                         "reuse it (benchmarks/longmemeval.py --work builds the same stores)")
    ap.add_argument("--rows", type=Path, default=None,
                    help="LongMemEval: append each question's result here as it finishes, and "
                         "resume from what the file holds")
    args = ap.parse_args(argv)
    names = [n for n in args.readers.split(",") if n]
    if args.model and "model" not in names:
        names.append("model")
    if args.endpoint and "endpoint" not in names:
        names.append("endpoint")
    from memcli.core.config import Config

    args.n_ctx = args.n_ctx or Config().llm_n_ctx
    readers = make_readers(names, args)
    embedder = common.make_embedder(args.embedder)
    log = lambda s: print(s, file=sys.stderr, flush=True)
    texts, summaries = [], {}
    for name, path, run in (("LoCoMo", args.locomo, run_locomo),
                            ("LongMemEval-S dev", args.longmemeval, run_longmemeval)):
        if args.dataset not in ("both", "locomo" if name == "LoCoMo" else "longmemeval"):
            continue
        if not path.exists():
            print(f"{name} data not found at {path}", file=sys.stderr)
            return 2
        t = time.perf_counter()
        text, summary = report(name, run(args, readers, embedder, log), args,
                               time.perf_counter() - t)
        texts.append(text)
        summaries[name] = summary
    print("\n\n".join(texts))
    if args.json:
        args.json.write_text(json.dumps(summaries, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
