"""Calibrate `[ask] abstain_threshold` (best cosine similarity below which `memcli ask` abstains)
with the REAL default embedder (all-MiniLM-L6-v2) on a small hand-written set:
30 personal notes, 30 questions they answer (paraphrased, few shared words) and 30 questions
they do not answer (some deliberately near a note's topic). Prints the similarity distributions,
the accuracy of the abstain decision (similarity + keyword rule, as `memcli ask` applies it) for a
sweep of thresholds, and the best one.

``--locomo N`` calibrates on LoCoMo instead (the first N conversations, stored by
benchmarks/locomo.py): category 5 (adversarial: the conversation does not answer them) against the
answerable categories 1-4 together, through ``memcli.services.ask.recall``'s own retrieval
(the product's path: date windows, memcli's own output dropped). It reports both rates for each
threshold and the threshold with the best balanced accuracy (mean of the two rates). Usage:
    .venv/bin/python benchmarks/calibrate_abstain.py [--embedder minilm]
    .venv/bin/python benchmarks/calibrate_abstain.py --locomo 10 --embedder onnx
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import header, table

NOTES = [
    "My dentist is Dr. Alvarez, her practice is on Pine Street",
    "We decided to use PostgreSQL for the billing service",
    "The wifi password at the cabin is blue-heron-42",
    "Mum's birthday is on the 14th of August",
    "I'm allergic to penicillin; the rash was in 2019",
    "The car needs its MOT inspection before the end of March",
    "Ana recommended the novel 'The Remains of the Day'",
    "Our landlord is called Mr. Okafor and prefers email",
    "I started learning the cello in September with a teacher named Ruth",
    "The spare key is hidden under the blue flower pot by the shed",
    "Flight to Osaka departs on 3 June from Heathrow terminal 5",
    "Ben's daughter is called Mila and she is four",
    "I ran my first half marathon in 1 hour 52 minutes",
    "The team agreed to move the standup to 9:30",
    "Our cat Miso needs her vaccine booster in June",
    "Chen suggested we switch the data pipeline to Apache Arrow",
    "I keep my passport in the top drawer of the desk",
    "The plumber said the boiler is twelve years old and should be replaced soon",
    "I want to visit Patagonia next winter for hiking",
    "Favourite ramen place is Ichiran near the station",
    "The quarterly report is due on the last Friday of the month",
    "Dara lent me her camping stove in July",
    "I stopped drinking coffee after 2pm because of bad sleep",
    "Grandpa's lasagne recipe uses nutmeg in the bechamel",
    "My bike lock code is 4471",
    "The kids' school play is on December 12 at 6pm",
    "Goran is moving to Toronto for a new job at a bank",
    "I pay 45 euros a month for the gym membership",
    "The onboarding project deadline slipped to mid-November",
    "Fatima taught me to make mint tea the Moroccan way",
]
RELATED = [  # (question, index of the note that answers it)
    ("who looks after my teeth?", 0), ("which database did we pick for invoicing?", 1),
    ("how do I get on the internet at the cottage?", 2), ("when does my mother celebrate?", 3),
    ("which antibiotic should I avoid?", 4), ("when is the vehicle test due?", 5),
    ("what book did Ana suggest?", 6), ("how should I contact the person I rent from?", 7),
    ("what instrument am I learning?", 8), ("where is the extra key?", 9),
    ("when do I fly to Japan?", 10), ("how old is Ben's kid?", 11),
    ("what was my half marathon time?", 12), ("what time is the daily meeting now?", 13),
    ("when does the cat need a shot?", 14), ("what did Chen propose for the pipeline?", 15),
    ("where do I keep my travel documents?", 16), ("how old is the heating system?", 17),
    ("where do I want to go trekking?", 18), ("where do I like to eat noodles?", 19),
    ("when is the quarterly report due?", 20), ("who lent me camping gear?", 21),
    ("why did I cut afternoon caffeine?", 22), ("what spice goes in grandpa's sauce?", 23),
    ("what is the combination for my bicycle?", 24), ("when is the school performance?", 25),
    ("where is Goran relocating?", 26), ("how much does the fitness club cost?", 27),
    ("when is the onboarding deadline now?", 28), ("who showed me how to brew tea?", 29),
]
UNRELATED = [
    "what is the capital of Mongolia?", "how many moons does Jupiter have?",
    "who won the 1998 football world cup?", "what is my blood type?",
    "when is my dad's birthday?", "what is the password for my bank account?",
    "which dentist did my brother recommend?", "what did the cardiologist say?",
    "when does my train to Paris leave?", "how do I fix a flat tyre?",
    "what is the boiling point of ethanol?", "what did we decide about the mobile app logo?",
    "what's my neighbour's dog called?", "how much is my car insurance?",
    "when is the piano recital?", "what did I eat for breakfast on Monday?",
    "who is the prime minister of Canada?", "what's the recipe for sourdough bread?",
    "where did I park the car at the airport?", "what is my employee id number?",
    "which vaccine did the dog get?", "how tall is Mount Kilimanjaro?",
    "what are the opening hours of the post office?", "what did Hana say about the budget?",
    "when does my passport expire?", "what's my shoe size?",
    "how do I say thank you in Finnish?", "what did the mechanic charge me?",
    "which laptop did I buy last year?", "what is the name of my first teacher?",
]


def calibrate_locomo(samples: int, embedder_name: str) -> None:
    """Both rates per threshold on LoCoMo: answerable (cats 1-4) answered, cat 5 abstained."""
    import shutil
    from datetime import timedelta

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import locomo

    from benchmarks.common import make_embedder
    from memcli.core.text import query_words
    from memcli.services.answer_context import is_relevant
    from memcli.services.ask import retrieve_for_question

    embedder = make_embedder(embedder_name)
    seen: list[tuple[bool, list, list]] = []  # (answerable, hits, query words)
    for sample in locomo.load(locomo.SHARED_EVAL / "locomo10.json")[:samples]:
        home = Path(tempfile.mkdtemp(prefix="calib-"))
        try:
            mem, last = locomo.build_memory(sample, home, embedder)
            now = last + timedelta(days=1)
            for qa in sample["qa"]:
                cat = qa.get("category")
                if cat not in (1, 2, 3, 4, 5):
                    continue
                hits, _, query = retrieve_for_question(mem, qa["question"], limit=8, now=now)
                seen.append((cat != 5, hits, query_words(query)))
            mem.close()
        finally:
            shutil.rmtree(home, ignore_errors=True)
    rows, best = [], (None, -1.0)
    n_ans = sum(1 for a, *_ in seen if a)
    n_adv = len(seen) - n_ans
    for t100 in range(20, 71, 2):
        t = t100 / 100
        answered = sum(any(is_relevant(h, qw, t) for h in hits) for a, hits, qw in seen if a)
        abstained = sum(not any(is_relevant(h, qw, t) for h in hits)
                        for a, hits, qw in seen if not a)
        balanced = (answered / n_ans + abstained / n_adv) / 2
        rows.append((f"{t:.2f}", f"{answered / n_ans:.3f}", f"{abstained / n_adv:.3f}",
                     f"{balanced:.3f}"))
        if balanced > best[1]:
            best = (t, balanced)
    print(header("ask abstention threshold on LoCoMo", extra={
        "embedder": embedder_name,
        "set": f"{samples} conversations: {n_ans} answerable (categories 1-4), {n_adv} "
               "adversarial (category 5); retrieval as memcli.services.ask.recall does, 8 hits"}))
    print()
    print(table(["threshold", "answerable answered", "category 5 abstained",
                 "balanced accuracy"], rows))
    print()
    print(f"Best balanced accuracy: threshold **{best[0]:.2f}** ({best[1]:.3f}).")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--embedder", default="minilm")
    ap.add_argument("--locomo", type=int, default=None,
                    help="calibrate on the first N LoCoMo conversations (category 5 vs 1-4)")
    args = ap.parse_args()
    os.environ["MEMCLI_EMBEDDER"] = args.embedder
    if args.locomo:
        calibrate_locomo(args.locomo, args.embedder)
        return

    from memcli.backends.factory import make_embedder
    from memcli.core.text import query_words
    from memcli.core.timeutil import utcnow
    from memcli.retrieval.dates import strip_phrase, time_window
    from memcli.services.answer_context import is_relevant
    from memcli.services.memory import Memory

    with tempfile.TemporaryDirectory() as home:
        mem = Memory(home, embedder=make_embedder(args.embedder))
        ids = [mem.remember(t) for t in NOTES]
        now = utcnow()

        def retrieve(q):
            query = strip_phrase(q, time_window(q, now))
            return mem.search(query, limit=8, now=now), query_words(query)

        rel, unrel = [], []
        for q, idx in RELATED:
            hits, qw = retrieve(q)
            best = max((h.similarity or 0.0) for h in hits) if hits else 0.0
            top_ok = bool(hits) and hits[0].id == ids[idx]
            rel.append((q, best, hits, qw, top_ok))
        for q in UNRELATED:
            hits, qw = retrieve(q)
            best = max((h.similarity or 0.0) for h in hits) if hits else 0.0
            unrel.append((q, best, hits, qw))

        rows = []
        best_t, best_acc = None, -1.0
        for t100 in range(15, 61, 2):
            t = t100 / 100
            answered = sum(any(is_relevant(h, qw, t) for h in hits) for _, _, hits, qw, _ in rel)
            abstained = sum(not any(is_relevant(h, qw, t) for h in hits)
                            for _, _, hits, qw in unrel)
            acc = (answered + abstained) / (len(rel) + len(unrel))
            rows.append((f"{t:.2f}", f"{answered}/{len(rel)}", f"{abstained}/{len(unrel)}",
                         f"{acc:.3f}"))
            if acc > best_acc:
                best_t, best_acc = t, acc
        mem.close()

    def dist(values):
        v = sorted(values)
        return (f"min {v[0]:.3f} · p10 {v[len(v) // 10]:.3f} · median {v[len(v) // 2]:.3f} · "
                f"p90 {v[(9 * len(v)) // 10]:.3f} · max {v[-1]:.3f}")

    print(header("ask abstention threshold calibration", extra={
        "embedder": args.embedder,
        "set": f"{len(NOTES)} notes, {len(RELATED)} answerable and {len(UNRELATED)} "
               "unanswerable questions (hand-written, in the script)"}))
    print()
    print(f"- best similarity, answerable: {dist([b for _, b, *_ in rel])}")
    print(f"- best similarity, unanswerable: {dist([b for _, b, *_ in unrel])}")
    print(f"- answerable questions whose answering note ranks first: "
          f"{sum(r[4] for r in rel)}/{len(rel)}")
    print()
    print(table(["threshold", "answerable answered", "unanswerable abstained", "accuracy"], rows))
    print()
    print(f"Best threshold on this set: **{best_t:.2f}** (accuracy {best_acc:.3f}).")
    print()
    print("Lowest-scoring answerable / highest-scoring unanswerable questions:")
    for q, b, *_ in sorted(rel, key=lambda r: r[1])[:4]:
        print(f"- answerable {b:.3f}: {q}")
    for q, b, *_ in sorted(unrel, key=lambda r: -r[1])[:4]:
        print(f"- unanswerable {b:.3f}: {q}")


if __name__ == "__main__":
    main()
