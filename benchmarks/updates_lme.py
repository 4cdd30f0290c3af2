"""LongMemEval knowledge-update questions for benchmarks/updates.py (issue 14): among the evidence
turns found (``Memory.search``, top 50, ``now`` = the question date), is the first one from the
latest evidence session (the current value)? Verbatim, then after the deterministic digest.

With ``--stores DIR`` the verbatim stores an earlier ``benchmarks/longmemeval.py --work DIR`` built
(one per question id) are reused, never modified: each is copied to ``--work`` (default a temp
dir) and digested there; a copy already digested there is reused. Each question's result is
printed as it finishes (with the rank and session date of the first evidence turn of each
evidence session), so a run cut short still reports."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import longmemeval as lme

HITS = 50


def _turn_ids(mem, hits, digested: bool) -> list[str]:
    """Ranked turn ids; a fact stands for the turns it rests on."""
    ids: list[str] = []
    for h in hits:
        if digested and h.kind != "message":
            srcs = mem.store.get_items(mem.store.sources_of(h.id))
            ids += [r.get("external_id") for r in srcs.values() if r.get("external_id")]
        elif h.source.get("message_id"):
            ids.append(h.source.get("message_id"))
    return ids


def _home(entry: dict, stores: Path | None, work: Path) -> tuple[Path, bool]:
    """The question's store in ``work`` (copied from ``stores`` when given); True if digested."""
    home = work / str(entry["question_id"])
    if (home / "digested").exists():
        return home, True
    if stores is not None:
        src = stores / str(entry["question_id"])
        if not (src / "complete").exists():
            raise FileNotFoundError(f"no built store for {entry['question_id']} in {stores}")
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(src, home)
    return home, False


def one_question(entry: dict, embedder, stores: Path | None, work: Path) -> dict | None:
    from memcli.services.digest.pipeline import digest

    home, done = _home(entry, stores, work)
    mem, gold = lme.build_memory(entry, home, embedder)
    try:
        dates = dict(zip(map(str, entry["haystack_session_ids"]), entry["haystack_dates"]))
        gold_sessions = {t.rsplit("_", 1)[0] for t in gold}
        if not gold_sessions:
            return None
        order = {str(s): i for i, s in enumerate(entry["haystack_session_ids"])}
        # by date, then by haystack order (two evidence sessions on one day happen)
        when = {s: (lme.parse_date(dates.get(s)) or datetime.min.replace(tzinfo=timezone.utc),
                    order.get(s, 0)) for s in gold_sessions}
        latest = max(gold_sessions, key=when.get)
        now = lme.parse_date(entry.get("question_date"))
        row = {"id": entry["question_id"], "question": entry["question"],
               "answer": str(entry.get("answer")), "latest": latest}
        for mode in ("verbatim", "digested"):
            t0 = time.process_time()
            if mode == "digested" and not done:
                digest(mem, use_llm=False)
                (home / "digested").write_text("deterministic digest\n")
                row["digest_cpu_s"] = round(time.process_time() - t0, 1)
            if mode == "verbatim" and done:
                row[mode] = None  # the copy is digested already: no verbatim figure
                continue
            hits = mem.search(entry["question"], limit=HITS, now=now)
            ids = _turn_ids(mem, hits, mode == "digested")
            ranks = {}
            for r, i in enumerate(ids, 1):
                if i in gold and i.rsplit("_", 1)[0] not in ranks:
                    ranks[i.rsplit("_", 1)[0]] = r
            first = min(ranks, key=ranks.get) if ranks else None
            row[mode] = first == latest
            row[mode + "_ranks"] = {s: (ranks.get(s), when[s][0].date().isoformat())
                                    for s in sorted(gold_sessions, key=when.get)}
        return row
    finally:
        mem.close()


def run(args, embedder) -> dict:
    """All knowledge-update questions (``--limit``: the first N), one line each as it finishes."""
    out = {"verbatim": [0, 0], "digested": [0, 0], "questions": []}
    embedder = lme.CachingEmbedder(embedder)  # haystack sessions repeat across questions
    qs = [e for e in lme.iter_questions(args.longmemeval)
          if e.get("question_type") == "knowledge-update" and not
          str(e["question_id"]).endswith("_abs")]
    work = args.work or Path(tempfile.mkdtemp(prefix="upd-lme-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        for n, entry in enumerate(qs[: args.limit], 1):
            t0 = time.perf_counter()
            row = one_question(entry, embedder, args.stores, work)
            if row is None:
                continue
            for mode in ("verbatim", "digested"):
                if row.get(mode) is not None:
                    out[mode][0] += row[mode]
                    out[mode][1] += 1
            out["questions"].append(row)
            print(f"[{n}/{len(qs)}] {row['id']} verbatim={row['verbatim']} "
                  f"digested={row['digested']} ({time.perf_counter() - t0:.0f} s, digest "
                  f"{row.get('digest_cpu_s', '-')} CPU-s) {row['question'][:70]!r} → "
                  f"{row['answer'][:40]!r}; first evidence rank per session (oldest first): "
                  f"verbatim {row.get('verbatim_ranks')}, digested {row.get('digested_ranks')}",
                  flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return out
