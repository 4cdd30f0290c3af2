"""The state of the database file, told as one line the user can act on: a read-only file (or
its ``-wal``/``-shm``, or the directory), a file owned by someone else, a damaged file.

Damage is remembered: when SQLite reports corruption, or doctor's integrity check fails, a marker
file ``memcli.db-damaged`` is left beside the database and every write is refused until
``memcli doctor --fix`` (or a clean ``memcli doctor``) clears it, so nothing keeps writing into a
broken file. A full check on every open would cost ~65 ms per 30 MB (BENCHMARKS.md); instead
``connect`` runs ``PRAGMA quick_check`` only when it finds the last writer stopped uncleanly (a
non-empty WAL that no running process holds).

Replication is remembered too, while it runs: ``memcli replicate`` holds a lock on
``memcli.db-replicating`` (it and its Litestream child), and a writer that finds the lock held
leaves checkpoints to Litestream (see ``Store.transaction``)."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from memcli.core.errors import MemcliError

# SQLITE_CORRUPT / SQLITE_NOTADB by their messages (the driver's error code is not always there),
# and sqlite-vec reading a damaged vector chunk; never a bare "malformed" (that is also SQLite's
# word for bad JSON text, a plain SQL error)
CORRUPT_WORDS = ("disk image is malformed", "file is not a database", "database corruption",
                 "blob read error")
CORRUPT_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB (primary codes)
READONLY_WORDS = ("readonly", "read-only", "unable to open database file",
                  "attempt to write")
DAMAGE_SUFFIX = "-damaged"
REPLICATING_SUFFIX = "-replicating"


class DatabaseDamaged(MemcliError):
    pass


class DatabaseReadOnly(MemcliError):
    pass


def companions(db: Path) -> list[Path]:
    return [db, Path(f"{db}-wal"), Path(f"{db}-shm")]


def damage_marker(db: Path) -> Path:
    return Path(f"{db}{DAMAGE_SUFFIX}")


def replication_marker(db: Path) -> Path:
    return Path(f"{db}{REPLICATING_SUFFIX}")


@contextmanager
def replicating_lock(db: Path) -> Iterator[int]:
    """Held while Litestream replicates ``db``: an exclusive flock on the marker file. Yields the
    descriptor so the Litestream child can inherit it (the lock then lasts until both have
    exited: Litestream still runs for a moment after a kill -9 of memcli). Raises MemcliError
    when another ``memcli replicate`` already runs on this memory."""
    if os.name != "posix":  # no fcntl: nothing to tell writers
        yield -1
        return
    import fcntl

    fd = os.open(replication_marker(db), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise MemcliError(f"memcli replicate is already running for {db}") from None
        yield fd
    finally:
        os.close(fd)


def replicating(db: Path) -> bool:
    """Whether ``memcli replicate`` (or its Litestream) runs on ``db`` now: the marker's lock
    is held. One stat when it never ran; an open and a lock attempt when the marker exists."""
    if os.name != "posix":
        return False
    import fcntl

    try:
        fd = os.open(replication_marker(db), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # drops a lock it took
    return False


def is_corruption(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in CORRUPT_CODES:
        return True
    return any(w in str(exc).lower() for w in CORRUPT_WORDS)


def is_readonly(exc: BaseException) -> bool:
    return any(w in str(exc).lower() for w in READONLY_WORDS)


def first_line(what: str, width: int = 200) -> str:
    lines = [x for x in str(what).splitlines() if x.strip() and not x.startswith("***")]
    line = lines[0].strip() if lines else "integrity check failed"
    return line if len(line) <= width else line[:width - 1] + "…"


def damaged_message(db: Path, what: str) -> str:
    what = first_line(what)
    return (f"{db} is damaged ({what}); memcli will not write to it. Restore a backup "
            f"(`memcli backup` made one?), or copy out what can still be read with "
            f"`memcli backup --salvage NEW.db` (or `sqlite3 {db} .recover | sqlite3 NEW.db`) and "
            f"use that file; `memcli doctor --fix` may repair index damage")


def _identity(db: Path) -> str | None:
    """Which file ``db`` is (device and inode): a marker left for another file is stale."""
    try:
        st = db.stat()
    except OSError:
        return None
    return f"{st.st_dev}:{st.st_ino}"


def mark_damaged(db: Path, what: str) -> None:
    """Leave the damage marker (best effort: a read-only directory cannot hold it). It names the
    file it was left for, so a restored or salvaged file moved into place is not refused."""
    try:
        fd = os.open(damage_marker(db), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{_identity(db)}\n{first_line(what, 500)}\n")
    except OSError:
        pass


def clear_damaged(db: Path) -> bool:
    try:
        damage_marker(db).unlink()
        return True
    except OSError:  # none, or a read-only directory
        return False


def refuse_if_damaged(db: Path) -> None:
    marker = damage_marker(db)
    if not marker.exists():
        return
    try:
        ident, _, what = marker.read_text(errors="replace").partition("\n")
    except OSError:
        ident, what = "", ""
    if ident.strip() != str(_identity(db)):  # the file was replaced since (restore, salvage)
        clear_damaged(db)
        return
    raise DatabaseDamaged(damaged_message(db, what.strip() or "integrity check failed"))


def unwritable(db: Path) -> str | None:
    """What keeps memcli from writing ``db``: files or a directory it may not write, or files
    owned by another user (None when nothing visible)."""
    me = os.geteuid() if hasattr(os, "geteuid") else None
    foreign, readonly = [], []
    for f in companions(db):
        try:
            st = f.stat()
        except OSError:
            continue
        if me is not None and st.st_uid != me:
            foreign.append((f, st.st_uid))
        elif not os.access(f, os.W_OK):
            readonly.append((f, f"{st.st_mode & 0o777:04o}"))
    if foreign:
        names = " and ".join(f"{f} (uid {uid})" for f, uid in foreign)
        return (f"{names} belong{'s' if len(foreign) == 1 else ''} to another user; run memcli as "
                f"that user or `chown {me} {' '.join(str(f) for f, _ in foreign)}`")
    if readonly:
        names = " and ".join(f"{f} (mode {mode})" for f, mode in readonly)
        extra = ("; SQLite created the -wal/-shm files with the database file's mode while that "
                 "was read-only" if any(f != db for f, _ in readonly) else "")
        verb = "is" if len(readonly) == 1 else "are"
        return (f"{names} {verb} read-only{extra}: "
                f"`chmod 600 {' '.join(str(f) for f, _ in readonly)}`")
    d = db.parent
    if d.exists() and not os.access(d, os.W_OK | os.X_OK):
        return (f"the directory {d} is read-only (SQLite creates {db.name}-wal and -shm beside "
                f"the database): `chmod 700 {d}`")
    return None


def explain(db: Path, exc: BaseException) -> MemcliError | None:
    """A SQLite error as the user's problem with the file (None: not a state problem)."""
    if is_corruption(exc):
        mark_damaged(db, str(exc))
        return DatabaseDamaged(damaged_message(db, str(exc)))
    if is_readonly(exc):
        why = unwritable(db)
        if why:
            return DatabaseReadOnly(f"cannot write the memory database: {why}")
        return DatabaseReadOnly(f"cannot write the memory database {db} ({exc}): check the mode "
                                f"and owner of it, its -wal and -shm files and {db.parent}")
    return None


def unclean(db: Path) -> bool:
    """The last writer stopped without closing: a non-empty WAL that no running process has open
    (every SQLite connection holds a shared lock on the -shm's dead-man-switch byte)."""
    wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
    try:
        if wal.stat().st_size == 0:
            return False
    except OSError:
        return False
    if not sys.platform.startswith("linux"):  # struct flock's layout below is Linux's
        return False
    import fcntl
    import struct

    try:
        fd = os.open(shm, os.O_RDONLY)
    except OSError:
        return True  # a WAL without its index: nobody has it open
    try:
        # F_GETLK for a write lock on byte 128 (SQLite's UNIX_SHM_DMS): F_UNLCK back = no holder
        req = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 128, 1, 0)
        got = fcntl.fcntl(fd, fcntl.F_GETLK, req)
        return struct.unpack("hhqqi", got)[0] == fcntl.F_UNLCK
    except OSError:
        return False
    finally:
        os.close(fd)
