"""Keeping a memory safe: ``backup`` (SQLite online backup) and ``doctor`` (find and repair
inconsistencies between items, the FTS index, the vectors and the link tables).

Library code: no SQL here (the Store runs it), no typer. The CLI shell is cli_maint.py.
"""

from __future__ import annotations

import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from memcli.core.errors import MemcliError, is_database_error
from memcli.core.timeutil import now_iso

SAMPLE = 5  # ids shown per problem line


@dataclass
class Problem:
    check: str  # integrity | fts | vectors | model | orphans | permissions | replica
    message: str
    count: int = 1
    fixable: bool = True
    ids: list = field(default_factory=list)

    def line(self) -> str:
        return f"{self.check}: {self.message}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    checked: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {"ok": self.ok, "problems": [asdict(p) for p in self.problems],
                "fixed": self.fixed, "checked": self.checked}


def _ids(ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:SAMPLE])
    return shown + (f", … (+{len(ids) - SAMPLE})" if len(ids) > SAMPLE else "")


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


# ---- checks ------------------------------------------------------------------------------------
def _check_permissions(memory) -> list[Problem]:
    if os.name != "posix":
        return []
    out = []
    home = Path(memory.home)
    mode = _mode(home)
    if mode is not None and mode & 0o077:
        out.append(Problem("permissions", f"data directory {home} is {oct(mode)}, should be 0o700",
                           ids=[str(home)]))
    db = Path(memory.db_path)
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        mode = _mode(path)
        if mode is not None and mode & 0o077:
            out.append(Problem("permissions", f"{path.name} is {oct(mode)}, should be 0o600",
                               ids=[str(path)]))
    return out


def _check_model(memory, embedder) -> list[Problem]:
    store = memory.store
    out = []
    stored = store.vector_model()
    if store.has_vec_table():
        table_dim = store.vec_table_dim()
        if stored is None:
            out.append(Problem("model", "the vector table exists but no embedding model is recorded;"
                               " run `memcli reindex`", fixable=False))
        elif table_dim is not None and table_dim != stored[1]:
            out.append(Problem("model", f"the vector table holds {table_dim}-dim vectors but the "
                               f"recorded model {stored[0]} has {stored[1]}; run `memcli reindex`",
                               fixable=False))
    if stored is not None and embedder is not None and stored != (embedder.model_id, embedder.dim):
        out.append(Problem(
            "model", f"memory was indexed with {stored[0]} ({stored[1]} dims) but the configured "
            f"embedder is {embedder.model_id} ({embedder.dim} dims); run `memcli reindex`",
            fixable=False))
    return out


def diagnose(memory, *, embedder=None) -> Report:
    """Run every check; ``embedder`` (the configured one) enables the model-mismatch check."""
    store = memory.store
    report = Report()
    errors = store.integrity_errors()
    report.checked["integrity_check"] = "ok" if not errors else f"{len(errors)} errors"
    if errors:  # writes are refused until doctor --fix repairs it (store/state.py)
        store.mark_damaged("integrity_check: " + errors[0])
    elif store.is_marked_damaged() and store.clear_damaged():
        report.checked["damage_marker"] = "cleared: integrity_check ok"
    for err in errors[:SAMPLE]:
        report.problems.append(Problem("integrity", err, fixable=True))
    if len(errors) > SAMPLE:
        report.problems.append(Problem("integrity", f"… and {len(errors) - SAMPLE} more "
                                       "integrity_check errors", count=len(errors) - SAMPLE))
    if errors:
        report.problems.append(Problem(
            "integrity", f"{memory.db_path} is damaged: memcli refuses to write to it until it is "
            "repaired; if `memcli doctor --fix` cannot, restore a backup or copy out what can "
            "still be read with `memcli backup --salvage NEW.db` (or `sqlite3 "
            f"{memory.db_path} .recover`)", fixable=False))
    try:
        _consistency(memory, embedder, report)
    except Exception as exc:  # a damaged file can make the consistency queries fail
        if not is_database_error(exc):
            raise
        report.problems.append(Problem("integrity", f"consistency checks could not run: {exc}"))
    report.problems += _check_permissions(memory)
    why = store.unwritable()
    if why:
        report.problems.append(Problem("permissions", f"memcli cannot write the memory: {why}",
                                       fixable=False))
    return report


def _add(report: Report, check: str, found: dict[str, list[int]], texts: dict[str, str],
         fixable=lambda what: True) -> None:
    """One problem line per non-empty list of ``found`` (e.g. missing/extra/stale ids)."""
    for what, text in texts.items():
        ids = found[what]
        if ids:
            report.problems.append(Problem(check, f"{len(ids)} {text} ({_ids(ids)})",
                                           count=len(ids), ids=ids, fixable=fixable(what)))


def _consistency(memory, embedder, report: Report) -> None:
    store = memory.store
    model_problems = _check_model(memory, embedder)
    report.problems += model_problems

    _add(report, "fts", store.fts_inconsistencies(),
         {"missing": "items have no full-text row", "extra": "full-text rows belong to no item",
          "stale": "full-text rows differ from their item"})
    _add(report, "fts", store.gram_inconsistencies(),
         {"missing": "items have no gram-index row (CJK and other unsegmented scripts)",
          "extra": "gram-index rows belong to no such item"})
    _add(report, "vectors", store.vec_inconsistencies(),
         {"missing": "items have no vector", "extra": "vectors belong to no item",
          "stale": "vectors carry stale kind/source/date columns"},
         fixable=lambda what: not model_problems or what == "extra")
    _add(report, "vectors", store.coarse_inconsistencies(),
         {"missing": "vectors are missing from the coarse index",
          "extra": "coarse index entries belong to no vector"})

    orphans = store.foreign_key_orphans()
    by_table: dict[tuple, list] = {}
    for o in orphans:
        by_table.setdefault((o["table"], o["column"], o["parent"]), []).append(o["rowid"])
    for (table, column, parent), rowids in by_table.items():
        report.problems.append(Problem(
            "orphans", f"{len(rowids)} {table} rows point to missing {parent} rows"
            f" ({column}; rowids {_ids(rowids)})", count=len(rowids), ids=rowids))

    counts = store.counts()
    report.checked.update({"items": counts["items"], "fts_rows": counts["fts_rows"],
                           "vectors": counts["vectors"],
                           "embedding_model": counts["embedding_model"]})


# ---- repairs -----------------------------------------------------------------------------------
def _fix_permissions(memory, fixed: list[str]) -> None:
    if os.name != "posix":
        return
    db = Path(memory.db_path)
    for path, want in ((Path(memory.home), 0o700), (db, 0o600), (Path(f"{db}-wal"), 0o600),
                       (Path(f"{db}-shm"), 0o600)):
        mode = _mode(path)
        if mode is not None and mode & 0o077:
            os.chmod(path, want)
            fixed.append(f"permissions: {path.name} set to {oct(want)}")


def repair(memory, *, embedder=None) -> Report:
    """Diagnose, repair what can be repaired, diagnose again. Returns the final report with
    ``fixed`` listing what was done; problems that remain are in ``problems``."""
    from memcli.services.memory import embed_text

    store = memory.store
    before = diagnose(memory, embedder=embedder)
    fixed: list[str] = []
    kinds = {p.check for p in before.problems}

    if "integrity" in kinds:  # rebuild b-tree indexes and the FTS index from their content
        store.clear_damaged()  # the repairs must write; the check afterwards marks it again
        store.reindex_btrees()
        store.rebuild_fts()
        fixed.append("integrity: rebuilt SQL indexes (REINDEX) and the full-text index")

    with store.transaction():
        orphans = store.foreign_key_orphans()
        done: dict[str, int] = {}
        for o in orphans:
            how = store.fix_orphan(o["table"], o["rowid"], o["column"], o["on_delete"])
            done[f"{how} {o['table']}"] = done.get(f"{how} {o['table']}", 0) + 1
        for what, n in done.items():
            fixed.append(f"orphans: {what}: {n} rows")

        fts = store.fts_inconsistencies()
        todo = fts["missing"] + fts["extra"] + fts["stale"]
        if todo:
            store.rewrite_fts(todo)
            fixed.append(f"fts: rewrote {len(fts['missing'])} missing, removed {len(fts['extra'])}"
                         f" extra, refreshed {len(fts['stale'])} stale full-text rows")
        grams = store.gram_inconsistencies()
        if grams["missing"] or grams["extra"]:
            store.rewrite_fts(grams["missing"] + grams["extra"])
            fixed.append(f"fts: rewrote {len(grams['missing'])} missing and removed "
                         f"{len(grams['extra'])} extra gram-index rows")

    vec = store.vec_inconsistencies()
    if vec["extra"] and store.has_vec_table():
        with store.transaction():
            store.delete_vectors(vec["extra"])
        fixed.append(f"vectors: deleted {len(vec['extra'])} vectors of missing items")
    model_ok = not _check_model(memory, embedder)
    redo = vec["missing"] + vec["stale"]
    if redo and model_ok and embedder is not None:
        store.ensure_vector_index(embedder.model_id, embedder.dim)
        done_n = 0
        for start in range(0, len(redo), 256):
            rows = store.items_for_embedding(redo[start:start + 256])
            vecs = embedder.embed([embed_text(r["title"], r["text"], r["role"]) for r in rows])
            with store.transaction():  # short transactions: other writers keep going
                store.put_vectors((r["id"], v) for r, v in zip(rows, vecs))
            done_n += len(rows)
        fixed.append(f"vectors: embedded {done_n} items with {embedder.model_id}")

    coarse = store.coarse_inconsistencies()
    if coarse["missing"] or coarse["extra"]:
        with store.transaction():
            store.rebuild_coarse(coarse["missing"], coarse["extra"])
        fixed.append(f"vectors: coarse index: derived {len(coarse['missing'])} missing and "
                     f"dropped {len(coarse['extra'])} extra entries")

    _fix_permissions(memory, fixed)
    after = diagnose(memory, embedder=embedder)
    after.fixed = fixed
    after.checked["fixed_at"] = now_iso()
    return after


def doctor(memory, *, fix: bool = False) -> Report:
    """``memcli doctor``: diagnose (and with ``fix`` repair) with the configured embedder. An
    embedder that cannot be loaded is reported as a problem; the other checks still run."""
    try:
        embedder, why = memory.embedder, None
    except MemcliError as exc:
        embedder, why = None, str(exc)
    except Exception as exc:  # noqa: BLE001 - a missing/broken model must not stop the other checks
        embedder, why = None, f"{type(exc).__name__}: {exc}"
    report = repair(memory, embedder=embedder) if fix else diagnose(memory, embedder=embedder)
    if why:
        report.problems.append(Problem("model", f"cannot load the configured embedder: {why}",
                                       fixable=False))
    if memory.config.replica_url:
        _check_replica(memory.config.replica_url, memory.db_path, report)
    return report


def _check_replica(url: str, db, report: Report) -> None:
    """The configured Litestream replica ([replica] url): readable, how far it goes, and
    whether `memcli replicate` runs on this memory now."""
    from memcli.services.replicate import replica_state
    from memcli.store.state import replicating

    try:
        state = replica_state(url)
    except MemcliError as exc:
        report.problems.append(Problem("replica", str(exc), fixable=False))
        return
    report.checked["replica"] = {"url": url, **state, "running": replicating(Path(db))}
    if not state["txid"]:
        report.problems.append(Problem("replica", f"the replica {url} holds nothing yet; run "
                                       "`memcli replicate`", fixable=False))


# ---- the file's state ----------------------------------------------------------------------------
def database_problem(home, exc: BaseException) -> str:
    """A SQLite error that reached a front end, as one line naming the file and what to do (a
    read-only or damaged file, see memcli/store/state.py), else ``database: <error>``."""
    from memcli.core.config import DB_NAME, data_dir
    from memcli.store.state import explain

    told = explain(data_dir(home) / DB_NAME, exc)
    return str(told) if told is not None else f"database: {exc}"


def salvage(home, dest: str | os.PathLike) -> dict:
    """``memcli backup --salvage DEST``: copy what can still be read from a damaged memory into
    a new memory file at ``dest`` (0600), without opening the damaged one for writing
    (memcli/store/salvage.py). Point MEMCLI_HOME at a directory holding it as memcli.db, or move
    it into place, then run `memcli doctor --fix` to embed any vectors that were lost."""
    from memcli.core.config import DB_NAME, data_dir
    from memcli.store.salvage import salvage_into

    src = data_dir(home) / DB_NAME
    if not src.is_file():
        raise MemcliError(f"there is no memory database at {src}")
    dest = Path(dest).expanduser()
    if dest.is_dir():
        dest = dest / DB_NAME
    if not dest.parent.is_dir():
        raise MemcliError(f"directory {dest.parent} does not exist")
    try:
        if dest.resolve() == src.resolve():
            raise MemcliError(f"{dest} is the damaged database; choose another path")
    except OSError:
        pass
    return salvage_into(src, dest)


# ---- backup ------------------------------------------------------------------------------------
def backup(memory, dest: str | os.PathLike, *, force: bool = False) -> dict:
    """Consistent copy of the memory into ``dest`` (a file, or a directory to put a dated file
    in), made private (0600) and verified with ``PRAGMA integrity_check``. Refuses to overwrite
    an existing file unless ``force``; the old file is replaced only once the new copy is good."""
    from memcli.store import verify_copy

    dest = Path(dest).expanduser()
    if dest.is_dir():
        stamp = now_iso().replace(":", "").replace("-", "")
        dest = dest / f"memcli-backup-{stamp}.db"
    src = Path(memory.db_path).resolve()
    try:
        if dest.resolve() == src:
            raise MemcliError(f"{dest} is the live database; choose another path")
    except OSError:
        pass
    if dest.exists() and not force:
        raise MemcliError(f"{dest} already exists; use --force to overwrite it")
    if not dest.parent.is_dir():
        raise MemcliError(f"directory {dest.parent} does not exist")
    tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as exc:
        raise MemcliError(f"cannot write {dest}: {exc.strerror}") from None
    os.close(fd)
    try:
        memory.store.backup_to(tmp)
        errors, items = verify_copy(tmp)
        if errors:
            raise MemcliError(f"the backup failed its integrity check ({errors[0]}): the memory "
                              f"itself is damaged; `memcli backup --salvage {dest}` copies what "
                              "can still be read")
        os.chmod(tmp, 0o600)
        os.replace(tmp, dest)
    except BaseException:
        for p in (tmp, Path(f"{tmp}-journal"), Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            try:
                p.unlink()
            except OSError:
                pass
        raise
    return {"path": str(dest), "items": items, "size_bytes": dest.stat().st_size,
            "integrity_check": "ok"}
