"""LongMemEval retrieval through memcli's own path.

For every question of a LongMemEval JSON file (longmemeval_s / _m / _oracle; the file is streamed,
so the multi-GB ones work): a fresh memory in a temp dir; each haystack session stored as a
conversation (id = the session id, created_at = the session date) and its turns, user and assistant,
as ``kind="message"`` items through ``Memory.add_items`` (external id
``<session id>_<turn number>``, 1-based as in the official code); then
``Memory.search(question, limit=50, now=question_date)`` (what ``memcli search -n 50 --as-of`` runs;
``--ask``: also what ``memcli ask`` retrieves). ``--work DIR`` keeps each store in ``DIR/<question id>``.

Metrics follow the official ``src/retrieval`` code: recall_all@k (every gold item in the top k),
recall_any@k and nDCG@k, at turn level (gold = turns with ``has_answer``) and at session level
(gold = ``answer_session_ids``; the turn ranking collapsed to sessions, first hit wins). Questions
whose id ends in ``_abs`` (abstention) are skipped, as in the official averages. Unlike the official
turn index, memcli indexes assistant turns too (a memory of chats should find what it was told), so
single-session-assistant questions get turn-level gold as well.

    .venv/bin/python benchmarks/longmemeval.py path/to/longmemeval_s.json --limit 50
    .venv/bin/python benchmarks/longmemeval.py ../shared/eval/longmemeval_s_dev.json.gz --ask \
        --per-type 2 --work /tmp/lme   # stores kept per question id: a re-run only searches
    .venv/bin/python benchmarks/longmemeval.py tests/fixtures/longmemeval_tiny.json --embedder hash
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

KS = (5, 10, 30, 50)
LEVELS = ("session", "turn", "session (ask)", "turn (ask)")
SOURCE = "longmemeval"
DATE = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})(?:\s*\(\w+\))?(?:\s+(\d{1,2}):(\d{2}))?")


# ---- data -------------------------------------------------------------------------------------
def iter_questions(path: Path, stream_above: int = 20_000_000) -> Iterator[dict]:
    """Questions one at a time; ijson streams the big files, plain json loads small ones (and
    gzipped files, ``*.gz``, such as ../shared/eval/longmemeval_s_dev.json.gz)."""
    try:
        import ijson
    except ImportError:
        ijson = None
    if str(path).endswith(".gz"):
        import gzip

        with gzip.open(path, "rt", encoding="utf-8") as fh:
            yield from json.load(fh)
        return
    if ijson is None or path.stat().st_size < stream_above:
        with open(path, encoding="utf-8") as fh:
            yield from json.load(fh)
        return
    with open(path, "rb") as fh:
        yield from ijson.items(fh, "item", use_float=True)


def parse_date(text: str | None) -> datetime | None:
    """LongMemEval dates look like ``2023/05/20 (Sat) 02:21``; anything else goes to dateparser."""
    if not text:
        return None
    m = DATE.search(str(text))
    if m:
        y, mo, d, hh, mm = m.groups()
        try:
            return datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0),
                            tzinfo=timezone.utc)
        except ValueError:  # "2023/13/45": not a date; fall through to the free parser
            pass
    from memcli.core.timeutil import parse_free

    dt = parse_free(str(text))
    return dt.astimezone(timezone.utc) if dt else None


def turn_id(session_id: str, index: int) -> str:
    return f"{session_id}_{index + 1}"


# ---- the embedder cache ------------------------------------------------------------------------
class CachingEmbedder:
    """Memoises vectors by text: LongMemEval reuses haystack sessions across questions, and the
    same text always gets the same vector, so results are unchanged and runs are much faster."""

    def __init__(self, inner, max_items: int = 400_000):
        self.inner, self.model_id, self.dim = inner, inner.model_id, inner.dim
        self.cache: dict[bytes, object] = {}
        self.max_items = max_items
        self.hits = self.misses = 0

    def embed(self, texts):
        import numpy as np

        keys = [hashlib.blake2b(t.encode("utf-8"), digest_size=16).digest() for t in texts]
        local = {k: self.cache[k] for k in keys if k in self.cache}
        todo = list(dict.fromkeys(k for k in keys if k not in local))
        if todo:
            first = {k: i for i, k in reversed(list(enumerate(keys)))}
            local.update(zip(todo, self.inner.embed([texts[first[k]] for k in todo])))
            if len(self.cache) + len(todo) > self.max_items:
                self.cache.clear()
            self.cache.update((k, local[k]) for k in todo)
        self.misses += len(todo)
        self.hits += len(keys) - len(todo)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, k in enumerate(keys):
            out[i] = local[k]
        return out


# ---- one question -------------------------------------------------------------------------------
def gold_turn_ids(entry: dict) -> set[str]:
    """The turns marked ``has_answer`` (empty turns included: they are gold, never findable)."""
    return {turn_id(str(sid), ti)
            for sid, turns in zip(entry["haystack_session_ids"], entry["haystack_sessions"])
            for ti, turn in enumerate(turns) if turn.get("has_answer")}


def build_memory(entry: dict, home: Path, embedder):
    """Import the question's haystack (a store already built in ``home`` by an earlier run with
    ``--work`` is reused as it is). Returns (Memory, gold turn ids)."""
    from memcli.core.models import NewItem
    from memcli.core.timeutil import iso
    from memcli.services.memory import Memory

    mem = Memory(home, embedder=embedder)
    gold_turns = gold_turn_ids(entry)
    if (home / "complete").exists():
        return mem, gold_turns
    fallback = datetime(2023, 1, 1, tzinfo=timezone.utc)
    dates = entry.get("haystack_dates") or []
    for si, (sid, turns) in enumerate(zip(entry["haystack_session_ids"],
                                          entry["haystack_sessions"])):
        sid = str(sid)
        when = parse_date(dates[si] if si < len(dates) else None) or fallback
        items = []
        for ti, turn in enumerate(turns):
            text = (turn.get("content") or "").strip()
            if not text:
                continue
            role = turn.get("role") if turn.get("role") in ("user", "assistant", "system") else None
            items.append(NewItem(text=text, kind="message", source=SOURCE, role=role,
                                 created_at=iso(when + timedelta(seconds=ti)),
                                 external_id=turn_id(sid, ti), position=ti,
                                 key=f"{SOURCE}:{turn_id(sid, ti)}"))
        if not items:
            continue
        with mem.store.transaction():
            cid = mem.store.upsert_conversation(SOURCE, sid, created_at=iso(when))
            mem.add_items(items, conversation_id=cid)  # keyed: a half-built store resumes
    (home / "complete").write_text(entry["question_id"])
    return mem, gold_turns


def ndcg(ranked: list[str], gold: set[str], k: int) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if d in gold)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(gold))))
    return dcg / ideal if ideal else 0.0


def metrics(ranked: list[str], gold: set[str]) -> dict:
    out = {}
    for k in KS:
        top = set(ranked[:k])
        out[f"recall_all@{k}"] = float(gold <= top)
        out[f"recall_any@{k}"] = float(bool(gold & top))
        out[f"ndcg@{k}"] = ndcg(ranked, gold, k)
    return out


def sessions_of(turns: list[str], session_ids: set[str]) -> list[str]:
    """Collapse a ranked list of turn ids to ranked session ids (first occurrence wins)."""
    out: list[str] = []
    for t in turns:
        sid = t.rsplit("_", 1)[0]
        if sid in session_ids and sid not in out:
            out.append(sid)
    return out


def ranked_turns(mem, entry: dict, hits: int, ask_path: bool) -> list[str]:
    now = parse_date(entry.get("question_date"))
    if ask_path:  # what `memcli ask` retrieves (a date phrase narrows to its window)
        from memcli.core.timeutil import utcnow
        from memcli.services.ask import retrieve_for_question

        found, _, _ = retrieve_for_question(mem, entry["question"], limit=hits,
                                            now=now or utcnow())
    else:
        found = mem.search(entry["question"], limit=hits, now=now)
    return [h.source.get("message_id") for h in found if h.source.get("message_id")]


def run_question(entry: dict, embedder, hits: int, ask_path: bool = False,
                 work: Path | None = None) -> dict:
    """Metrics of one question: ``session``/``turn`` for Memory.search, and with ``ask_path``
    also ``session (ask)``/``turn (ask)`` for what `memcli ask` retrieves. ``work``: keep the
    question's store in ``work/<question id>`` and reuse it next time."""
    home = (work / entry["question_id"]) if work else Path(tempfile.mkdtemp(prefix="lme-"))
    try:
        t0 = time.perf_counter()
        mem, gold_turns = build_memory(entry, home, embedder)
        t1 = time.perf_counter()
        paths = [("", False)] + ([(" (ask)", True)] if ask_path else [])
        rankings = {suffix: ranked_turns(mem, entry, hits, ask) for suffix, ask in paths}
        t2 = time.perf_counter()
        session_ids = {str(s) for s in entry["haystack_session_ids"]}
        gold_sessions = {str(s) for s in entry.get("answer_session_ids") or []} & session_ids
        out = {"question_id": entry["question_id"], "type": entry.get("question_type", "?"),
               "messages": mem.store.counts()["messages"], "build_s": t1 - t0,
               "search_s": (t2 - t1) / len(paths)}
        for suffix, ranked in rankings.items():
            if gold_sessions:
                out["session" + suffix] = metrics(sessions_of(ranked, session_ids),
                                                  gold_sessions)
            if gold_turns:
                out["turn" + suffix] = metrics(ranked, gold_turns)
            out["top" + suffix] = ranked[:10]
        mem.close()
        return out
    finally:
        if not work:
            shutil.rmtree(home, ignore_errors=True)


# ---- report -------------------------------------------------------------------------------------
def summarise(results: list[dict]) -> dict:
    """{level: {question type | 'overall': {metric: mean, 'n': count}}}, _abs questions skipped."""
    out: dict = {}
    for level in LEVELS:
        groups: dict[str, list[dict]] = defaultdict(list)
        for r in results:
            if level in r and not str(r["question_id"]).endswith("_abs"):
                groups[r["type"]].append(r[level])
                groups["overall"].append(r[level])
        if groups:
            out[level] = {t: {m: sum(x[m] for x in rows) / len(rows) for m in rows[0]}
                          | {"n": len(rows)} for t, rows in groups.items()}
    return out


def report(summary: dict, results: list[dict], args, elapsed: float, cache) -> str:
    n_abs = sum(str(r["question_id"]).endswith("_abs") for r in results)
    msgs = sum(r["messages"] for r in results)
    build = sum(r["build_s"] for r in results)
    searches = sorted(r["search_s"] for r in results)
    extra = {"file": f"{args.file.name} ({args.file.stat().st_size / 1e6:.1f} MB)",
             "embedder": args.embedder,
             "questions": f"{len(results)} run, {n_abs} abstention (_abs) skipped in the averages",
             "search": "Memory.search" + (" and (ask) memcli.services.ask.retrieve_for_question"
                                         if args.ask_path else "")
                       + f"(question, limit={args.hits}, now=question_date); "
                       "sessions ranked by their best turn",
             "import": f"{msgs:,} messages in {build:.0f} s incl. embedding "
                       f"(embedder cache: {cache.hits:,} hits, {cache.misses:,} misses)",
             "search time": f"p50 {common.percentile(searches, 50) * 1000:.0f} ms, "
                            f"p95 {common.percentile(searches, 95) * 1000:.0f} ms",
             "wall time": f"{elapsed:.0f} s"}
    lines = [common.header("LongMemEval retrieval (memcli hybrid search)", extra=extra)]
    cols = [f"{m}@{k}" for m in ("recall_all", "ndcg") for k in KS]
    for level in LEVELS:
        groups = summary.get(level) or {}
        if not groups:
            continue
        order = sorted(t for t in groups if t != "overall") + ["overall"]
        rows = [(t, *[groups[t][c] for c in cols], groups[t]["n"]) for t in order if t in groups]
        lines.append(f"\n{level.capitalize()} level:\n")
        lines.append(common.table(["question type", *cols, "n"], rows))
    return "\n".join(lines)


def set_constant(item: str) -> None:
    """``NAME=VALUE``: a module constant of memcli.retrieval.hybrid, VALUE parsed as JSON."""
    import memcli.retrieval.hybrid as hybrid

    name, _, value = item.partition("=")
    if not hasattr(hybrid, name) or not name.isupper():
        raise SystemExit(f"--set: memcli.retrieval.hybrid has no constant {name!r}")
    setattr(hybrid, name, json.loads(value))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", type=Path, help="a LongMemEval JSON file (list of questions)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions")
    ap.add_argument("--types", default=None,
                    help="comma-separated question types to keep (e.g. multi-session)")
    ap.add_argument("--per-type", type=int, default=None,
                    help="only the first N questions of each type (a balanced slice)")
    ap.add_argument("--hits", type=int, default=50,
                    help="turns retrieved per question (50: what `memcli search -n 50` returns); "
                         "sessions are ranked by their best turn in this list")
    ap.add_argument("--embedder", default="onnx", choices=["onnx", "sbert", "hash"])
    ap.add_argument("--ask", dest="ask_path", action="store_true",
                    help="retrieve as `memcli ask` does (memcli.services.ask.retrieve_for_question: a date "
                         "phrase in the question narrows the search, relative to question_date)")
    ap.add_argument("--work", type=Path, default=None,
                    help="keep (and reuse) one store per question id in this directory: a "
                         "ranking experiment then re-runs without re-importing")
    ap.add_argument("--built-only", action="store_true",
                    help="with --work: only the questions whose store is already built there")
    ap.add_argument("--json", type=Path, default=None, help="write per-question results here")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a ranking experiment: set a constant of memcli.retrieval.hybrid "
                         "(e.g. COVERAGE_WEIGHT=0.15) for this run; repeatable")
    args = ap.parse_args(argv)
    for item in args.set:
        set_constant(item)
    if not args.file.exists():
        print(f"no such file: {args.file}", file=sys.stderr)
        return 2
    types = set(args.types.split(",")) if args.types else None
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    cache = CachingEmbedder(common.make_embedder(args.embedder))
    results: list[dict] = []
    failed: list[str] = []
    taken: dict[str, int] = defaultdict(int)
    for entry in iter_questions(args.file):
        if args.limit is not None and len(results) >= args.limit:
            break
        if types and entry.get("question_type") not in types:
            continue
        if args.built_only and not (args.work and (args.work / str(entry.get("question_id"))
                                                   / "complete").exists()):
            continue
        if args.per_type is not None:
            kind = entry.get("question_type")
            if taken[kind] >= args.per_type:
                continue
            taken[kind] += 1
        try:
            r = run_question(entry, cache, args.hits, args.ask_path, args.work)
        except (KeyError, TypeError, ValueError) as exc:  # one malformed entry, not the whole run
            failed.append(f"{entry.get('question_id', '?')}: {type(exc).__name__}: {exc}")
            print(f"skipped {failed[-1]}", file=sys.stderr, flush=True)
            continue
        results.append(r)
        print(f"[{len(results)}] {r['question_id']} {r['type']}: {r['messages']} messages, "
              f"build {r['build_s']:.1f}s, search {r['search_s'] * 1000:.0f} ms",
              file=sys.stderr, flush=True)
    if not results:
        print("no questions matched" + (f" ({len(failed)} malformed)" if failed else ""),
              file=sys.stderr)
        return 1
    summary = summarise(results)
    print(report(summary, results, args, time.perf_counter() - t, cache))
    if failed:
        print(f"\n{len(failed)} malformed question(s) skipped:\n" + "\n".join(failed))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "questions": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
