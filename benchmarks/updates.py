"""Knowledge updates (issue 14): does memcli answer with the current value of a fact that changed,
the older one when asked about the past, and never close a fact because of an unrelated statement?

Two sources:
- ``--synthetic``: personas whose attributes (city, employer, car, favourite band, diet, phone,
  e-mail, job, gym, partner, language) each change 1-3 times over two years, stated in varied
  phrasing, with filler chat and confusers ("moved our climbing sessions to Thursdays", "my
  sister moved to Berlin") in between. Phrasings come in three splits: ``dev`` (those the rules
  were written against, the issue's examples), ``heldout`` (written apart from the rules; its
  first run is in BENCHMARKS.md, then the rules were widened on its misses), ``blind`` (written
  after that, measured untuned), ``fresh`` (written after the attribute-words rules) and ``unseen``
  (benchmarks/updates_unseen.py: its own attributes, events without topic words), ``unseen2``
  (benchmarks/updates_unseen2.py: attributes no rule names, questions sharing no word).
  Measured per question: the first hit (``memcli search``, and the context ``memcli ask`` would
  cite, services/ask.recall) that holds any value of the attribute holds the current one (present
  questions) or an older one (past questions); and false supersessions (a fact closed by a fact
  from another attribute or a filler line) as their own count.
- ``--longmemeval FILE``: the knowledge-update questions of a LongMemEval file (benchmarks/
  updates_lme.py; ``--stores DIR`` reuses the verbatim stores of ``longmemeval.py --work DIR``):
  among the evidence turns found, is the first one from the latest evidence session?
``--oracle-model`` digests the synthetic personas with an ORACLE built from the split's truth in
place of a capable model (benchmarks/updates_oracle.py): the capable path's ceiling, not a model.

    .venv/bin/python benchmarks/updates.py --synthetic --split heldout --personas 4
    .venv/bin/python benchmarks/updates.py --longmemeval ../shared/eval/longmemeval_s_dev.json.gz \
        --stores /work/lme_stores --work /work/u14_lme
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
import updates_lme
from updates_unseen import CONFUSERS_UNSEEN, FILLER_UNSEEN, UNSEEN
from updates_unseen2 import CONFUSERS_UNSEEN2, FILLER_UNSEEN2, UNSEEN2

# attribute → (values, {split: (first statements, change statements)}, present questions,
#               past questions); {v} is the value
ATTRS: dict[str, dict] = {
    "residence": dict(
        values=["Lyon", "Grenoble", "Annecy", "Porto", "Leeds", "Utrecht", "Tallinn"],
        dev=(["I live in {v}.", "I live in {v} with my partner."],
             ["We finally moved to {v} last month.", "Settled into our new place in {v}."]),
        heldout=(["I'm based in {v} at the moment, near the old town.",
                  "Home for me is an apartment in {v}."],
                 ["Just relocated to {v} for good!", "Our new flat in {v} finally has internet.",
                  "We're moving to {v} next week, boxes everywhere.",
                  "I've been living in {v} since the spring."]),
        blind=(["We rent a small house in {v}, close to the station."],
               ["Finally unpacked the last boxes in {v}.", "Moving day went fine, we now live in {v}.",
                "Big news: we relocated to {v} in the summer."]),
        fresh=(["Our address has been in {v} for a while now."],
               ["The move is done, {v} is home now.", "We signed the lease on a flat in {v}.",
                "Picked up the keys to our place in {v} yesterday."]),
        present=["Where do I live?", "Which city am I living in these days?"],
        past=["Where did I live before I moved?", "Which city did I live in previously?"]),
    "employer": dict(
        values=["Acme", "Initech", "Globex", "Umbrella Labs", "Hooli", "Vandelay"],
        dev=(["I work at {v}."], ["I started a new job at {v} last week."]),
        heldout=(["I've been working for {v} for two years.", "My employer is {v}."],
                 ["Accepted an offer from {v}, starting Monday!",
                  "Signed my contract with {v} today.", "I joined {v} as a team lead."]),
        blind=(["I'm a contractor for {v} right now."],
               ["Today was my first day at {v}.", "I left my old company and now work for {v}.",
                "Handed in my notice, I start at {v} next month."]),
        fresh=(["I'm on the data team at {v}."],
               ["Last week was my final day at the old job, now I'm with {v}.",
                "New chapter: I'm employed by {v} since March."]),
        present=["Where do I work?", "Which company am I working for now?"],
        past=["Where did I work before?", "What was my previous employer?"]),
    "car": dict(
        values=["Honda Civic", "Renault Zoe", "Toyota Yaris", "Kia Niro", "Volvo XC40"],
        dev=(["I drive a {v}."], ["Sold the old car and picked up a used {v}."]),
        heldout=(["My car is a {v}, it has been reliable."],
                 ["Traded in the old one for a {v} yesterday.", "We bought a {v} on Saturday.",
                  "I'm driving a {v} now, much nicer."]),
        blind=(["We get around in a {v}, mostly on weekends."],
               ["Our new car is a {v}, it arrived on Tuesday.",
                "Got rid of the old car, now I drive a {v}."]),
        fresh=(["Our family car is a {v}."],
               ["The dealer swapped our old car for a {v}.",
                "We now have a {v} as our only car."]),
        present=["What car do I drive?", "Which car do I have these days?"],
        past=["What car did I drive before?", "Which car did I use to have?"]),
    "band": dict(
        values=["Radiohead", "Fontaines D.C.", "Wet Leg", "Big Thief", "Khruangbin", "IDLES"],
        dev=(["My favourite band is {v}."], ["These days my favourite band is {v}."]),
        heldout=(["{v} is my favourite band, no contest."],
                 ["My new favourite band is {v}, I can't stop listening.",
                  "Honestly my favorite band now is {v}."]),
        blind=(["Nobody beats {v}, they're my favourite band."],
               ["Lately {v} has become my favourite band.", "My favourite band is now {v}."]),
        fresh=(["I listen to {v} all day, my favourite band by far."],
               ["My favourite band has changed, it's {v} now."]),
        present=["What is my favourite band?", "Which band do I like most these days?"],
        past=["What was my favourite band before?", "Which band did I use to like most?"]),
    "phone": dict(
        values=["06 11 22 33 44", "07 98 76 54 32", "06 55 44 33 22", "07 12 12 34 34"],
        dev=(["My phone number is {v}."], ["My new phone number is {v}."]),
        heldout=(["My mobile number is {v} if you need it."],
                 ["New number: {v}, please update it.", "My cell is now {v}."]),
        blind=(["Text me on {v} any time."],
               ["I changed my number, it's {v} now.", "Please use my new number {v}."]),
        fresh=(["You can reach me at {v}."],
               ["My number changed to {v} last week.", "Got a new SIM, my number is {v}."]),
        present=["What is my phone number?", "What's my current mobile number?"],
        past=["What was my old phone number?", "What was my previous number?"]),
    "email": dict(
        values=["anna@oldmail.example", "anna.b@work.example", "anna@fastpost.example",
                "hello@anna.example"],
        dev=(["My email is {v}."], ["My new email address is {v}."]),
        heldout=(["My e-mail address is {v}."],
                 ["My email is now {v}, the old one is closed."]),
        blind=(["Send things to {v}, that's my email."],
               ["I switched email, use {v} from now on."]),
        fresh=(["Write to me at {v}."],
               ["I've moved my email to {v}."]),
        present=["What is my email address?"],
        past=["What was my previous email address?"]),
    "job": dict(
        values=["data engineer", "senior data engineer", "engineering manager",
                "product manager", "staff engineer"],
        dev=(["I'm a {v}."], ["I got promoted to {v}."]),
        heldout=(["I work as a {v} on the payments team."],
                 ["I'm now working as a {v}.", "My new role is {v}, starting this month."]),
        blind=(["I've been a {v} for three years."],
               ["Got the promotion: I'm a {v} now.", "I changed careers and became a {v}."]),
        fresh=(["My title at work is {v}."],
               ["They made me {v} last month."]),
        present=["What is my job title?", "What do I do for work these days?"],
        past=["What was my job title before?", "What role did I have previously?"]),
    "gym": dict(
        values=["Basic-Fit", "On Air", "Keep Cool", "Fitness Park"],
        dev=(["My gym is {v}."], ["My gym is now {v}."]),
        heldout=(["I train at {v} most evenings."],
                 ["I switched gyms, I train at {v} now.", "These days I train at {v}."]),
        blind=(["I go to {v} three times a week."],
               ["I cancelled my old membership and go to {v} now."]),
        fresh=(["I have a membership at {v}."],
               ["My membership moved to {v} this year."]),
        present=["Which gym do I go to?", "Where do I train these days?"],
        past=["Which gym did I go to before?", "Where did I use to train?"]),
    "language": dict(
        values=["Spanish", "Italian", "Japanese", "Portuguese"],
        dev=(["I'm learning {v}."], ["I'm learning {v} now."]),
        heldout=(["I'm studying {v} on weekday mornings."],
                 ["Dropped my old course, I'm studying {v} on weekday mornings now."]),
        blind=(["I take {v} lessons on Tuesdays."],
               ["I've switched to {v} lessons this term."]),
        fresh=(["I'm taking {v} classes at the community college."],
               ["This year my language course is {v}."]),
        present=["Which language am I learning?", "What language am I studying these days?"],
        past=["Which language was I learning before?", "What language did I study first?"]),
}
CONFUSERS = [
    "Paul and I moved our climbing sessions to Thursdays.",
    "My sister moved to Berlin last year and loves it.",
    "We moved the team meeting to Friday afternoon.",
    "I visited Lisbon for a long weekend, the food was great.",
    "My friend Marc works at Google and complains about it.",
    "My brother's favourite band is Metallica, sadly.",
    "I test drove a BMW but I did not like it.",
    "My old phone had a cracked screen for months.",
    "I went to a concert in Paris with Ana.",
    "I went to a concert in Rome with Ana.",
    "My dentist changed her number, I need to call the clinic.",
    "We settled the bill and walked back along the river.",
    "I moved the plants to the balcony for the summer.",
    "My colleague just joined Initech's rival as an intern.",
]
FILLER = [
    "Had pasta for dinner, it was great.", "The weather is awful today.",
    "Reading a book about the Roman empire, it's long.", "Can you suggest a recipe with leeks?",
    "I slept badly last night.", "Watching a documentary about octopuses tonight.",
    "My knee hurts a bit after the run.", "What's a good gift for a five year old?",
    "Bought new plants for the kitchen.", "Cleaned the whole flat this morning.",
]
REPLIES = ["Nice, thanks for sharing.", "Good to know!", "That sounds great.", "Noted."]
START = datetime(2023, 1, 5, 10, tzinfo=timezone.utc)
DAYS = 730


def split_parts(split: str) -> tuple[dict, list[str], list[str]]:
    """(attributes, confusers, filler) of a split: ``unseen`` and ``unseen2`` have their own
    (updates_unseen.py, updates_unseen2.py)."""
    own = {"unseen": (UNSEEN, CONFUSERS_UNSEEN, FILLER_UNSEEN),
           "unseen2": (UNSEEN2, CONFUSERS_UNSEEN2, FILLER_UNSEEN2)}
    return own.get(split, (ATTRS, CONFUSERS, FILLER))


def persona(seed: int, split: str) -> dict:
    """A timeline of conversations (each: date, turns with ids) and the truth of each attribute."""
    rnd = random.Random(seed)
    events = []  # (day, attr or None, version, text)
    truth: dict[str, list[str]] = {}
    attrs, confusers, filler = split_parts(split)
    for attr, spec in attrs.items():
        first, changes = spec[split]
        n = rnd.randint(2, min(4, len(spec["values"])))  # 1-3 changes
        values = rnd.sample(spec["values"], n)
        truth[attr] = values
        days = sorted(rnd.sample(range(0, DAYS - 20), n))
        for ver, (day, v) in enumerate(zip(days, values)):
            tmpl = rnd.choice(first if ver == 0 else changes)
            events.append((day, attr, ver, tmpl.format(v=v)))
    for i, text in enumerate(confusers):
        events.append((rnd.randrange(DAYS), None, i, text))
    for i in range(len(attrs) * 4):
        events.append((rnd.randrange(DAYS), None, 100 + i, rnd.choice(filler)))
    events.sort(key=lambda e: e[0])
    convs = []
    for n, (day, attr, ver, text) in enumerate(events):
        when = START + timedelta(days=day, minutes=n % 50)
        turns = [("user", text, f"{attr or 'filler'}:{ver}"),
                 ("assistant", rnd.choice(REPLIES), "reply"),
                 ("user", rnd.choice(filler), "filler:x")]
        convs.append({"id": f"c{n}", "when": when, "turns": turns})
    return {"convs": convs, "truth": truth, "end": START + timedelta(days=DAYS + 10),
            "attrs": attrs}


def build(p: dict, home: Path, embedder):
    from memcli.core.models import NewItem
    from memcli.core.timeutil import iso
    from memcli.services.memory import Memory

    mem = Memory(home, embedder=embedder)
    for c in p["convs"]:
        items = [NewItem(text=t, kind="message", role=r, source="jsonl",
                         created_at=iso(c["when"] + timedelta(seconds=i)),
                         external_id=f"{c['id']}:{i}:{tag}", position=i,
                         key=f"jsonl:{c['id']}:{i}") for i, (r, t, tag) in enumerate(c["turns"])]
        with mem.store.transaction():
            cid = mem.store.upsert_conversation("jsonl", c["id"], created_at=iso(c["when"]))
            mem.add_items(items, conversation_id=cid)
    return mem


def first_value(texts: list[str], values: list[str]) -> str | None:
    for t in texts:
        low = t.lower()
        found = [v for v in values if v.lower() in low]
        if found:
            return max(found, key=len)  # "senior data engineer" over "data engineer"
    return None


def tag_of(mem, item_id: int) -> str:
    """The attribute:version tag of the message a fact rests on ('filler:3', 'band:1')."""
    srcs = mem.store.sources_of(item_id)
    rows = mem.store.get_items(srcs)
    tags = [(rows[s].get("external_id") or "::?").split(":", 2)[2] for s in srcs if s in rows]
    return tags[0] if tags else "?"


def evaluate(mem, p: dict, *, with_recall: bool, show: bool = False) -> dict:
    from memcli.services.ask import recall

    out = {"present": [0, 0], "past": [0, 0], "past_previous": [0, 0], "recall_present": [0, 0]}
    for attr, values in p["truth"].items():
        spec = p["attrs"][attr]
        cur, older = values[-1], values[:-1]
        for q in spec["present"]:
            hits = mem.search(q, limit=10, now=p["end"])
            got = first_value([h.text for h in hits], values)
            out["present"][0] += got == cur
            out["present"][1] += 1
            if got != cur and show:
                print(f"  MISS present {attr} {values} got {got!r}: {q}")
                for h in hits[:4]:
                    print(f"      {h.kind:8} {h.score:.3f} {h.created_at[:10]} {h.text[:90]}")
            if with_recall:
                r = recall(mem, q, now=p["end"])
                got = first_value([h.text for h in r.context or r.hits], values)
                out["recall_present"][0] += got == cur
                out["recall_present"][1] += 1
        for q in spec["past"]:
            hits = mem.search(q, limit=10, now=p["end"])
            got = first_value([h.text for h in hits], values)
            out["past"][0] += got in older
            out["past"][1] += 1
            if got not in older and show:
                print(f"  MISS past {attr} {values} got {got!r}: {q}")
                for h in hits[:4]:
                    print(f"      {h.kind:8} {h.score:.3f} {h.created_at[:10]} {h.text[:90]}")
            out["past_previous"][0] += got == older[-1]
            out["past_previous"][1] += 1
    false = missed = 0
    facts = mem.store.list_derived(["fact"])
    by_id = {f["id"]: f for f in facts}
    for f in facts:
        if f.get("superseded_by"):
            a, b = tag_of(mem, f["id"]), tag_of(mem, f["superseded_by"])
            if a.split(":")[0] != b.split(":")[0] or a.startswith("filler"):
                false += 1
                if show:
                    print(f"  FALSE {f['text'][:70]!r} closed by "
                          f"{by_id.get(f['superseded_by'], {}).get('text', '?')[:70]!r}")
    for attr, values in p["truth"].items():
        for f in facts:
            t = tag_of(mem, f["id"])
            if t.startswith(attr + ":") and int(t.split(":")[1]) < len(values) - 1 \
                    and not f.get("superseded_by"):
                missed += 1
                if show:
                    print(f"  MISSED UPDATE {t}: {f['text'][:90]!r}")
    out["false_supersessions"] = false
    out["missed_updates"] = missed
    out["facts"] = len(by_id)
    return out


def run_synthetic(args, embedder) -> dict:
    from memcli.services.digest.pipeline import digest

    totals: dict[str, dict] = {}
    for mode in (("verbatim", "digested") if args.verbatim else ("digested",)):
        agg: dict = {}
        for s in range(args.personas):
            p = persona(args.seed + s, args.split)
            home = Path(tempfile.mkdtemp(prefix="upd-"))
            try:
                mem = build(p, home, embedder)
                if mode == "digested" and args.oracle_model:  # truth-built, not a model
                    from updates_oracle import oracle_model

                    digest(mem, llm=oracle_model(p, mem, tag_of), judge_updates=True)
                elif mode == "digested":
                    digest(mem, use_llm=False)
                res = evaluate(mem, p, with_recall=args.recall,
                               show=args.show and mode == "digested")
                mem.close()
            finally:
                shutil.rmtree(home, ignore_errors=True)
            for k, v in res.items():
                if isinstance(v, list):
                    agg.setdefault(k, [0, 0])
                    agg[k][0] += v[0]
                    agg[k][1] += v[1]
                else:
                    agg[k] = agg.get(k, 0) + v
        totals[mode + (" (ORACLE model)" if args.oracle_model and mode == "digested"
                       else "")] = agg
    return totals


def pct(v) -> str:
    return f"{v[0]}/{v[1]} = {v[0] / v[1]:.3f}" if v[1] else "-"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--split", default="blind",
                    choices=["dev", "heldout", "blind", "fresh", "unseen", "unseen2"])
    ap.add_argument("--personas", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-recall", dest="recall", action="store_false",
                    help="skip the ask-context measurement (services/ask.recall)")
    ap.add_argument("--show", action="store_true", help="print each miss (digested memory)")
    ap.add_argument("--no-verbatim", dest="verbatim", action="store_false",
                    help="skip the undigested memory")
    ap.add_argument("--oracle-model", action="store_true",
                    help="digest with an ORACLE stand-in for a capable model, built from the "
                         "split's truth (benchmarks/updates_oracle.py): the capable path's "
                         "ceiling, not any real model's figure")
    ap.add_argument("--longmemeval", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=None, help="LongMemEval: the first N questions")
    ap.add_argument("--stores", type=Path, default=None,
                    help="LongMemEval: reuse the verbatim stores `longmemeval.py --work DIR` built "
                         "(copied to --work, never modified)")
    ap.add_argument("--work", type=Path, default=None,
                    help="LongMemEval: keep the digested copies here (reused by a re-run)")
    ap.add_argument("--embedder", default="onnx", choices=["onnx", "sbert", "hash"])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    embedder = common.make_embedder(args.embedder)
    print(common.header("Knowledge updates (issue 14)", argv))
    started = time.perf_counter()
    result = {}
    if args.synthetic:
        syn = run_synthetic(args, embedder)
        result["synthetic"] = syn
        rows = [(mode, pct(r["present"]), pct(r.get("recall_present", [0, 0])), pct(r["past"]),
                 pct(r["past_previous"]), r["false_supersessions"], r["missed_updates"],
                 r["facts"]) for mode, r in syn.items()]
        print(f"\nSynthetic, split {args.split}, {args.personas} personas, seed {args.seed}\n")
        print(common.table(["memory", "present: current first (search)",
                            "present: current first (ask context)", "past: older first",
                            "past: previous first", "false supersessions", "missed updates",
                            "facts"], rows))
    if args.longmemeval:
        lm = updates_lme.run(args, embedder)
        result["longmemeval"] = lm
        print("\nLongMemEval knowledge-update: the first evidence turn found is from the latest "
              "evidence session\n")
        print(common.table(["memory", "current first"],
                           [(m, pct(lm[m])) for m in ("verbatim", "digested")]))
    print(f"\n{time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
