"""Importing exports into a Memory: the library service behind ``memcli import``.

Every import runs in two passes over the (streamed) source:

1. **validate**: parse everything, count, and collect per-record failures. A broken file
   (truncated JSON, wrong export type, binary, unreadable) raises ``ImportFailed`` here, before a
   single row is written, so the database is unchanged. ``--dry-run`` stops after this pass and
   reports what would be added (existing keys are looked up read-only).
2. **write**: records are parsed again; new messages are embedded in batches that span
   conversations (the embedder is the bottleneck), then each conversation (or Markdown file) is
   written in its own short transaction. An interrupted import keeps every conversation already
   committed; the next run skips them by key and carries on (idempotent, incremental).

Keys: ``<provider>:<conversation id>:<message id>`` for messages, ``markdown:<relpath>#<n>`` for
Markdown notes/sections, ``claude:project:…``/``claude:memory:…`` for Claude documents.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from memcli.core.errors import ImportFailed
from memcli.core.models import NewItem
from memcli.importers import import_format
from memcli.importers.base import Conversation, Document, Failed, Limits, limits
from memcli.services.memory import Memory, embed_text

# progress(done, total): counts of messages (or files) handled so far
Progress = Callable[[int, int], None]
BATCH = 256  # texts per embedding batch
MAX_WARNINGS = 20


@dataclass
class ImportResult:
    source: str
    path: str
    dry_run: bool = False
    conversations: int = 0  # conversations seen in the export
    new_conversations: int = 0  # of which not in the memory before
    messages: int = 0  # messages seen (after dropping hidden/empty noise)
    files: int = 0  # Markdown files seen
    documents: int = 0  # Claude project docs / memories seen
    added: int = 0  # items written (or, with dry_run, that would be)
    skipped: int = 0  # items already present (same key, or an unchanged file)
    failed: int = 0  # records that could not be parsed (see warnings)
    replaced: int = 0  # changed Markdown files whose old items were replaced
    deleted_files: int = 0  # Markdown files gone from the vault whose items were removed
    deleted: int = 0  # items removed with them (or, with dry_run, that would be)
    links: int = 0  # wikilinks recorded
    resolved_links: int = 0  # links (old or new) resolved to their target note in this run
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def warn(self, text: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(text)

    def to_json(self) -> dict:
        out = asdict(self)
        out["seconds"] = round(self.seconds, 3)
        return out


def import_path(memory: Memory, source: str, path: str | Path, *, dry_run: bool = False,
                progress: Progress | None = None, batch: int = BATCH, **options) -> ImportResult:
    """Import an export of ``source`` (a name in ``memcli.importers.FORMATS``: chatgpt, claude,
    markdown, jsonl) from ``path``; ``options`` are the format's switches (chatgpt:
    ``all_branches``)."""
    fmt = import_format(source)
    path = Path(path).expanduser()
    if fmt.records == "memory":  # another memcli database: read through the store (merge.py)
        from memcli.services.merge import merge_memory

        started = time.perf_counter()
        result = ImportResult(source=source, path=str(path), dry_run=dry_run)
        if options:
            raise ImportFailed(f"the {fmt.name} import takes no option {', '.join(options)}")
        merge_memory(memory, path, result, embed=embed_batch, dry_run=dry_run, progress=progress,
                     batch=batch)
        result.seconds = time.perf_counter() - started
        return result

    def records() -> Iterator:
        return fmt.parse(path, **options)

    started = time.perf_counter()
    cfg = memory.config
    with limits(Limits(message_mb=cfg.limits_message_mb, note_mb=cfg.limits_note_mb)):
        if fmt.records == "notes":
            result = _import_markdown(memory, path, records, dry_run=dry_run, progress=progress,
                                      batch=batch)
        else:
            result = _import_conversations(memory, source, path, records, dry_run=dry_run,
                                           progress=progress, batch=batch)
    result.seconds = time.perf_counter() - started
    return result


def embed_batch(memory: Memory, texts: list[str]):
    """One embedder call for a batch that spans conversations; repeated texts ("thanks",
    "continue") are embedded once."""
    if not texts:
        return []
    unique = list(dict.fromkeys(texts))
    vectors = memory.embedder.embed(unique)
    if len(unique) == len(texts):
        return vectors
    where = {t: i for i, t in enumerate(unique)}
    return vectors[[where[t] for t in texts]]


# ---- conversations ------------------------------------------------------------------------------
def message_items(conv: Conversation) -> list[NewItem]:
    return [NewItem(
        text=m.text, kind="message", role=m.role, source=conv.source, external_id=m.id,
        created_at=m.created_at or conv.created_at, position=i, title=conv.title,
        key=f"{conv.source}:{conv.id}:{m.id}", meta=m.meta) for i, m in enumerate(conv.messages)]


def document_item(doc: Document) -> NewItem:
    return NewItem(text=doc.text, kind=doc.kind, source=doc.source, title=doc.title, key=doc.key,
                   created_at=doc.created_at, tags=list(doc.tags), meta=doc.meta, path=doc.path,
                   heading=doc.heading)


def _validate(records: Iterable, result: ImportResult) -> int:
    """Pass 1: parse it all (raises on a broken file); returns the number of units to write."""
    ok = 0
    first_failure: Failed | None = None
    units = 0
    for rec in records:
        if isinstance(rec, Failed):
            result.failed += 1
            result.warn(f"{rec.label}: {rec.reason}")
            first_failure = first_failure or rec
            continue
        ok += 1
        if isinstance(rec, Conversation):
            result.conversations += 1
            result.messages += len(rec.messages)
            units += len(rec.messages)
        elif isinstance(rec, Document):
            result.documents += 1
            units += 1
        else:  # a Markdown file
            result.files += 1
            units += len(rec.sections)
            for w in rec.warnings:
                result.warn(f"{rec.relpath}: {w}")
    if ok == 0 and first_failure is not None:
        raise ImportFailed(f"{first_failure.label}: {first_failure.reason}")
    return units


def _import_conversations(memory: Memory, source: str, path: Path, records, *, dry_run: bool,
                          progress: Progress | None, batch: int) -> ImportResult:
    result = ImportResult(source=source, path=str(path), dry_run=dry_run)
    total = _validate(records(), result)
    store = memory.store
    done = 0
    pending: list[tuple[Conversation | Document, list[NewItem]]] = []
    pending_n = 0

    def flush() -> None:
        nonlocal pending, pending_n, done
        texts = [embed_text(it.title, it.text, it.role) for _, items in pending for it in items]
        vectors = embed_batch(memory, texts)
        at = 0
        for rec, items in pending:
            vecs = vectors[at:at + len(items)]
            at += len(items)
            with store.transaction():  # one conversation: all of it or none of it
                conv_id = None
                if isinstance(rec, Conversation):
                    conv_id = store.upsert_conversation(
                        rec.source, rec.id, title=rec.title, created_at=rec.created_at,
                        updated_at=rec.updated_at, meta=rec.meta)
                ids = memory.add_items(items, conversation_id=conv_id, vectors=vecs)
            added = sum(1 for i in ids if i is not None)
            result.added += added
            result.skipped += len(items) - added
            done += len(items)
            if progress:
                progress(done, total)
        pending, pending_n = [], 0

    for rec in records():
        if isinstance(rec, Failed):
            continue
        if isinstance(rec, Conversation):
            items = message_items(rec)
            known = store.find_conversation(rec.source, rec.id) is not None
            result.new_conversations += 0 if known or not items else 1
        else:
            items = [document_item(rec)]
            if source == "jsonl" and store.items_with_hash(rec.text, [rec.kind], keyless=True):
                result.skipped += 1  # a restored note whose original (an `add`, no key) is here
                done += 1
                continue
        existing = store.existing_keys([it.key for it in items]) if items else set()
        new = [it for it in items if it.key not in existing]
        result.skipped += len(items) - len(new)
        if dry_run or not new:
            result.added += len(new) if dry_run else 0
            done += len(items)
            if progress:
                progress(done, total)
            continue
        done += len(items) - len(new)
        pending.append((rec, new))
        pending_n += len(new)
        if pending_n >= batch:
            flush()
    if pending:
        flush()
    return result


# ---- Markdown -----------------------------------------------------------------------------------
def _note_items(note, vault: str | None = None) -> list[NewItem]:
    kind = "section" if note.split else "note"
    meta = {"digest": note.digest}
    if vault:
        meta["vault"] = vault  # a later import of the same folder removes files deleted from it
    if note.aliases:
        meta["aliases"] = note.aliases
    return [NewItem(text=s.text, kind=kind, source="markdown", title=note.title, path=note.relpath,
                    heading=s.heading, key=f"markdown:{note.relpath}#{n}", tags=list(note.tags),
                    created_at=note.created_at, meta=meta)
            for n, s in enumerate(note.sections)]


def _stored_digest(rows: list[dict]) -> str | None:
    for r in rows:
        try:
            return (json.loads(r["meta"]) or {}).get("digest") if r["meta"] else None
        except ValueError:
            return None
    return None


def _import_markdown(memory: Memory, path: Path, records, *, dry_run: bool,
                     progress: Progress | None, batch: int) -> ImportResult:
    result = ImportResult(source="markdown", path=str(path), dry_run=dry_run)
    total = _validate(records(), result)
    if result.files == 0 and result.failed == 0:
        raise ImportFailed(f"{path}: no Markdown note with any text in it")
    store = memory.store
    done = 0
    pending: list[tuple[object, list[NewItem], list[int]]] = []
    pending_n = 0

    def flush() -> None:
        nonlocal pending, pending_n, done
        texts = [embed_text(it.title, it.text, it.role) for _, items, _ in pending for it in items]
        vectors = embed_batch(memory, texts)
        at = 0
        for note, items, old_ids in pending:
            vecs = vectors[at:at + len(items)]
            at += len(items)
            with store.transaction():  # one file: its old items go, its new ones come, together
                if old_ids:
                    store.detach_links_to(old_ids)
                    for item_id in old_ids:
                        store.delete_item(item_id)
                ids = memory.add_items(items, vectors=vecs)
                for link in note.links:
                    src = ids[link.section] if link.section < len(ids) else None
                    if src is not None:
                        store.add_link(src, None, target=link.target, type="wikilink",
                                       reason=f"#{link.heading}" if link.heading else None)
                        result.links += 1
            result.added += sum(1 for i in ids if i is not None)
            result.replaced += 1 if old_ids else 0
            done += len(items)
            if progress:
                progress(done, total)
        pending, pending_n = [], 0

    vault = str(path.resolve()) if path.is_dir() else None
    seen: set[str] = set()
    for note in records():
        if isinstance(note, Failed):
            seen.add(note.label)  # still there, only unreadable now: keep what it had
            continue
        seen.add(note.relpath)
        items = _note_items(note, vault)
        rows = store.items_by_path("markdown", note.relpath)
        if rows and _stored_digest(rows) == note.digest:
            result.skipped += len(items)
            done += len(items)
            if progress:
                progress(done, total)
            continue
        if dry_run:
            result.added += len(items)
            result.replaced += 1 if rows else 0
            result.links += len(note.links)
            done += len(items)
            continue
        pending.append((note, items, [r["id"] for r in rows]))
        pending_n += len(items)
        if pending_n >= batch:
            flush()
    if pending:
        flush()
    if vault:
        _remove_deleted_files(memory, vault, seen, result)
    if not dry_run:
        result.resolved_links = resolve_wikilinks(store)
    return result


def _remove_deleted_files(memory: Memory, vault: str, seen: set[str],
                          result: ImportResult) -> None:
    """Forget the items of files that were imported from this vault folder and are gone from it
    (with the notes derived from them, as ``memcli forget`` does)."""
    from memcli.core.errors import NotFound

    for relpath, ids in memory.store.vault_files(vault).items():
        if relpath in seen:
            continue
        result.deleted_files += 1
        result.deleted += len(ids)
        if result.dry_run:
            continue
        for item_id in ids:
            try:
                memory.forget(item_id)
            except NotFound:  # already gone with another item
                pass


def resolve_wikilinks(store) -> int:
    """Point every unresolved wikilink at its target note (by file name, or a front-matter alias;
    the section with the linked heading when there is one) if that note is in the memory now.
    Returns how many were resolved."""
    unresolved = [r for r in store.unresolved_links() if r["type"] == "wikilink"]
    if not unresolved:
        return 0
    by_title: dict[str, int] = {}
    by_heading: dict[tuple[str, str], int] = {}
    by_alias: dict[str, int] = {}
    for item_id, title, heading, aliases in store.title_index():
        t = title.lower()
        if heading is None:
            by_title.setdefault(t, item_id)  # the note itself / the part before any heading
        else:
            by_heading.setdefault((t, heading.lower()), item_id)
        for alias in json.loads(aliases) if aliases else []:
            if isinstance(alias, str) and alias.strip():
                by_alias.setdefault(alias.strip().lower(), item_id)
    for (t, _), item_id in sorted(by_heading.items(), key=lambda kv: kv[1]):
        by_title.setdefault(t, item_id)  # a note that starts with a heading
    for a, item_id in by_alias.items():
        by_title.setdefault(a, item_id)  # a real title wins over another note's alias
    n = 0
    with store.transaction():
        for link in unresolved:
            t = (link["target"] or "").lower()
            heading = (link.get("reason") or "").lstrip("#").lower()
            dst = by_heading.get((t, heading)) if heading else None
            dst = dst or by_title.get(t)
            if dst is not None and dst != link["src_id"]:
                store.resolve_link(link["rowid"], dst)
                n += 1
    return n
