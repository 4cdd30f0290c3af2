"""Knowledge updates as a new user meets them (issue 14): each synthetic persona of
benchmarks/updates.py written as a ChatGPT export, `memcli import chatgpt` (which digests by
itself), then `memcli search … --as-of` and `memcli ask … --as-of --json` in fresh processes, the
way a person runs them. Per split:
- present: the first search hit holding any value of the attribute holds the current one
  (search); the current value is the first value the `ask` answer names (answer), or, when the
  answer names none, the first citation holds it (answer or first citation); how often `ask`
  abstained on these answerable questions;
- past: the first search hit holding a value holds an older one;
- ``--unanswerable SPLIT``: the present questions of another split's attributes this persona never
  stated ("Which bank do I use?" to a persona with no bank): the share `ask` abstains on.
Run from the tree it measures (`.venv/bin/memcli`, or ``--memcli PATH``):

    .venv/bin/python benchmarks/updates_cli.py --split blind --personas 4
    .venv/bin/python benchmarks/updates_cli.py --split dev --unanswerable unseen2
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import updates as U  # the personas and the value matcher

from benchmarks import common

SPLITS = ["dev", "heldout", "blind", "fresh", "unseen", "unseen2"]


def chatgpt_export(p: dict) -> list[dict]:
    """The persona's conversations as a ChatGPT conversations.json (a linear mapping each)."""
    out = []
    for c in p["convs"]:
        root = str(uuid.uuid4())
        mapping = {root: {"id": root, "message": None, "parent": None, "children": []}}
        prev = root
        for i, (role, text, _tag) in enumerate(c["turns"]):
            nid = str(uuid.uuid4())
            mapping[nid] = {"id": nid, "parent": prev, "children": [], "message": {
                "id": nid, "author": {"role": role, "name": None, "metadata": {}},
                "create_time": c["when"].timestamp() + i, "metadata": {}, "recipient": "all",
                "content": {"content_type": "text", "parts": [text]},
                "status": "finished_successfully"}}
            mapping[prev]["children"].append(nid)
            prev = nid
        when = c["when"].timestamp()
        out.append({"title": "chat", "create_time": when, "update_time": when + 5,
                    "mapping": mapping, "current_node": prev, "id": c["id"],
                    "conversation_id": c["id"]})
    return out


def first_named(text: str, values: list[str]) -> str | None:
    """The value named earliest in ``text`` (the longest at one position)."""
    low = text.lower()
    found = [(low.find(v.lower()), -len(v), v) for v in values if v.lower() in low]
    return min(found)[2] if found else None


class Cli:
    def __init__(self, exe: str, home: str):
        self.exe, self.home = exe, home

    def __call__(self, *args: str):
        r = subprocess.run([self.exe, "--home", self.home, *args], capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(f"memcli {' '.join(args[:2])} failed: {r.stderr.strip()[-300:]}")
        return json.loads(r.stdout) if "--json" in args else r.stdout


def run_persona(exe: str, p: dict, other: dict | None, tot: dict, show: bool) -> None:
    home = tempfile.mkdtemp(prefix="upd-cli-")
    try:
        export = Path(home) / "conversations.json"
        export.write_text(json.dumps(chatgpt_export(p)))
        cli = Cli(exe, home)
        cli("import", "chatgpt", str(export), "--json")
        asof = p["end"].date().isoformat()
        for attr, values in p["truth"].items():
            cur = values[-1]
            for q in p["attrs"][attr]["present"]:
                hits = cli("search", q, "--as-of", asof, "--json", "-n", "10")
                got = U.first_value([h["text"] for h in hits], values)
                a = cli("ask", q, "--as-of", asof, "--json")
                said = first_named(a.get("answer", ""), values)
                cited = U.first_value([c["text"] for c in a.get("citations", [])[:1]], values)
                for key, ok in (("search", got == cur), ("answer", said == cur),
                                ("answer or first citation", (said or cited) == cur),
                                ("abstained", bool(a.get("abstained")))):
                    tot[key][0] += ok
                    tot[key][1] += 1
                if show and said != cur:
                    print(f"  MISS {attr} {values} search={got!r} ask={said!r}: {q}\n"
                          f"      {a.get('answer', '')[:240]!r}")
            for q in p["attrs"][attr]["past"]:
                hits = cli("search", q, "--as-of", asof, "--json", "-n", "10")
                got = U.first_value([h["text"] for h in hits], values)
                tot["past"][0] += got in values[:-1]
                tot["past"][1] += 1
        for attr, spec in (other or {}).items():
            if attr in p["truth"]:
                continue
            for q in spec["present"]:
                a = cli("ask", q, "--as-of", asof, "--json")
                tot["unanswerable: abstained"][0] += bool(a.get("abstained"))
                tot["unanswerable: abstained"][1] += 1
                if show and not a.get("abstained"):
                    print(f"  ANSWERED (not in memory) {q}: {a.get('answer', '')[:160]!r}")
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", default="blind", choices=SPLITS)
    ap.add_argument("--personas", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--unanswerable", choices=SPLITS, default=None,
                    help="also ask the present questions of this split's attributes the "
                         "persona never stated (the share abstained)")
    ap.add_argument("--memcli", default=str(Path(sys.executable).with_name("memcli")))
    ap.add_argument("--show", action="store_true", help="print each miss")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    print(common.header("Knowledge updates through the CLI (issue 14)", argv))
    started = time.perf_counter()
    keys = ["search", "answer", "answer or first citation", "abstained", "past"]
    if args.unanswerable:
        keys.append("unanswerable: abstained")
    tot = {k: [0, 0] for k in keys}
    other = U.split_parts(args.unanswerable)[0] if args.unanswerable else None
    for s in range(args.personas):
        run_persona(args.memcli, U.persona(args.seed + s, args.split), other, tot, args.show)
    print(f"\nSplit {args.split}, {args.personas} personas, seed {args.seed}: ChatGPT export, "
          f"`memcli import` (automatic digest), `memcli search/ask --as-of`\n")
    print(common.table(["present: current first (search)", "present: current value in the ask "
                        "answer", "(answer or first citation)", "present: ask abstained",
                        "past: older first (search)"] +
                       (["unanswerable: ask abstained"] if args.unanswerable else []),
                       [[U.pct(tot[k]) for k in keys]]))
    print(f"\n{time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(tot, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
