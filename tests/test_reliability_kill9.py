"""The short version of benchmarks/kill9.py: SIGKILL the real `memcli import jsonl` (and
`memcli digest`) a few times, resume, and check nothing committed was lost or duplicated."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_kill9_import_and_digest_lose_and_duplicate_nothing(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "kill9.py"), "--kills", "3",
         "--conversations", "150", "--max-delay", "4", "--digest-kills", "1",
         "--digest-conversations", "15", "--full-check-every", "1", "--seed", "7",
         "--keep", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "0 lost, 0 duplicated over" in proc.stdout, proc.stdout
    kills = int(proc.stdout.split("duplicated over ")[1].split()[0])
    assert kills >= 3
    assert "FAIL" not in proc.stdout
