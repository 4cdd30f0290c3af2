"""Open the SQLite file with a sqlite3 that can load sqlite-vec.

The pyenv Pythons (and macOS's system Python) build sqlite3 without extension loading, so we prefer
``pysqlite3`` (pysqlite3-binary wheel on Linux), then ``sqlean`` (sqlean.py), then the stdlib module.
"""

from __future__ import annotations

import os
from pathlib import Path

import memcli.store.state as state
from memcli.core.errors import MemcliError


def sqlite_module():
    for name in ("pysqlite3.dbapi2", "sqlean.dbapi2", "sqlite3"):
        try:
            mod = __import__(name, fromlist=["connect"])
        except ImportError:
            continue
        if hasattr(mod.Connection, "enable_load_extension"):
            return mod
    raise MemcliError(
        "this Python's sqlite3 cannot load extensions; install pysqlite3-binary (Linux) or sqlean.py"
    )


def retry_locked(fn, *, timeout: float = 60.0):
    """Run ``fn()``, retrying while SQLite reports the file locked/busy.

    busy_timeout covers most waits, but SQLite answers SQLITE_BUSY at once where waiting could
    deadlock (a read transaction upgrading to write, switching to WAL while another process opens
    the file) — which is what happens when several processes create the same new memory at once."""
    import random
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except Exception as exc:
            text = str(exc).lower()
            if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                raise
            time.sleep(0.02 + random.random() * 0.08)


def connect(path: str | os.PathLike, *, readonly: bool = False):
    """Return a connection with sqlite-vec loaded, WAL on and a busy timeout set."""
    sqlite3 = sqlite_module()
    p = Path(path)
    new = str(p) == ":memory:" or (not readonly and not p.exists())
    if str(p) != ":memory:" and not readonly and not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o600)  # private from the first byte
        os.close(fd)
    uri = f"file:{p}?mode=ro" if readonly else str(p)
    check = not readonly and not new and state.unclean(p)  # before we hold the file ourselves
    try:
        conn = sqlite3.connect(uri, uri=readonly, timeout=30.0, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error as exc:
        raise state.explain(p, exc) or MemcliError(f"cannot open database {p}: {exc}") from None
    import sqlite_vec

    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.enable_load_extension(False)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        if not readonly:
            # forget means gone: deleted rows and freed pages are overwritten with zeros, and a
            # new file gives freed pages back (`forget` runs an incremental vacuum)
            conn.execute("PRAGMA secure_delete = ON")
            if new:
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        if check:  # the last writer stopped uncleanly: is the file still sound?
            bad = [r[0] for r in conn.execute("PRAGMA quick_check(5)") if r[0] != "ok"]
            if bad:
                state.mark_damaged(p, "quick_check: " + "; ".join(bad))
    except sqlite3.DatabaseError as exc:
        conn.close()
        if state.is_corruption(exc) and "not a database" not in str(exc):
            raise state.explain(p, exc) from None
        raise state.explain(p, exc) if state.is_readonly(exc) else \
            MemcliError(f"{p} is not a memcli database ({exc}): if it was one, it is damaged: "
                        f"restore a backup or try `memcli backup --salvage NEW.db`") from None
    return conn
