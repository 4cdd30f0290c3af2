"""Warm search latency and memory at 10k / 100k / 1M stored items.

One store grows through the sizes; at each size a warm ``Memory`` (model loaded, a few searches
already run) answers ``--queries`` searches with ``Memory.search(query, limit=10)`` and we report
p50/p95 wall time per search (query embedding included), the keyword and vector halves on their
own, the process RSS and the database size.

Items are synthetic chat messages: templated sentences mixed with words drawn from a Zipf
distribution over the MiniLM WordPiece vocabulary (so keyword posting lists are realistically
skewed). To skip hours of embedding, item vectors are random-but-clustered unit vectors around
real MiniLM embeddings of topic sentences; queries are embedded for real by the default embedder.
Everything is written through ``Memory.add_items(..., vectors=...)``, the product's own path.

    .venv/bin/python benchmarks/bench_scale.py --sizes 10000,100000,1000000
    .venv/bin/python benchmarks/bench_scale.py --sizes 2000 --queries 5 --embedder hash  # smoke
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

TOPICS = [
    "planning a trip abroad, flights, hotels and trains", "cooking dinner recipes and groceries",
    "work meetings, deadlines and project roadmaps", "running, gym workouts and health",
    "family birthdays, visits and phone calls", "personal finance, budgets and taxes",
    "programming bugs, python code and databases", "gardening, plants and the weather",
    "books, films and music recommendations", "home repairs, furniture and moving house",
    "doctor appointments, allergies and medicine", "learning languages and taking classes",
    "pets, the dog and the vet", "cars, bikes and commuting", "friends, parties and weddings",
    "shopping for clothes and gifts",
]
TEMPLATES = [
    "I booked a flight to {city} for {day}", "the hotel in {city} was {adj}",
    "tried a {adj} {dish} recipe tonight", "meeting with {name} about the {project} roadmap",
    "{project} deadline moved to {day}", "ran {n} km this morning before work",
    "{name}'s birthday is on {day}", "called {name} about the {thing}",
    "need to buy {thing} and {thing2} on {day}", "dentist appointment on {day} at {n}:30",
    "the {project} build failed again, {name} is looking at it",
    "remember that {name} likes {dish} but hates {thing}",
]
FILL = {
    "city": ["Lisbon", "Berlin", "Osaka", "Toronto", "Nairobi", "Lima", "Oslo", "Hanoi", "Quito"],
    "adj": ["great", "noisy", "cheap", "spicy", "quiet", "lovely", "awful", "tiny", "huge"],
    "thing": ["umbrella", "adapter", "sunscreen", "ginger", "lemons", "tickets", "keys", "tape"],
    "thing2": ["batteries", "coffee", "rice", "light bulbs", "stamps", "soap"],
    "dish": ["curry", "risotto", "ramen", "tagine", "paella", "lasagne", "pho", "dal"],
    "n": [str(i) for i in range(2, 60)],
    "name": ["Ana", "Ben", "Chen", "Dara", "Emil", "Fatima", "Goran", "Hana", "Ivo", "Jun"],
    "project": ["billing", "search", "mobile app", "data pipeline", "onboarding", "payments"],
    "day": ["Monday", "Tuesday", "Friday", "March 3", "June 12", "the weekend", "next week"],
}
QUERIES = [
    "when is my dentist appointment", "what did Chen say about the payments roadmap",
    "which hotel was noisy", "recipe with ginger and lemons", "how far did I run",
    "what should I buy before the trip to Osaka", "who is looking at the failed build",
    "what does Fatima like to eat", "flight to Quito", "birthday next week",
    "tickets for the weekend", "tagine recipe", "python database bug", "the dog and the vet",
    "budget for taxes this year", "where did I put the spare keys", "light bulbs and stamps",
    "meeting about onboarding", "cheap paella place", "moving house furniture",
]


def vocabulary() -> list[str]:
    """Whole English-looking words from the MiniLM vocab, roughly in frequency order."""
    try:
        from memcli.backends.embedders import minilm_dir

        words = (minilm_dir() / "vocab.txt").read_text(encoding="utf-8").split()
        words = [w for w in words if w.isalpha() and w.isascii() and len(w) >= 3]
        if len(words) > 1000:
            return words
    except Exception:
        pass
    rnd = random.Random(3)
    return ["".join(rnd.choice("abcdefghijklmnoprstuvw") for _ in range(rnd.randint(3, 9)))
            for _ in range(20000)]


class Synth:
    def __init__(self, embedder, seed: int = 7, clusters_per_topic: int = 8):
        import numpy as np

        self.np = np
        self.rnd = random.Random(seed)
        self.rng = np.random.default_rng(seed)
        self.vocab = vocabulary()
        ranks = np.arange(len(self.vocab), dtype=np.float64)
        p = 1.0 / (ranks + 20.0) ** 1.07
        self.cum = np.cumsum(p / p.sum())
        base = embedder.embed(TOPICS)
        centers = []
        for b in base:  # sub-clusters around each topic
            for _ in range(clusters_per_topic):
                c = b + 0.35 * self.rng.standard_normal(len(b)).astype(np.float32) / len(b) ** 0.5
                centers.append(c / np.linalg.norm(c))
        self.centers = np.stack(centers).astype(np.float32)
        self.dim = self.centers.shape[1]
        self.t0 = datetime(2019, 1, 1, tzinfo=timezone.utc)

    def words(self, n: int) -> str:
        idx = self.np.searchsorted(self.cum, self.rng.random(n))
        return " ".join(self.vocab[min(i, len(self.vocab) - 1)] for i in idx)

    def text(self) -> str:
        tpl = self.rnd.choice(TEMPLATES)
        s = tpl.format(**{k: self.rnd.choice(v) for k, v in FILL.items()})
        return f"{s}, {self.words(self.rnd.randint(4, 18))}"

    def conversations(self, n_messages: int, start: int):
        """Yield (conversation external id, created_at, texts, vectors) until n_messages."""
        np = self.np
        made, c = 0, start
        while made < n_messages:
            size = min(self.rnd.randint(6, 30), n_messages - made)
            center = self.centers[self.rnd.randrange(len(self.centers))]
            noise = self.rng.standard_normal((size, self.dim)).astype(np.float32)
            vecs = center + 0.55 * noise / self.dim ** 0.5
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            when = self.t0 + timedelta(minutes=self.rnd.randint(0, 60 * 24 * 365 * 6))
            yield f"c{c}", when, [self.text() for _ in range(size)], vecs
            made += size
            c += 1


def grow(mem, synth: Synth, target: int, state: dict, log) -> float:
    """Add synthetic messages until the store holds ``target`` items. Returns seconds spent."""
    from memcli.core.models import NewItem
    from memcli.core.timeutil import iso

    need = target - state["items"]
    if need <= 0:
        return 0.0
    t = time.perf_counter()
    convs = synth.conversations(need, state["convs"])  # one generator, resumed batch after batch
    more = True
    while more:
        more, batch = False, 0
        with mem.store.transaction():  # ~20,000 items per transaction; add_items nests inside
            for cid, when, texts, vecs in convs:
                conv = mem.store.upsert_conversation("jsonl", cid, title=f"chat {cid}",
                                                     created_at=iso(when))
                mem.add_items([NewItem(text=tx, kind="message", source="jsonl",
                                       role="user" if i % 2 == 0 else "assistant",
                                       created_at=iso(when + timedelta(minutes=i)),
                                       external_id=str(i), position=i, key=f"jsonl:{cid}:{i}")
                               for i, tx in enumerate(texts)], conversation_id=conv, vectors=vecs)
                state["convs"] += 1
                state["items"] += len(texts)
                batch += len(texts)
                if batch >= 20000:
                    more = True
                    break
        if more:
            log(f"  {state['items']:,} items, {time.perf_counter() - t:.0f}s")
    return time.perf_counter() - t


def measure(mem, queries: list[str], n: int, exact_queries: int = 10) -> dict:
    from memcli.retrieval.hybrid import fts_query

    for q in queries[:3]:  # warm: model loaded, pages cached
        mem.search(q, limit=10)
    full, kw, vec, exact, overlap10, overlap50 = [], [], [], [], [], []
    full_cpu, kw_cpu = [], []  # CPU seconds of this process: comparable under a shared load
    for i in range(n):
        q = queries[i % len(queries)]
        c, t = time.process_time(), time.perf_counter()
        hits = mem.search(q, limit=10)
        full.append(time.perf_counter() - t)
        full_cpu.append(time.process_time() - c)
        assert hits, q
        c, t = time.process_time(), time.perf_counter()
        mem.store.fts_search(fts_query(q), 50)
        kw.append(time.perf_counter() - t)
        kw_cpu.append(time.process_time() - c)
        qv = mem.embedder.embed([q])[0]
        t = time.perf_counter()
        got = [h[0] for h in mem.store.vec_search(qv, 50)]
        vec.append(time.perf_counter() - t)
        if i < exact_queries:  # what the index returns next to sqlite-vec's exact float scan
            t = time.perf_counter()
            want = [h[0] for h in mem.store.vec_search(qv, 50, exact=True)]
            exact.append(time.perf_counter() - t)
            overlap10.append(len(set(got[:10]) & set(want[:10])) / 10)
            overlap50.append(len(set(got) & set(want)) / 50)
    return {"search": common.timing_summary(full), "fts": common.timing_summary(kw),
            "search_cpu": common.timing_summary(full_cpu), "fts_cpu": common.timing_summary(kw_cpu),
            "vec": common.timing_summary(vec), "exact": common.timing_summary(exact),
            "overlap10": sum(overlap10) / len(overlap10), "overlap50": sum(overlap50) / len(overlap50)}


def vector_only(n: int, embedder, queries: list[str], reps: int, log) -> dict:
    """The vector half alone at ``n`` vectors, where building a full store would take an hour:
    the product's own vec0 table (``Store.ensure_vector_index``) filled with clustered synthetic
    vectors and searched with ``Store.vec_search`` (exact float KNN, what memcli runs today), next
    to a binary-quantised ``bit[dim]`` vec0 table over the same vectors (coarse Hamming KNN)."""
    from memcli.store import VEC_TABLE, Store

    synth = Synth(embedder, seed=11)
    tmp = Path(tempfile.mkdtemp(prefix="memcli-vec-"))
    try:
        store = Store(tmp / "vec.db")
        store.ensure_vector_index("synthetic", synth.dim)
        store.conn.execute(f"CREATE VIRTUAL TABLE bits USING vec0(item_id INTEGER PRIMARY KEY, "
                           f"embedding bit[{synth.dim}])")
        t = time.perf_counter()
        done = 0
        while done < n:
            with store.transaction():
                for _, _when, _texts, vecs in synth.conversations(min(50_000, n - done), done):
                    rows = [(done + i + 1, v.tobytes()) for i, v in enumerate(vecs)]
                    store.conn.executemany(
                        f"INSERT INTO {VEC_TABLE}(item_id, embedding, kind, source, created_at) "
                        "VALUES (?, ?, 'message', 'jsonl', '2024-01-01T00:00:00Z')", rows)
                    store.conn.executemany("INSERT INTO bits(item_id, embedding) "
                                           "VALUES (?, vec_quantize_binary(vec_f32(?)))", rows)
                    done += len(rows)
            log(f"  {done:,} vectors, {time.perf_counter() - t:.0f}s")
        build = time.perf_counter() - t
        qvs = embedder.embed(queries)
        store.vec_search(qvs[0], 50)
        exact, coarse, coarse200, overlap = [], [], [], []
        for i in range(reps):
            qv = qvs[i % len(qvs)]
            t = time.perf_counter()
            top = store.vec_search(qv, 50)
            exact.append(time.perf_counter() - t)
            t = time.perf_counter()
            bits = store.conn.execute("SELECT item_id FROM bits WHERE embedding MATCH "
                                      "vec_quantize_binary(vec_f32(?)) AND k = 50",
                                      (qv.tobytes(),)).fetchall()
            coarse.append(time.perf_counter() - t)
            overlap.append(len({r[0] for r in bits[:10]} & {h[0] for h in top[:10]}) / 10)
            t = time.perf_counter()
            store.conn.execute("SELECT item_id FROM bits WHERE embedding MATCH "
                               "vec_quantize_binary(vec_f32(?)) AND k = 200",
                               (qv.tobytes(),)).fetchall()
            coarse200.append(time.perf_counter() - t)
        store.close()
        return {"n": n, "build_s": build, "exact": common.timing_summary(exact),
                "bits": common.timing_summary(coarse),
                "bits200": common.timing_summary(coarse200), "overlap10": sum(overlap) / len(overlap),
                "db": db_size_mib(tmp / "vec.db"), "rss": common.rss_mib(),
                "load": common.load_average()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def real_probe(mem, n_questions: int, log) -> dict | None:
    """Vector quality on real text at this scale: the LoCoMo turns (../shared/eval, embedded for
    real, stored once as extra conversations) are added to the synthetic store, and LoCoMo
    questions are searched on the vector side; reported is the share of sqlite-vec's exact top-10
    that the coarse index returns in its top 10. (Synthetic vectors are near-ties inside a cluster,
    so their own overlap says little; real neighbours stand out from the crowd.)"""
    import locomo

    path = locomo.SHARED_EVAL / "locomo10.json"
    if not path.exists():
        log(f"real probe skipped: {path} not found")
        return None
    data = locomo.load(path)
    if not mem.store.find_conversation("probe", f"{data[0]['sample_id']}/session_1"):
        t = time.perf_counter()
        for sample in data:
            locomo.add_sample(mem, sample, source="probe")
        log(f"  real probe: LoCoMo turns embedded and stored in {time.perf_counter() - t:.0f} s")
    questions = [qa["question"] for sample in data for qa in sample["qa"]
                 if qa.get("category") in locomo.CATEGORIES][::7][:n_questions]
    qvs = mem.embedder.embed(questions)
    overlap, coarse_ms = [], []
    for qv in qvs:
        t = time.perf_counter()
        got = [h[0] for h in mem.store.vec_search(qv, 10)]
        coarse_ms.append(time.perf_counter() - t)
        want = mem.store.vec_search(qv, 10, exact=True)
        overlap.append(len(set(got) & {h[0] for h in want}) / 10)
    return {"questions": len(qvs), "overlap10": sum(overlap) / len(overlap),
            "all10": sum(o == 1.0 for o in overlap) / len(overlap),
            "coarse": common.timing_summary(coarse_ms)}


def db_size_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2 ** 20


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=60, help="timed searches per size")
    ap.add_argument("--embedder", default="onnx", choices=["onnx", "sbert", "hash"])
    ap.add_argument("--home", type=Path, default=None, help="keep the store here (default: temp)")
    ap.add_argument("--real-probe", type=int, default=0, metavar="N",
                    help="also add LoCoMo's real turns and compare the coarse vector index with "
                         "the exact scan on N LoCoMo questions")
    ap.add_argument("--vector-only", default="",
                    help="also time the vector index alone at these sizes (e.g. 1000000)")
    args = ap.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    log = lambda s: print(s, file=sys.stderr, flush=True)
    from memcli.services.memory import Memory

    tmp = None
    home = args.home
    if home is None:
        tmp = Path(tempfile.mkdtemp(prefix="memcli-scale-"))
        home = tmp / "home"
    embedder = common.make_embedder(args.embedder)
    synth = Synth(embedder)
    rss0 = common.rss_mib()
    rows = []
    try:
        mem = Memory(home, embedder=embedder)
        state = {"items": mem.store.counts()["items"], "convs": 0}
        state["convs"] = mem.store.counts()["conversations"]
        for size in sizes:
            log(f"growing to {size:,} items")
            build = grow(mem, synth, size, state, log)
            mem.close()
            t = time.perf_counter()
            mem = Memory(home, embedder=embedder)  # reopen: a fresh connection, warm OS cache
            opened = time.perf_counter() - t  # includes pending migrations (an older store)
            m = measure(mem, QUERIES, args.queries)
            if args.real_probe:
                m["probe"] = real_probe(mem, args.real_probe, log)
            rows.append({"size": state["items"], "build_s": build, "m": m, "open_s": opened,
                         "rss": common.rss_mib(), "db": db_size_mib(mem.db_path),
                         "load": common.load_average()})
            log(f"{size:,}: search p50 {m['search']['p50_ms']:.1f} ms, "
                f"p95 {m['search']['p95_ms']:.1f} ms; FTS p50 {m['fts']['p50_ms']:.1f} ms "
                f"(CPU: search {m['search_cpu']['p50_ms']:.1f}, FTS {m['fts_cpu']['p50_ms']:.1f}); "
                f"vector p50 {m['vec']['p50_ms']:.1f} ms (exact scan {m['exact']['p50_ms']:.0f}"
                f" ms, top-10 overlap {m['overlap10']:.3f}); RSS {rows[-1]['rss']:.0f} MiB; "
                f"DB {rows[-1]['db']:.0f} MiB; build {build:.0f} s; load {rows[-1]['load']}")
        mem.close()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    vrows = []
    for n in sorted(int(s) for s in args.vector_only.split(",") if s):
        log(f"vector index alone at {n:,}")
        vrows.append(vector_only(n, embedder, QUERIES, args.queries, log))
        v = vrows[-1]
        log(f"{n:,} vectors: exact p50 {v['exact']['p50_ms']:.0f} ms, "
            f"bit p50 {v['bits']['p50_ms']:.0f} ms, load {v['load']}")
    print(common.header(
        "Warm search at scale", extra={
            "embedder": f"{args.embedder} (queries embedded for real; item vectors synthetic, "
                        "clustered around MiniLM topic embeddings)",
            "searches per size":
                f"{args.queries} × Memory.search(query, limit=10), after 3 warm-up",
            "RSS before the store was opened": f"{rss0:.0f} MiB (model loaded)"}))
    if rows:
        print()
        print(common.table(
            ["items", "search p50 ms", "search p95 ms", "FTS p50 ms", "search CPU p50 ms",
             "FTS CPU p50 ms", "vector p50 ms",
             "vector p95 ms", "exact vec0 scan p50 ms", "vector top-10 / top-50 = exact",
             "RSS MiB", "DB MiB", "insert items/s", "open s", "load avg"],
            [(f"{r['size']:,}", r["m"]["search"]["p50_ms"], r["m"]["search"]["p95_ms"],
              r["m"]["fts"]["p50_ms"], r["m"]["search_cpu"]["p50_ms"], r["m"]["fts_cpu"]["p50_ms"],
              r["m"]["vec"]["p50_ms"], r["m"]["vec"]["p95_ms"],
              r["m"]["exact"]["p50_ms"],
              f"{r['m']['overlap10']:.3f} / {r['m']['overlap50']:.3f}",
              f"{r['rss']:.0f}", f"{r['db']:.0f}",
              f"{(r['size'] - (rows[i - 1]['size'] if i else 0)) / r['build_s']:.0f}"
              if r["build_s"] else "reused", f"{r['open_s']:.1f}", r["load"])
             for i, r in enumerate(rows)]))
    probes = [r for r in rows if r["m"].get("probe")]
    if probes:
        print("\nReal-text probe (LoCoMo's 5,882 turns embedded for real and added to the store; vector "
              "side only, `Store.vec_search(question, 10)` against `exact=True`):\n")
        print(common.table(
            ["items", "questions", "exact top-10 found (mean)", "questions with all 10",
             "vector p50 ms"],
            [(f"{r['size']:,}", r["m"]["probe"]["questions"], r["m"]["probe"]["overlap10"],
              r["m"]["probe"]["all10"], r["m"]["probe"]["coarse"]["p50_ms"]) for r in probes]))
    if vrows:
        print("\nVector index alone (k = 50; the product's exact float vec0 scan vs a "
              "binary-quantised bit vec0 over the same vectors):\n")
        print(common.table(
            ["vectors", "exact float p50 ms", "exact float p95 ms", "bit p50 ms", "bit p95 ms",
             "bit k=200 p50 ms", "bit top-10 overlap with exact (synthetic)", "DB MiB", "insert vectors/s",
             "load avg"],
            [(f"{v['n']:,}", v["exact"]["p50_ms"], v["exact"]["p95_ms"], v["bits"]["p50_ms"],
              v["bits"]["p95_ms"], v["bits200"]["p50_ms"], v["overlap10"], f"{v['db']:.0f}",
              f"{v['n'] / v['build_s']:.0f}", v["load"]) for v in vrows]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
