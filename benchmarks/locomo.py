"""LoCoMo evidence retrieval through memcli's own path.

For each of the 10 LoCoMo conversations: a fresh memory in a temp dir, every session stored as a
conversation (``Store.upsert_conversation``) and its turns as ``kind="message"`` items through
``Memory.add_items`` (real embedder, FTS, vectors; ``external_id`` = the dia_id, ``created_at`` =
the session date, ``role`` = the speaker), optionally ``memcli.services.digest`` run over it, then every
question asked with ``Memory.search(question, limit=50, now=<day after the last session>)``.

Reported: evidence recall@5/10/25/50 (share of the gold evidence turns found in the top k, averaged
over questions) and MRR (1 / rank of the first gold turn) per category 1-4 and over all four, with
the gold evidence as published and with the audited fixes (dial481/locomo-audit) applied.

The data is read from ../shared/eval at run time and never copied into the repository.

    .venv/bin/python benchmarks/locomo.py                       # all 10 samples, bundled MiniLM
    .venv/bin/python benchmarks/locomo.py --samples 2 --embedder hash   # smoke run
    .venv/bin/python benchmarks/locomo.py --digest              # also: verbatim vs digested
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

SHARED_EVAL = common.ROOT.parent / "shared" / "eval"
KS = (5, 10, 25, 50)
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
EVIDENCE = re.compile(r"D:?(\d+):(\d+)")
SOURCE = "locomo"
REFERENCE = [  # ../shared/eval/README.md, turn level, categories 1-4
    ("DRAGON (LoCoMo paper)", 0.567, 0.662, 0.767, 0.827),
    ("BM25 over date + speaker + text (reference)", 0.530, 0.605, 0.688, 0.734),
    ("all-MiniLM-L6-v2 (reference)", 0.371, 0.470, 0.605, 0.700),
    ("RRF of the two (reference)", 0.485, 0.586, 0.721, 0.813),
]


# ---- data -------------------------------------------------------------------------------------
def load(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def load_audit(path: Path) -> dict[str, list[str]]:
    """question_id → corrected evidence ids, for the audited WRONG evidence entries only."""
    if not path.exists():
        return {}
    fixes = {}
    for e in json.loads(path.read_text(encoding="utf-8")):
        new = e.get("correct_evidence")
        if new and sorted(new) != sorted(e.get("cited_evidence") or []):
            fixes[e["question_id"]] = list(new)
    return fixes


def clean_evidence(raw, known: set[str]) -> list[str]:
    """LoCoMo's evidence strings, repaired (``"D8:6; D9:17"``, ``"D30:05"``, ``"D:11:26"``)."""
    out = []
    for ev in raw or []:
        for s, t in EVIDENCE.findall(str(ev)):
            dia = f"D{int(s)}:{int(t)}"
            if dia in known and dia not in out:
                out.append(dia)
    return out


def sessions(conv: dict) -> list[tuple[int, str | None, list[dict]]]:
    """(session number, date text, turns) for the sessions that have turns."""
    out = []
    for key, turns in conv.items():
        m = re.fullmatch(r"session_(\d+)", key)
        if m and isinstance(turns, list) and turns:
            n = int(m.group(1))
            out.append((n, conv.get(f"session_{n}_date_time"), turns))
    return sorted(out, key=lambda s: s[0])


def turn_ids(sample: dict) -> set[str]:
    """The ids of every turn in a sample (evidence naming anything else is dropped)."""
    return {t["dia_id"] for _, _, turns in sessions(sample["conversation"]) for t in turns}


def turn_text(turn: dict) -> str:
    """What a LoCoMo turn says; an image is replaced by its caption, as in the paper."""
    text = (turn.get("text") or "").strip()
    if turn.get("blip_caption"):
        text = f"{text} [shares {turn['blip_caption']}]".strip()
    return text


def session_time(text: str | None, fallback: datetime) -> datetime:
    from memcli.core.timeutil import parse_free

    dt = parse_free(text) if text else None
    if dt is None:
        return fallback
    return dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


# ---- building a memory ------------------------------------------------------------------------
def build_memory(sample: dict, home: Path, embedder, max_sessions: int | None = None
                 ) -> tuple[object, datetime]:
    """Store one LoCoMo conversation (its first ``max_sessions`` sessions) the way an importer
    would. Returns (Memory, last date)."""
    from memcli.services.memory import Memory

    mem = Memory(home, embedder=embedder)
    if mem.store.counts()["messages"]:  # reused store (--work)
        last = datetime(2023, 1, 1, tzinfo=timezone.utc)
        for _, date, _ in sessions(sample["conversation"]):
            last = max(last, session_time(date, last))
        return mem, last
    return mem, add_sample(mem, sample, max_sessions=max_sessions)


def add_sample(mem, sample: dict, *, source: str = SOURCE, max_sessions: int | None = None
               ) -> datetime:
    """Add one LoCoMo conversation to ``mem``: a conversation per session (external id
    ``<sample id>/session_<n>``, the session date), its turns as messages (external id = the turn
    id, role = the speaker). Returns the last session date."""
    from memcli.core.models import NewItem
    from memcli.core.timeutil import iso

    sid = sample["sample_id"]
    last = datetime(2023, 1, 1, tzinfo=timezone.utc)
    for n, date, turns in sessions(sample["conversation"])[:max_sessions]:
        when = session_time(date, last + timedelta(days=1))
        last = max(last, when)
        with mem.store.transaction():
            cid = mem.store.upsert_conversation(
                source, f"{sid}/session_{n}", title=f"{sid} session {n}", created_at=iso(when))
            mem.add_items([
                NewItem(text=turn_text(t), kind="message", source=source, role=t.get("speaker"),
                        created_at=iso(when + timedelta(seconds=i)), external_id=t["dia_id"],
                        position=i, key=f"{source}:{sid}:{t['dia_id']}")
                for i, t in enumerate(turns)], conversation_id=cid)
    return last


def run_digest(mem) -> str:
    """Run memcli's digest (deterministic mode: no LLM, so the figures are reproducible).
    Returns a one-line description of what it made."""
    from memcli.services.digest import digest

    t = time.perf_counter()
    r = digest(mem, use_llm=False)
    fields = ("conversations", "messages", "notes", "summaries", "links", "superseded", "merged")
    made = ", ".join(f"{getattr(r, f)} {f}" for f in fields if hasattr(r, f))
    return f"memcli.services.digest.digest(use_llm=False) in {time.perf_counter() - t:.1f} s: {made}"


def hit_dia_ids(mem, hits) -> list[str]:
    """Ranked, de-duplicated dia_ids behind the hits; a derived note stands for its sources."""
    out: list[str] = []
    for h in hits:
        if h.kind == "message" and h.source.get("message_id"):
            ids = [h.source["message_id"]]
        else:
            src = mem.store.sources_of(h.id)
            rows = mem.store.get_items(src) if src else {}
            ids = [rows[s]["external_id"] for s in src
                   if s in rows and rows[s]["kind"] == "message" and rows[s]["external_id"]]
        for d in ids:
            if d not in out:
                out.append(d)
    return out


# ---- metrics ----------------------------------------------------------------------------------
def score(ranked: list[str], gold: list[str]) -> dict:
    out = {f"R@{k}": len(set(ranked[:k]) & set(gold)) / len(gold) for k in KS}
    rank = next((i for i, d in enumerate(ranked) if d in gold), None)
    out["MRR"] = 0.0 if rank is None else 1.0 / (rank + 1)
    return out


def aggregate(rows: list[dict]) -> dict:
    keys = [f"R@{k}" for k in KS] + ["MRR"]
    if not rows:
        return {k: float("nan") for k in keys} | {"n": 0}
    return {k: sum(r[k] for r in rows) / len(rows) for k in keys} | {"n": len(rows)}


def evaluate(data: list[dict], embedder, *, limit_samples: int | None, digest: bool,
             work: Path | None, baselines: bool, ask_path: bool = False, log=print) -> dict:
    """Run every question; returns {column: {category: [per-question scores]}}."""
    from memcli.retrieval.hybrid import fts_query
    from memcli.services.ask import retrieve_for_question

    fixes = load_audit(SHARED_EVAL / "locomo_audit_errors.json")
    cols: dict[str, dict[int, list[dict]]] = {}

    def add(col, cat, s):
        cols.setdefault(col, {}).setdefault(cat, []).append(s)

    digest_note = None
    for si, sample in enumerate(data[:limit_samples] if limit_samples else data):
        t0 = time.perf_counter()
        home = (work / sample["sample_id"]) if work else Path(tempfile.mkdtemp(prefix="locomo-"))
        mem, last = build_memory(sample, home, embedder)
        built = time.perf_counter() - t0
        now = last + timedelta(days=1)
        known = turn_ids(sample)
        runs = [("verbatim", mem)]
        if digest:
            dhome = home.parent / (home.name + "-digest")
            shutil.rmtree(dhome, ignore_errors=True)
            shutil.copytree(home, dhome)
            dmem, _ = build_memory(sample, dhome, embedder)
            digest_note = run_digest(dmem)
            runs.append(("digested", dmem))
        t1 = time.perf_counter()
        nq = 0
        for qi, qa in enumerate(sample["qa"]):
            cat = qa.get("category")
            if cat not in CATEGORIES:
                continue
            gold = clean_evidence(qa.get("evidence"), known)
            fixed = clean_evidence(fixes.get(f"locomo_{si}_qa{qi}", gold), known) or gold
            if not gold:
                continue
            nq += 1
            for name, m in runs:
                ranked = hit_dia_ids(m, m.search(qa["question"], limit=50, now=now))
                add(f"{name}", cat, score(ranked, gold))
                add(f"{name} (audited)", cat, score(ranked, fixed))
                if ask_path:  # what `memcli ask` retrieves: the question's date window, if any
                    hits, _, _ = retrieve_for_question(m, qa["question"], limit=50, now=now)
                    ranked = hit_dia_ids(m, hits)
                    add(f"{name}, ask retrieval", cat, score(ranked, gold))
                    add(f"{name}, ask retrieval (audited)", cat, score(ranked, fixed))
            if baselines:
                by_id = {}
                kw = mem.store.fts_search(fts_query(qa["question"]), 50)
                vec = mem.store.vec_search(mem.embedder.embed([qa["question"]])[0], 50)
                for label, ids in (("FTS5 BM25 only", [i for i, _ in kw]),
                                   ("vector only", [i for i, _ in vec])):
                    rows = mem.store.get_items(ids)
                    by_id = [rows[i]["external_id"] for i in ids if i in rows]
                    add(label, cat, score(by_id, gold))
        log(f"{sample['sample_id']}: built in {built:.1f}s, {nq} questions in "
            f"{time.perf_counter() - t1:.1f}s")
        for _, m in runs:
            m.close()
        if not work:
            shutil.rmtree(home, ignore_errors=True)
            if digest:
                shutil.rmtree(home.parent / (home.name + "-digest"), ignore_errors=True)
    return {"columns": cols, "digest": digest_note}


def report(result: dict, args, elapsed: float) -> str:
    cols = result["columns"]
    keys = [f"R@{k}" for k in KS] + ["MRR"]
    out = [common.header(
        "LoCoMo evidence retrieval (turn level, categories 1-4)",
        extra={"embedder": args.embedder, "samples": args.samples or 10,
               "search": "Memory.search(question, limit=50, now=day after the last session)"
                         + ("; 'ask retrieval': memcli.services.ask.retrieve_for_question(question, "
                            "limit=50, now=…)" if getattr(args, "ask_path", False) else ""),
               "wall time": f"{elapsed:.0f} s"})]
    if result.get("digest"):
        out.append(f"- digest (last sample): {result['digest']}")
    out.append("")
    overall = []
    for col in cols:
        allrows = [r for cat in CATEGORIES for r in cols[col].get(cat, [])]
        a = aggregate(allrows)
        overall.append((f"memcli: {col}", *[a[k] for k in keys], a["n"]))
    for name, *vals in REFERENCE:
        overall.append((name, *vals, None, None))
    out.append("Overall (categories 1-4):\n")
    out.append(common.table(["retriever", *keys, "questions"], overall))
    main = [c for c in cols if not c.startswith(("FTS5", "vector"))]
    for col in main:
        rows = []
        for cat, label in CATEGORIES.items():
            a = aggregate(cols[col].get(cat, []))
            rows.append((f"{cat} {label}", *[a[k] for k in keys], a["n"]))
        out.append(f"\nBy category, {col}:\n")
        out.append(common.table(["category", *keys, "questions"], rows))
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=SHARED_EVAL / "locomo10.json")
    ap.add_argument("--samples", type=int, default=None, help="only the first N conversations")
    ap.add_argument("--embedder", default="onnx", choices=["onnx", "sbert", "hash"])
    ap.add_argument("--digest", action="store_true", help="also run memcli.services.digest and compare")
    ap.add_argument("--no-baselines", dest="baselines", action="store_false",
                    help="skip the FTS-only and vector-only rows")
    ap.add_argument("--work", type=Path, default=None,
                    help="keep (and reuse) the per-sample stores in this directory")
    ap.add_argument("--ask", dest="ask_path", action="store_true",
                    help="also measure what `memcli ask` retrieves (memcli.services.ask."
                         "retrieve_for_question: a date phrase in the question narrows the search "
                         "to that window when it holds a relevant hit)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    if not args.data.exists():
        print(f"LoCoMo data not found at {args.data}", file=sys.stderr)
        return 2
    t = time.perf_counter()
    embedder = common.make_embedder(args.embedder)
    result = evaluate(load(args.data), embedder, limit_samples=args.samples, digest=args.digest,
                      work=args.work, baselines=args.baselines, ask_path=args.ask_path,
                      log=lambda s: print(s, file=sys.stderr, flush=True))
    text = report(result, args, time.perf_counter() - t)
    print(text)
    if args.json:
        summary = {col: {str(cat): aggregate(rows) for cat, rows in per.items()}
                   | {"overall": aggregate([r for rows in per.values() for r in rows])}
                   for col, per in result["columns"].items()}
        args.json.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
