"""A 50 MB note through the real CLI: `memcli add -` (the default embedder, a prepared model cache)
in a fresh home, timed, with the peak memory of that process; then `memcli ask` on a fact
planted in the middle must cite the section that holds it. Also: a 300 MB message inside a small
zip must be refused at the message limit within seconds (`memcli import chatgpt`).

    .venv/bin/python benchmarks/bench_big_note.py [--mb 50] [--zip-mb 300] [--no-digest]

`memcli add` runs with its default flags: a note over 1 MB is not digested on add (that would take
minutes; `memcli digest` does it), so ``--no-digest`` changes nothing for the 50 MB note.

Targets (issue 16): the add under 60 s with peak RSS under 1 GB; the zip refused in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_import import sentence
from common import header, table

SCRIPT = Path(sys.executable).with_name("memcli")
MEMCLI = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-c",
                                                 "from memcli.main import run; run()"]
FACT = "The spare key to the boathouse is taped under the third step, said Ingrid."
QUESTION = "where is the spare key to the boathouse?"


def big_note(mb: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    paras, size, target = [], 0, mb * 1024 * 1024
    while size < target:
        p = " ".join(sentence(rng, rng.randint(8, 20)) for _ in range(rng.randint(2, 6)))
        paras.append(p)
        size += len(p) + 2
    paras.insert(len(paras) // 2, FACT)
    return "\n\n".join(paras).encode()


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def run(args: list[str], env: dict, data: bytes | None = None) -> tuple[float, float, object]:
    """(seconds, peak RSS MiB of the child, CompletedProcess): one process at a time, so the
    children's maxrss is this one's (RUSAGE_CHILDREN keeps the largest child). The child's CPU
    seconds go to ``run.cpu``: on a shared machine they say what the wall time would be idle."""
    started, cpu = time.perf_counter(), _cpu()
    proc = subprocess.run([*MEMCLI, *args], input=data, env=env, capture_output=True,
                          timeout=1800)
    seconds = time.perf_counter() - started
    run.cpu = _cpu() - cpu
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak, proc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--zip-mb", type=int, default=300)
    ap.add_argument("--no-digest", action="store_true", help="Pass --no-digest to `add`.")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, MEMCLI_HOME=str(Path(tmp) / "home"))
        env.pop("MEMCLI_EMBEDDER", None)
        warm = subprocess.run([*MEMCLI, "stats"], env=dict(env, MEMCLI_HOME=str(Path(tmp) / "w")),
                              capture_output=True)  # the start-up cost is not the note's
        assert warm.returncode == 0, warm.stderr
        note = big_note(args.mb)
        extra = ["--no-digest"] if args.no_digest else []
        seconds, peak, proc = run(["add", "-", "--title", "Big log", "--json", *extra], env, note)
        if proc.returncode:
            print(proc.stderr.decode()[-2000:], file=sys.stderr)
            return 1
        ids = json.loads(proc.stdout).get("ids") or [json.loads(proc.stdout)["id"]]
        label = f"`memcli add -{' --no-digest' if args.no_digest else ''}` " \
                f"{len(note) / 2**20:.1f} MB note"
        rows.append((label, f"{seconds:.1f}", f"{run.cpu:.1f}", f"{peak:.0f}",
                     f"{len(ids)} sections"))
        seconds, _, proc = run(["ask", QUESTION, "--json"], env)
        answer = json.loads(proc.stdout)
        holder = [c for c in answer["citations"] if "boathouse" in c["text"]]
        rows.append(("`memcli ask` on the planted fact", f"{seconds:.1f}", f"{run.cpu:.1f}", "",
                     "cites the section that holds it" if holder else "MISSED the section"))
        # a 300 MB message in a small zip
        z = Path(tmp) / "export.zip"
        with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
            with zf.open("conversations.json", "w") as f:
                f.write(b'[{"id": "c1", "title": "t", "current_node": "a", "mapping": {"a": '
                        b'{"id": "a", "parent": null, "children": [], "message": {"id": "a", '
                        b'"author": {"role": "user"}, "content": {"content_type": "text", '
                        b'"parts": ["')
                chunk = b"y" * (1 << 20)
                for _ in range(args.zip_mb):
                    f.write(chunk)
                f.write(b'"]}}}}]')
        seconds, _, proc = run(["import", "chatgpt", str(z)], env)
        err = proc.stderr.decode().strip()
        rows.append((f"`memcli import chatgpt` {z.stat().st_size // 1024} KB zip holding a "
                     f"{args.zip_mb} MB message", f"{seconds:.1f}", f"{run.cpu:.1f}", "",
                     f"exit {proc.returncode}: {err[:90]}"))
    print(header("A big note and a huge message (issue 16)", argv))
    print(table(["case", "wall s", "CPU s", "peak RSS MiB", "result"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
