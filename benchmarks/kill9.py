"""Crash safety: SIGKILL the real `memcli import jsonl` (and `memcli digest`) at random points,
resume after each kill, and prove nothing committed was lost and nothing was duplicated.

    .venv/bin/python benchmarks/kill9.py                 # 20 import kills + 5 digest kills
    .venv/bin/python benchmarks/kill9.py --kills 3 --conversations 300 --digest-kills 1

After every kill (read from a separate connection): ``PRAGMA integrity_check`` is ok; every key
committed before is still there (nothing lost); no key, no (conversation, message id) pair and no
conversation appears twice (nothing duplicated); every stored conversation has all its messages
(a conversation is written all-or-nothing); items, FTS rows and vectors are equally many, and
every ``--full-check-every`` kills and at the end the full doctor checks pass
(``memcli.services.maintenance.diagnose``). At the end the count equals what the export holds.

The digest phase runs `memcli digest` (fake LLM) uninterrupted on a copy as the reference, then
kills it on the original at random points and resumes; the derived notes must match the
reference exactly (same kinds, same texts, same counts). Exit status 1 if any check fails.
Uses the hashed embedder (MEMCLI_EMBEDDER=hash) so the machine's time goes to the kills.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SCRIPT = Path(sys.executable).with_name("memcli")
MEMCLI = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-c",
                                                 "from memcli.main import run; run()"]
# Chat-like sentences (the digest only derives notes from text that reads like facts).
SENTENCES = ["I met {p} at the {n} in {c} on {d}.", "My {r} {p} moved to {c} last {t}.",
             "We booked the {n} for {d} because {p} likes {c}.", "Remember that {p} is allergic "
             "to {f}.", "The {n} in {c} costs {k} euros per month.", "{p} recommended a {f} "
             "recipe with {g}.", "Note to self: call {p} about the {n} before {d}."]
FILL = dict(p=["Alice", "Bob", "María", "Chen", "Olu", "Zoë"],
            n=["train", "flat", "dentist", "gym", "concert", "café"],
            c=["Porto", "Lisbon", "東京", "Berlin", "Kraków"], d=["Monday", "June 3rd", "the weekend"],
            r=["sister", "friend", "boss"], t=["year", "month", "spring"],
            f=["peanuts", "ricotta", "basil"], g=["lemon", "garlic"], k=["40", "900", "15"])


def sentence(rng: random.Random) -> str:
    return rng.choice(SENTENCES).format(**{k: rng.choice(v) for k, v in FILL.items()})


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---- the export ----------------------------------------------------------------------------------
def write_export(path: Path, start: int, count: int, messages: int, rng: random.Random,
                 expected: dict[str, int]) -> None:
    """Append ``count`` conversations in the documented JSONL format; record message counts."""
    with path.open("a", encoding="utf-8") as f:
        for c in range(start, start + count):
            n = rng.randint(max(1, messages // 2), messages * 3 // 2)
            msgs = []
            for i in range(n):
                m = {"role": "user" if i % 2 == 0 else "assistant",
                     "content": " ".join(sentence(rng) for _ in range(rng.randint(1, 4)))
                     + f" (conversation {c}, message {i})",
                     "created_at": f"2024-{1 + c % 12:02d}-{1 + i % 28:02d}T10:{i % 60:02d}:00Z"}
                if c % 3:  # a third of the conversations rely on positions instead of ids
                    m["id"] = f"m{c}-{i}"
                msgs.append(m)
            f.write(json.dumps({"id": f"conv-{c}", "title": f"Conversation {c}",
                                "created_at": "2024-01-01T00:00:00Z", "messages": msgs},
                               ensure_ascii=False) + "\n")
            expected[f"conv-{c}"] = n


# ---- checks --------------------------------------------------------------------------------------
class Checker:
    def __init__(self, home: Path):
        self.home = home
        self.committed: set[str] = set()
        self.failures: list[str] = []
        self.lost = 0
        self.duplicated = 0

    def fail(self, msg: str) -> None:
        self.failures.append(msg)
        log(f"  FAIL: {msg}")

    def check(self, expected: dict[str, int], label: str, full: bool = True) -> int:
        """``full`` adds `memcli doctor`'s checks (slower); otherwise the index row counts."""
        from memcli.backends.fakes import HashEmbedder
        from memcli.services.maintenance import diagnose
        from memcli.services.memory import Memory
        from memcli.store import connection as dbmod

        db_path = self.home / "memcli.db"
        if not db_path.exists():
            return 0
        conn = dbmod.connect(db_path)
        try:
            ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if ok != "ok":
                self.fail(f"{label}: integrity_check: {ok}")
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'items'").fetchone():
                # killed while the very first run was still creating the schema
                if self.committed:
                    self.fail(f"{label}: the items table vanished")
                return 0
            keys = [r[0] for r in conn.execute(
                "SELECT key FROM items WHERE source = 'jsonl' AND kind = 'message'")]
            dup_keys = len(keys) - len(set(keys))
            dup_pairs = conn.execute(
                "SELECT count(*) FROM (SELECT c.external_id, i.external_id FROM items i "
                "JOIN conversations c ON c.id = i.conversation_id WHERE i.kind = 'message' "
                "GROUP BY 1, 2 HAVING count(*) > 1)").fetchone()[0]
            dup_convs = conn.execute(
                "SELECT count(*) FROM (SELECT source, external_id FROM conversations "
                "GROUP BY 1, 2 HAVING count(*) > 1)").fetchone()[0]
            # items_vec is created with the first embedded item: a kill before that leaves none
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            index_rows = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                          if t in tables else 0
                          for t in ("items", "items_fts", "items_vec", "vec_f16")]
            per_conv = dict(conn.execute(
                "SELECT c.external_id, count(i.id) FROM conversations c LEFT JOIN items i "
                "ON i.conversation_id = c.id AND i.kind = 'message' WHERE c.source = 'jsonl' "
                "GROUP BY c.id"))
        finally:
            conn.close()
        dups = dup_keys + dup_pairs + dup_convs
        if dups:
            self.duplicated += dups
            self.fail(f"{label}: duplicated: {dup_keys} keys, {dup_pairs} message ids, "
                      f"{dup_convs} conversations")
        now = set(keys)
        lost = self.committed - now
        if lost:
            self.lost += len(lost)
            self.fail(f"{label}: {len(lost)} committed messages lost, e.g. {sorted(lost)[:3]}")
        self.committed |= now
        torn = {c: n for c, n in per_conv.items() if n != expected.get(c)}
        if torn:
            self.fail(f"{label}: {len(torn)} conversations half-written, e.g. "
                      f"{list(torn.items())[:3]}")
        if len(set(index_rows)) != 1:
            self.fail(f"{label}: items/FTS/vector/coarse-index rows differ: {index_rows}")
        if full:
            with Memory(self.home, embedder=HashEmbedder()) as mem:
                report = diagnose(mem, embedder=mem.embedder)
            for p in report.problems:
                self.fail(f"{label}: doctor: {p.line()}")
        return len(now)


def env_for(home: Path) -> dict:
    env = dict(os.environ, MEMCLI_HOME=str(home), MEMCLI_EMBEDDER="hash", MEMCLI_LLM="fake")
    env.pop("MEMCLI_CONFIG", None)
    return env


def run_and_kill(cmd: list[str], env: dict, delay: float) -> tuple[bool, float, str]:
    """Start ``cmd``; SIGKILL it after ``delay`` s. Returns (killed, seconds, stderr tail)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        proc.wait(timeout=delay)
        killed = False
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed = True
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    if not killed and proc.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)} failed ({proc.returncode}): {err.strip()[-500:]}")
    return killed, time.perf_counter() - started, err


# ---- phase 1: import ---------------------------------------------------------------------------
def import_phase(args, work: Path, rng: random.Random) -> dict:
    home = work / "home"
    export = work / "export.jsonl"
    expected: dict[str, int] = {}
    write_export(export, 0, args.conversations, args.messages, rng, expected)
    checker = Checker(home)
    cmd = [*MEMCLI, "import", "jsonl", str(export)]
    kills = during_write = completed = grown = 0
    t0 = time.perf_counter()
    while kills < args.kills:
        delay = rng.uniform(args.min_delay, args.max_delay)
        before = len(checker.committed)
        killed, secs, _ = run_and_kill(cmd, env_for(home), delay)
        full = kills % args.full_check_every == 0
        n = checker.check(expected, f"after kill {kills + 1}" if killed else "after a full run",
                          full=full)
        if killed:
            kills += 1
            during_write += n > before
            log(f"kill {kills:>2}/{args.kills} at {secs:5.2f} s: {n} messages committed "
                f"(+{n - before})")
        else:
            completed += 1
            # the export is fully imported: the user exports again, with new chats appended
            start = len(expected)
            write_export(export, start, max(50, args.conversations // 4), args.messages, rng,
                         expected)
            grown += 1
            log(f"import finished before the kill; export grown to {len(expected)} conversations")
    # resume to the end
    proc = subprocess.run(cmd + ["--json"], env=env_for(home), capture_output=True, text=True)
    if proc.returncode != 0:
        checker.fail(f"final import failed: {proc.stderr.strip()[-300:]}")
    n = checker.check(expected, "after the final resume")
    want = sum(expected.values())
    if n != want:
        checker.fail(f"final count {n} != {want} messages in the export")
    # re-importing is a no-op
    proc = subprocess.run(cmd + ["--json"], env=env_for(home), capture_output=True, text=True)
    again = json.loads(proc.stdout)["added"] if proc.returncode == 0 else None
    if again != 0:
        checker.fail(f"re-import added {again} items")
    return {"kills": kills, "kills_during_writes": during_write, "completed_runs": completed,
            "conversations": len(expected), "messages": want, "final": n,
            "lost": checker.lost, "duplicated": checker.duplicated,
            "failures": checker.failures, "seconds": time.perf_counter() - t0,
            "home": home}


# ---- phase 2: digest ---------------------------------------------------------------------------
def derived_fingerprint(home: Path) -> tuple[Counter, dict]:
    from memcli.store import connection as dbmod

    conn = dbmod.connect(home / "memcli.db")
    try:
        rows = conn.execute("SELECT kind, content_hash FROM items WHERE source = 'digest'"
                            ).fetchall()
        counts = {
            "derived": len(rows),
            "links": conn.execute("SELECT count(*) FROM links").fetchone()[0],
            "item_sources": conn.execute("SELECT count(*) FROM item_sources").fetchone()[0],
            "integrity": conn.execute("PRAGMA integrity_check").fetchone()[0],
        }
    finally:
        conn.close()
    return Counter(rows), counts


def digest_phase(args, work: Path, rng: random.Random) -> dict:
    home, ref = work / "digest-home", work / "digest-ref"
    export = work / "digest.jsonl"
    expected: dict[str, int] = {}
    write_export(export, 0, args.digest_conversations, args.messages, rng, expected)
    subprocess.run([*MEMCLI, "import", "jsonl", str(export)], env=env_for(home), check=True,
                   capture_output=True)
    subprocess.run([*MEMCLI, "backup", str(work / "digest-ref.db")], env=env_for(home),
                   check=True, capture_output=True)
    ref.mkdir(mode=0o700)
    shutil.move(str(work / "digest-ref.db"), ref / "memcli.db")
    cmd = [*MEMCLI, "digest"]
    t = time.perf_counter()
    subprocess.run(cmd, env=env_for(ref), check=True, capture_output=True)
    ref_secs = time.perf_counter() - t
    want, want_counts = derived_fingerprint(ref)
    log(f"digest reference: {want_counts['derived']} derived items in {ref_secs:.1f} s")
    if not want_counts["derived"]:
        raise SystemExit("the reference digest derived nothing: the comparison would be vacuous")
    checker = Checker(home)
    kills = finished = during = 0
    before = 0
    while kills < args.digest_kills and finished < 3 * args.digest_kills:
        delay = rng.uniform(0.5, max(1.0, ref_secs * 1.1))
        killed, secs, _ = run_and_kill(cmd, env_for(home), delay)
        got, counts = derived_fingerprint(home)
        if counts["integrity"] != "ok":
            checker.fail(f"digest kill {kills + 1}: integrity_check: {counts['integrity']}")
        if killed:
            kills += 1
            during += counts["derived"] > before
            log(f"digest kill {kills}/{args.digest_kills} at {secs:5.2f} s: "
                f"{counts['derived']} derived items so far")
        else:  # it finished first: start again from the imported state to kill it again
            finished += 1
            shutil.rmtree(home)
            subprocess.run([*MEMCLI, "import", "jsonl", str(export)], env=env_for(home),
                           check=True, capture_output=True)
            got, counts = derived_fingerprint(home)
            log("digest finished before the kill; restarted from the imported state")
        before = counts["derived"]
    subprocess.run(cmd, env=env_for(home), check=True, capture_output=True)  # resume to the end
    got, counts = derived_fingerprint(home)
    checker.check(expected, "after the digest")  # messages intact, indexes consistent
    missing, extra = want - got, got - want
    if missing or extra:
        checker.fail(f"digest after kills differs from the uninterrupted run: "
                     f"{sum(missing.values())} missing, {sum(extra.values())} extra derived items")
    for key in ("links", "item_sources"):
        if counts[key] != want_counts[key]:
            checker.fail(f"digest: {key} {counts[key]} != {want_counts[key]} in the reference")
    return {"kills": kills, "during": during, "derived": counts["derived"],
            "reference": want_counts["derived"],
            "missing": sum(missing.values()), "extra": sum(extra.values()),
            "failures": checker.failures, "reference_seconds": ref_secs}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20, help="SIGKILLs of `memcli import` (≥ 20)")
    ap.add_argument("--conversations", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=10, help="mean messages per conversation")
    ap.add_argument("--min-delay", type=float, default=0.3)
    ap.add_argument("--max-delay", type=float, default=8.0)
    ap.add_argument("--full-check-every", type=int, default=4,
                    help="run the doctor checks after every Nth kill (always at the end)")
    ap.add_argument("--digest-kills", type=int, default=5, help="0 skips the digest phase")
    ap.add_argument("--digest-conversations", type=int, default=80)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", type=Path, default=None, help="work here and keep the files")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    work = args.keep or Path(tempfile.mkdtemp(prefix="memcli-kill9-"))
    work.mkdir(parents=True, exist_ok=True)
    has_digest = subprocess.run([*MEMCLI, "digest", "--help"], capture_output=True).returncode == 0
    try:
        imp = import_phase(args, work, rng)
        dig = digest_phase(args, work, rng) if args.digest_kills and has_digest else None
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    failures = imp["failures"] + (dig["failures"] if dig else [])
    total_kills = imp["kills"] + (dig["kills"] if dig else 0)
    lost = imp["lost"] + (dig["missing"] if dig else 0)
    dup = imp["duplicated"] + (dig["extra"] if dig else 0)
    summary = f"{lost} lost, {dup} duplicated over {total_kills} kills"

    cmd = shlex.join([Path(sys.executable).name, "benchmarks/kill9.py",
                      *(argv if argv is not None else sys.argv[1:])])
    print("### Crash safety: kill -9 during import and digest\n")
    print(f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"- command: `{cmd}` (seed {seed}; MEMCLI_EMBEDDER=hash, MEMCLI_LLM=fake)\n")
    print("| phase | kills | landed while writing | data | result |")
    print("|---|---|---|---|---|")
    print(f"| `memcli import jsonl` | {imp['kills']} | {imp['kills_during_writes']} | "
          f"{imp['conversations']} conversations, {imp['messages']} messages "
          f"({imp['completed_runs']} runs finished before their kill; export grown) | "
          f"final {imp['final']}/{imp['messages']}, lost {imp['lost']}, "
          f"duplicated {imp['duplicated']} |")
    if dig:
        print(f"| `memcli digest` (fake LLM) | {dig['kills']} | {dig['during']} | "
              f"{args.digest_conversations} conversations | {dig['derived']} derived items vs "
              f"{dig['reference']} uninterrupted; missing {dig['missing']}, extra {dig['extra']} |")
    else:
        print("| `memcli digest` | – | – | – | not run (no digest command or --digest-kills 0) |")
    print(f"\nAfter every kill: integrity_check ok, no committed message lost, none duplicated, "
          f"no half-written conversation, items = FTS rows = vectors (doctor's full checks "
          f"every {args.full_check_every} kills and at the end): "
          f"{'yes' if not failures else 'NO'} ({len(failures)} failures).\n")
    print(summary)
    for f in failures[:20]:
        print(f"FAIL: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
