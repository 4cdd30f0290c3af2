"""``memcli import memcli OTHER.db``: merge another device's memory into this one.

Replication is one-way (one writer at a time); when two devices both wrote, this brings the
other one's items here without losing or duplicating anything:

1. OTHER.db is copied to a private temporary file and checked like a restore candidate
   (integrity, a memcli memory, a schema this memcli knows); the copy is opened as a Store, so
   the other file is never written (not even by a migration) and all SQL stays in the store.
2. Its verbatim items are converted by :mod:`memcli.importers.memcli` (which keeps their keys and
   provenance), embedded here with this memory's embedder (vectors are never copied: the models
   may differ), and written per conversation in one transaction through ``Memory.add_items``,
   which skips every key already stored. Items without a key are recognised by content and time.
3. Derived notes are not copied: the import's digest (or ``memcli digest``) derives them from
   the merged messages, and the digest's own de-duplication folds them into existing notes.

A second merge of the same file adds 0.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from memcli.core.errors import ImportFailed, MemcliError
from memcli.importers import memcli as fmt
from memcli.services.memory import Memory, embed_text

BATCH = 256  # items per embedding batch (and per read of standalone items)


def _units(other):
    """(conversation row or None, its item rows, their tags), conversations first."""
    for conv in other.all_conversations():
        rows = other.conversation_messages(conv["id"])
        yield conv, rows, other.tags_of([r["id"] for r in rows])
    kinds = sorted(other.counts()["by_kind"])
    if kinds:
        rows = other.standalone_items(kinds)
        for at in range(0, len(rows), BATCH):
            part = rows[at:at + BATCH]
            yield None, part, {r["id"]: r["tags"] for r in part}


def _new_items(memory: Memory, items):
    """The items not in this memory yet: by key, and (keyless originals) by content and time."""
    store = memory.store
    keys = store.existing_keys([it.key for it in items])
    merged = [it for it in items if it.key.startswith("merged:")]
    seen = store.stored_versions([tuple(it.key.split(":", 2)[1:]) for it in merged]) \
        if merged else set()
    return [it for it in items if it.key not in keys
            and not (it.key.startswith("merged:") and tuple(it.key.split(":", 2)[1:]) in seen)]


def merge_memory(memory: Memory, path: Path, result, *, embed: Callable, dry_run: bool = False,
                 progress: Callable | None = None, batch: int = BATCH) -> None:
    """Merge the memcli database ``path`` into ``memory``, counting into ``result`` (an
    ``ingest.ImportResult``); ``embed(memory, texts)`` is ingest's batch embedder. Called by
    ``ingest.import_path(memory, "memcli", path)``."""
    from memcli.store import Store
    from memcli.store.files import inspect_memory, remove_with_sidecars, stage_copy

    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    staging = Path(memory.home) / f".merge-{os.getpid()}.db"
    remove_with_sidecars(staging)
    try:
        try:
            stage_copy(path, staging, str(path))
            inspect_memory(staging, str(path), model=None)
        except MemcliError as exc:
            raise ImportFailed(str(exc)) from None
        with Store(staging) as other:
            _merge(memory, other, result, embed=embed, dry_run=dry_run, progress=progress,
                   batch=batch)
    finally:
        remove_with_sidecars(staging)


def _merge(memory: Memory, other, result, *, embed: Callable, dry_run: bool,
           progress: Callable | None, batch: int) -> None:
    store = memory.store
    total = other.counts()["items"]
    done = 0
    pending: list[tuple[dict | None, list]] = []

    def flush() -> None:
        nonlocal pending
        items = [it for _, new in pending for it in new]
        vectors = embed(memory, [embed_text(it.title, it.text, it.role) for it in items])
        at = 0
        for conv, new in pending:
            with store.transaction():  # one conversation: all of it or none of it
                conv_id = store.upsert_conversation(
                    conv.pop("source"), conv.pop("external_id"), **conv) if conv else None
                ids = memory.add_items(new, conversation_id=conv_id,
                                       vectors=vectors[at:at + len(new)])
            at += len(new)
            added = sum(1 for i in ids if i is not None)
            result.added += added
            result.skipped += len(new) - added
        pending = []

    for conv_row, rows, tags in _units(other):
        conv, items = fmt.convert(conv_row, rows, tags)
        if conv is not None:
            result.conversations += 1
            result.messages += len(items)
            known = store.find_conversation(conv["source"], conv["external_id"]) is not None
            result.new_conversations += 0 if known or not items else 1
        else:
            result.documents += len(items)
        new = _new_items(memory, items) if items else []
        result.skipped += len(items) - len(new)
        done += len(rows)
        if dry_run or not new:
            result.added += len(new) if dry_run else 0
        else:
            pending.append((conv, new))
            if sum(len(n) for _, n in pending) >= batch:
                flush()
        if progress:
            progress(done, total)
    if pending:
        flush()
