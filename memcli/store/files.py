"""The memory as files: checking a database file before it replaces the live one, telling
whether another process has the memory open, and swapping a new file in atomically.

SQLite facts this module relies on (unix VFS): every connection to a WAL database holds a shared
POSIX lock on one byte of the ``-shm`` file (the "DMS" byte, offset 128) for as long as it is
open, and a new connection that can take neither that lock nor a shared one reports
SQLITE_BUSY. A process that holds the byte exclusively therefore knows nobody else has the
memory open, and keeps anyone from opening it until it lets go. POSIX locks are per process:
callers must hold no SQLite connection of their own on the file while they use this.
"""

from __future__ import annotations

import os
import shutil
import struct
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from memcli.core.errors import MemcliError
from memcli.store.connection import connect
from memcli.store.migrations import SET as MIGRATION_SET, STEPS

HEADER = b"SQLite format 3\x00"
DMS_BYTE = 128  # UNIX_SHM_DMS in SQLite's os_unix.c: (22 + 8) * 4 + 8
REQUIRED_TABLES = ("meta", "items", "conversations", "items_fts")


def sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def drop_sidecars(path: Path) -> None:
    """Remove the -wal and -shm files of a database nobody has open."""
    for suffix in ("-wal", "-shm"):
        try:
            sidecar(path, suffix).unlink()
        except FileNotFoundError:
            pass


def _header_problem(path: Path) -> str | None:
    """Why ``path`` is not a whole SQLite file, from its 100-byte header (None: it looks whole)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(100)
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    if len(head) < 100 or not head.startswith(HEADER):
        return "not an SQLite database"
    page_size = struct.unpack(">H", head[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    pages = struct.unpack(">I", head[28:32])[0]
    valid_for, change = head[92:96], head[24:28]
    if pages and valid_for == change and size < pages * page_size:
        return f"truncated: {size} of {pages * page_size} bytes"
    return None


def remove_with_sidecars(path: Path) -> None:
    """Delete a (temporary) database file and its -wal, -shm and -journal."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            sidecar(path, suffix).unlink()
        except FileNotFoundError:
            pass


def stage_copy(src: Path, dest: Path, label: str | None = None) -> None:
    """Copy ``src`` (and its ``-wal``, whose committed transactions belong to it) to ``dest``,
    private (0600). Raises MemcliError (naming ``label``) when ``src`` is not a whole SQLite
    file."""
    problem = _header_problem(src)
    if problem:
        raise MemcliError(f"{label or src}: {problem}")
    for suffix in ("", "-wal"):
        s, d = sidecar(src, suffix), sidecar(dest, suffix)
        if not s.exists():
            continue
        fd = os.open(d, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as out, open(s, "rb") as f:
            shutil.copyfileobj(f, out, 1 << 20)


def inspect_memory(path: Path, label: str, *, model: tuple[str, int] | None) -> dict:
    """Check a private copy of a memory (``stage_copy``): SQLite's integrity, that it is a memcli
    memory whose migrations this memcli knows, and (``model``: the configured embedder's id and
    dimension) that its vectors were made by that model. Leaves it checkpointed, one file.
    Returns its counts and newest item; raises MemcliError naming ``label`` otherwise."""
    try:
        conn = connect(path)
    except MemcliError as exc:
        raise MemcliError(f"{label}: {exc}") from None
    try:
        return _inspect(conn, label, model)
    except MemcliError:
        raise
    except Exception as exc:  # noqa: BLE001 - SQLite's own words for a damaged file
        raise MemcliError(f"{label}: damaged or not a memcli database ({exc})") from None
    finally:
        conn.close()
        drop_sidecars(path)


def _inspect(conn, label: str, model) -> dict:
    errors = [r[0] for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
    if errors:
        raise MemcliError(f"{label}: damaged (integrity_check: {errors[0]})")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "_sqlite_migrations" not in tables or not set(REQUIRED_TABLES) <= tables:
        raise MemcliError(f"{label}: an SQLite database, but not a memcli memory")
    applied = [r[0] for r in conn.execute(
        "SELECT name FROM _sqlite_migrations WHERE migration_set = ? ORDER BY rowid",
        (MIGRATION_SET,))]
    if not applied:
        raise MemcliError(f"{label}: an SQLite database, but not a memcli memory")
    known = {fn.__name__ for fn in STEPS}
    unknown = [n for n in applied if n not in known]
    if unknown:
        raise MemcliError(f"{label}: made by a newer memcli (schema step {unknown[0]} is unknown "
                          "to this version); upgrade memcli to restore it")
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    stored = meta.get("embedding_model")
    if model and stored and (stored != model[0] or meta.get("embedding_dim") != str(model[1])):
        raise MemcliError(
            f"{label}: indexed with {stored} ({meta.get('embedding_dim')} dims) but memcli is "
            f"configured for {model[0]} ({model[1]} dims); set [embedding] backend to match first")
    counts = {"conversations": conn.execute("SELECT count(*) FROM conversations").fetchone()[0]}
    by_kind = dict(conn.execute("SELECT kind, count(*) FROM items GROUP BY kind"))
    counts["messages"] = by_kind.get("message", 0)
    counts["notes"] = sum(v for k, v in by_kind.items() if k != "message")
    counts["items"] = sum(by_kind.values())
    row = conn.execute("SELECT id, kind, created_at, text FROM items "
                       "ORDER BY created_at DESC, id DESC LIMIT 1").fetchone()
    newest = dict(zip(("id", "kind", "created_at", "text"), row)) if row else None
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"counts": counts, "newest": newest, "migrations": applied,
            "embedding_model": stored, "pending_migrations": sorted(known - set(applied))}


@contextmanager
def exclusive(db: Path) -> Iterator[None]:
    """Hold the memory's files so that no other process has or gets it open; raise MemcliError
    at once if one has it open now (``memcli chat``, ``mcp``, an import, ``replicate``)."""
    if os.name != "posix":  # no fcntl: trust the user
        yield
        return
    import fcntl

    shm = sidecar(db, "-shm")
    created = not shm.exists()
    fd = os.open(shm, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, DMS_BYTE)
        except OSError:
            raise MemcliError(
                f"the memory {db} is open in another process (memcli chat, memcli mcp, an import "
                "or memcli replicate?); close it and try again") from None
        yield
    finally:
        os.close(fd)  # drops the lock
        if created:
            try:
                shm.unlink()
            except FileNotFoundError:
                pass


def swap_in(db: Path, new: Path, keep_as: Path | None) -> None:
    """Replace ``db`` by ``new`` atomically, inside ``exclusive(db)``. The old database (with the
    committed transactions still in its ``-wal``) stays as ``keep_as`` (0600) when given; its
    ``-wal``/``-shm`` never meet the new file."""
    wal = sidecar(db, "-wal")
    if db.exists() and keep_as is not None:
        if wal.exists():
            os.replace(wal, sidecar(keep_as, "-wal"))
        os.link(db, keep_as)
    elif wal.exists():
        wal.unlink()
    os.replace(new, db)
    try:
        sidecar(db, "-journal").unlink()  # a hot journal of the old file would roll the new one back
    except FileNotFoundError:
        pass
    os.chmod(db, 0o600)


def consolidate(path: Path) -> None:
    """Fold a kept database's ``-wal`` into it and leave it one private file (journal DELETE)."""
    conn = connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()
    drop_sidecars(path)
    os.chmod(path, 0o600)
