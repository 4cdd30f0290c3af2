"""Crash safety of replication: SIGKILL `memcli replicate` (alone, or with its Litestream) and a
writer (`memcli import jsonl`, a long export) at random moments, then restore the replica into a
fresh home and prove nothing committed before the last completed sync was lost and nothing was
duplicated.

    .venv/bin/python benchmarks/kill9_replica.py                     # 12 kills
    .venv/bin/python benchmarks/kill9_replica.py --kills 4 --conversations 300 --restore-every 2

A *watermark* is taken after every kill: the messages committed in the live memory at that
moment, and Litestream's local transaction id L then. A sync that started after the watermark
has shipped transaction L+2 or later (syncs run one after another), so once the replica holds
L+2 the watermark is *confirmed*. Every ``--restore-every`` kills, and at the end (after a last
kill -9 of everything, so no shutdown sync helps), `memcli restore --from` brings the replica into
a new home, where: ``PRAGMA integrity_check`` is ok; every message of the newest confirmed
watermark is there; no key, (conversation, message id) pair or conversation appears twice; no
conversation is half there; items = FTS rows = vectors; `doctor`'s checks pass. Exit status 1 if
any check fails. Uses the hashed embedder and the fake LLM.
"""

from __future__ import annotations

import argparse
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.kill9 import MEMCLI, Checker, env_for, log, write_export  # noqa: E402


def committed_keys(home: Path) -> set[str]:
    from memcli.store import connection as dbmod

    db = home / "memcli.db"
    if not db.exists():
        return set()
    conn = dbmod.connect(db)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'items'").fetchone():
            return set()
        return {r[0] for r in conn.execute(
            "SELECT key FROM items WHERE source = 'jsonl' AND kind = 'message'")}
    finally:
        conn.close()


def txid(value) -> int:
    return int(value, 16) if value else 0


def local_txid(home: Path) -> int:
    """Litestream's local transaction id for the memory (its bookkeeping beside the file)."""
    import json

    from memcli.services.replicate import litestream_bin

    proc = subprocess.run([str(litestream_bin()), "status", "-json", "-config",
                           str(home / "litestream.yml")], capture_output=True, text=True)
    try:
        rows = json.loads(proc.stdout or "[]")
    except ValueError:
        return 0
    return max((txid(r.get("local_txid")) for r in rows), default=0)


def replica_txid(url: str) -> int:
    from memcli.core.errors import MemcliError
    from memcli.services.replicate import replica_state

    try:
        return txid(replica_state(url)["txid"])
    except MemcliError:
        return 0


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def kill9(proc: subprocess.Popen, with_children: bool = False) -> None:
    if with_children:
        for child in children(proc.pid):
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class Run:
    def __init__(self, args, work: Path, rng: random.Random):
        self.args, self.rng = args, rng
        self.home, self.url = work / "home", f"file://{work / 'replica'}"
        self.export = work / "export.jsonl"
        self.expected: dict[str, int] = {}
        write_export(self.export, 0, args.conversations, args.messages, rng, self.expected)
        self.env = env_for(self.home)
        self.writer = self.replicator = None
        self.watermarks: list[tuple[int, set[str]]] = []  # (L, keys), oldest first
        self.confirmed: set[str] = set()
        self.failures: list[str] = []
        self.restores = []
        self.kills = {"writer": 0, "replicate": 0, "replicate+litestream": 0}
        self.grown = 0
        self.markers = 0
        self.mid_import = 0  # writer kills that interrupted a running import
        self.last_local, self.local_since = 0, time.monotonic()

    def start_writer(self) -> None:
        # --no-digest: the writer is the import itself, start to end (and restarted)
        self.writer = subprocess.Popen([*MEMCLI, "import", "jsonl", str(self.export), "--no-digest"],
                                       env=self.env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)

    def start_replicator(self) -> None:
        self.replicator = subprocess.Popen([*MEMCLI, "replicate", self.url], env=self.env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def keep_writing(self) -> None:
        """A writer that finished: the user exports again, with new chats appended."""
        if self.writer.poll() is None:
            return
        if self.writer.returncode == 0:
            write_export(self.export, len(self.expected), max(50, self.args.conversations // 4),
                         self.args.messages, self.rng, self.expected)
            self.grown += 1
        self.start_writer()

    def watermark(self) -> None:
        keys = committed_keys(self.home)
        self.watermarks.append((local_txid(self.home), keys))

    def confirm(self) -> None:
        shipped = replica_txid(self.url)
        while self.watermarks and shipped >= self.watermarks[0][0] + 2:
            self.confirmed = self.watermarks.pop(0)[1]
        if not self.watermarks:
            return
        # L+2 needs two syncs that found new frames: when the writer is between commits (its
        # digest thinking, a restart re-reading the export), the harness commits a marker note
        local = local_txid(self.home)
        if local != self.last_local:
            self.last_local, self.local_since = local, time.monotonic()
        elif time.monotonic() - self.local_since > 1.5:
            self.markers += 1
            subprocess.run([*MEMCLI, "add", f"marker {self.markers}", "--no-digest"],
                           env=self.env, capture_output=True)
            self.local_since = time.monotonic()

    def wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(0.1)
            self.keep_writing()
            if self.replicator.poll() is not None:  # it must not die on its own
                self.failures.append(f"memcli replicate exited ({self.replicator.returncode})")
                self.start_replicator()
            self.confirm()

    def check_restore(self, label: str) -> None:
        target = self.home.parent / f"restored-{len(self.restores)}"
        want = set(self.confirmed)
        proc = subprocess.run([*MEMCLI, "--home", str(target), "restore", "--from", self.url],
                              env=env_for(target), capture_output=True, text=True)
        if proc.returncode != 0:
            self.failures.append(f"{label}: restore failed: {proc.stderr.strip()[-300:]}")
            return
        checker = Checker(target)
        checker.committed = set(want)  # check() adds what it finds to this set
        n = checker.check(self.expected, label, full=True)
        self.failures += checker.failures
        self.restores.append({"label": label, "restored": n, "confirmed": len(want),
                              "lost": checker.lost, "duplicated": checker.duplicated})
        log(f"{label}: restored {n} messages; {len(want)} confirmed before; "
            f"lost {checker.lost}, duplicated {checker.duplicated}")
        shutil.rmtree(target, ignore_errors=True)

    def go(self) -> None:
        self.start_replicator()
        self.start_writer()
        self.wait(2.0)
        total = self.args.kills
        for k in range(1, total + 1):
            self.wait(self.rng.uniform(self.args.min_delay, self.args.max_delay))
            # every other kill hits the writer; the others alternate between memcli replicate
            # alone (its Litestream gets SIGTERM from its parent's death) and both at once
            target = "writer" if k % 2 else ("replicate" if k % 4 == 2 else "replicate+litestream")
            if target == "writer":
                if self.writer.poll() is None:
                    kill9(self.writer)
                    self.mid_import += 1
                self.start_writer()
            else:
                kill9(self.replicator, with_children=target == "replicate+litestream")
                time.sleep(0.3)  # Litestream (SIGTERM from its parent's death) lets go
                self.start_replicator()
            self.kills[target] += 1
            self.watermark()
            log(f"kill {k:>2}/{total} ({target}): {len(self.watermarks[-1][1])} messages "
                f"committed; {len(self.confirmed)} confirmed on the replica")
            if k % self.args.restore_every == 0 and k < total:
                self.check_restore(f"restore after kill {k}")
        # the end: wait for the newest watermark to be confirmed, then kill -9 everything
        deadline = time.monotonic() + 60
        while self.watermarks and time.monotonic() < deadline:
            self.wait(0.5)
        if self.watermarks:
            self.failures.append("the newest watermark was never confirmed by the replica")
        kill9(self.writer)
        kill9(self.replicator, with_children=True)
        self.check_restore("final restore (after kill -9 of writer, replicate and Litestream)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=12, help="SIGKILLs (≥ 10)")
    ap.add_argument("--conversations", type=int, default=2500)
    ap.add_argument("--messages", type=int, default=10, help="mean messages per conversation")
    ap.add_argument("--min-delay", type=float, default=0.5)
    ap.add_argument("--max-delay", type=float, default=5.0)
    ap.add_argument("--restore-every", type=int, default=4)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", type=Path, default=None, help="work here and keep the files")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    work = args.keep or Path(tempfile.mkdtemp(prefix="memcli-kill9-replica-"))
    work.mkdir(parents=True, exist_ok=True)
    run = Run(args, work, random.Random(seed))
    t0 = time.perf_counter()
    try:
        run.go()
    finally:
        for proc in (run.writer, run.replicator):
            if proc is not None and proc.poll() is None:
                kill9(proc, with_children=True)
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    secs = time.perf_counter() - t0
    cmd = shlex.join([Path(sys.executable).name, "benchmarks/kill9_replica.py",
                      *(argv if argv is not None else sys.argv[1:])])
    lost = sum(r["lost"] for r in run.restores)
    dup = sum(r["duplicated"] for r in run.restores)
    print("### Crash safety of replication: kill -9 of `memcli replicate` and of a writer\n")
    print(f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"- command: `{cmd}` (seed {seed}; MEMCLI_EMBEDDER=hash, MEMCLI_LLM=fake; "
          f"{secs:.0f} s)\n")
    print(f"- kills: {sum(run.kills.values())} ({', '.join(f'{v} {k}' for k, v in run.kills.items())})"
          f"; {run.mid_import} of the writer kills interrupted a running import"
          f"; export {len(run.expected)} conversations, {sum(run.expected.values())} messages "
          f"(grown {run.grown} times); {run.markers} marker notes committed by the harness\n")
    print("| restore | messages restored | confirmed before it | lost | duplicated |")
    print("|---|---|---|---|---|")
    for r in run.restores:
        print(f"| {r['label']} | {r['restored']} | {r['confirmed']} | {r['lost']} | "
              f"{r['duplicated']} |")
    print(f"\nEvery restore: integrity_check ok, every confirmed message there, none duplicated, "
          f"no half conversation, items = FTS rows = vectors, doctor's checks: "
          f"{'yes' if not run.failures else 'NO'} ({len(run.failures)} failures; {lost} lost, "
          f"{dup} duplicated).")
    for f in run.failures[:20]:
        print(f"FAIL: {f}")
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
