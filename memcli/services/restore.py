"""``memcli restore``: put a backup (or a Litestream replica) in place of the live memory.

The order is what keeps the current memory safe: the candidate is copied next to the live file
and checked there (integrity, a memcli memory, migrations this memcli knows, the configured
embedding model); only then, holding the memory so no other process has or gets it open, the
old file becomes a dated ``.bak`` (0600) and the new one is renamed into place. Any failure
before the rename leaves the live memory exactly as it was.

No Memory is opened here: restore must work on a memory that does not exist yet (a second
device) and must not hold the file it replaces.
"""

from __future__ import annotations

import os
from pathlib import Path

from memcli.core.config import DB_NAME, Config, data_dir, ensure_private_dir
from memcli.core.errors import MemcliError
from memcli.core.timeutil import now_iso


def configured_model(config: Config) -> tuple[str, int]:
    """The configured embedder's (model id, dimension): class attributes, nothing is loaded."""
    from memcli.backends.factory import make_embedder

    e = make_embedder(config.embedding_backend)
    return e.model_id, e.dim


def _stamp() -> str:
    return now_iso()[:19].replace(":", "").replace("-", "") + "Z"


def restore_file(home: str | os.PathLike | None, source: str | os.PathLike, *,
                 label: str | None = None) -> dict:
    """Replace the memory in ``home`` by the memcli database ``source`` (see the module doc).
    Returns what was restored: counts, newest item, where the old memory was kept."""
    from memcli.services.replicate import forget_local_state
    from memcli.store.files import (
        consolidate,
        exclusive,
        inspect_memory,
        remove_with_sidecars,
        stage_copy,
        swap_in,
    )

    source = Path(source).expanduser()
    label = label or str(source)
    if not source.is_file():
        raise MemcliError(f"{label}: no such file")
    home_dir = ensure_private_dir(data_dir(home))
    db = home_dir / DB_NAME
    try:
        if db.exists() and source.resolve() == db.resolve():
            raise MemcliError(f"{label} is the live memory itself")
    except OSError:
        pass
    model = configured_model(Config.load(home))
    staging = home_dir / f".restore-{os.getpid()}.db"
    remove_with_sidecars(staging)
    try:
        stage_copy(source, staging, label)
        info = inspect_memory(staging, label, model=model)
        kept = None
        with exclusive(db):
            if db.exists():
                kept = home_dir / f"{DB_NAME}.{_stamp()}.bak"
                n = 1
                while kept.exists():
                    n += 1
                    kept = home_dir / f"{DB_NAME}.{_stamp()}-{n}.bak"
            swap_in(db, staging, kept)
            forget_local_state(db)
        if kept is not None:
            consolidate(kept)
    finally:
        remove_with_sidecars(staging)
    info.update({"restored_from": label, "database": str(db),
                 "previous": str(kept) if kept else None})
    return info


def restore_replica(home: str | os.PathLike | None, url: str) -> dict:
    """``memcli restore --from URL``: fetch the newest state of a Litestream replica into a
    private temporary file, then restore it like a backup file."""
    from memcli.services.replicate import fetch_replica
    from memcli.store.files import remove_with_sidecars

    home_dir = ensure_private_dir(data_dir(home))
    tmp = home_dir / f".replica-{os.getpid()}.db"
    remove_with_sidecars(tmp)
    try:
        fetch_replica(url, tmp)
        return restore_file(home, tmp, label=url)
    finally:
        remove_with_sidecars(tmp)
