"""Exports: an Obsidian-compatible Markdown vault and a JSONL backup.

Vault layout (``memcli export markdown DIR``)::

    DIR/notes/<Kind> <id> <words>.md       notes, facts, summaries, reflections (one file each)
    DIR/conversations/<title> <id>.md      one file per conversation, one block per message

Every file has YAML front matter (id, kind, title, tags, created, sources, …); a note's links,
backlinks and sources are ``[[wikilinks]]`` to the other files (the file name is the note's title,
so Obsidian and ``memcli import markdown`` resolve them the same way); a message is a paragraph
ending in a block id ``^m-<message id>`` so ``[[conversation#^m-3]]`` points at it.

JSONL backup (``memcli export jsonl FILE``): one record per line, in the import format of the
README ("JSONL format"), so ``memcli import jsonl FILE`` restores it: one line per conversation
(``{"id", "title", "created_at", "source", "messages": [...]}``), then one ``{"type": "note", …}``
line per note a person wrote or imported (``memcli add``, Markdown notes and sections, Claude
documents) with its key, kind, title, text, date, tags, path and heading. Derived notes (facts,
summaries, reflections: ``memcli digest`` re-creates them) go with their provenance to the
sibling ``<name>.notes.jsonl``, which is a record, not a restore source.

Files are created 0600 (the memory is private), never through a symlink or onto a device, and an
existing file is replaced only with ``force``; ``-`` (the CLI) writes the backup to stdout.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from memcli.core.errors import MemcliError
from memcli.core.models import meta_of

NOTE_KINDS = ("note", "section", "fact", "summary", "reflection")
PERSON_KINDS = ("note", "section")  # what a person wrote or imported (not derived)
DERIVED_SOURCE = "digest"
_UNSAFE = re.compile(r"[\\/:*?\"<>|#^\[\]\n\r\t]+")


def _yaml_scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid YAML scalar


def front_matter(fields: dict) -> str:
    lines = ["---"]
    for key, value in fields.items():
        if value is None or value == [] or value == "":
            continue
        if isinstance(value, (list, tuple)):
            lines.append(f"{key}:")
            lines += [f"  - {_yaml_scalar(v)}" for v in value]
        else:
            lines.append(f"{key}: {_yaml_scalar(value)}")
    lines.append("---")
    return "\n".join(lines) + "\n"


def _words(text: str, n: int = 8) -> str:
    one = _UNSAFE.sub(" ", " ".join((text or "").split()))
    one = " ".join(one.split()[:n]).strip(" .")
    return one[:60].strip()


def note_name(row: dict) -> str:
    """A file name (without .md) that is unique (it holds the id) and readable."""
    label = _words(row["text"] if row["kind"] == "reflection" else row.get("title") or row["text"])
    return f"{row['kind'].capitalize()} {row['id']}" + (f" {label}" if label else "")


def conversation_name(conv: dict) -> str:
    label = _words(conv.get("title") or conv.get("external_id") or "", 8)
    return f"Conversation {conv['id']}" + (f" {label}" if label else "")


@dataclass
class ExportReport:
    notes: int = 0
    conversations: int = 0
    messages: int = 0
    links: int = 0
    derived: int = 0  # facts, summaries, reflections (JSONL: in <name>.notes.jsonl)
    path: str = ""

    def to_json(self) -> dict:
        return dict(self.__dict__)


def check_target(path: Path, force: bool) -> None:
    """Refuse to write through a symlink, onto anything but a regular file, or over an existing
    file without ``force``: an export never clobbers what it was not asked to."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise MemcliError(f"cannot write {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode):
        raise MemcliError(f"{path} is a symbolic link; give the real file name, or '-' for "
                          "stdout (nothing written)")
    if stat.S_ISDIR(st.st_mode):
        raise MemcliError(f"{path} is a directory; give a file name, e.g. backup.jsonl")
    if not stat.S_ISREG(st.st_mode):
        raise MemcliError(f"{path} is not a regular file (a device, pipe or socket); "
                          "use '-' for stdout (nothing written)")
    if not force:
        raise MemcliError(f"{path} exists; use --force to overwrite it (nothing written)")


def _write(path: Path, text: str) -> None:
    """Write atomically into a new 0600 file next to ``path`` (O_EXCL: never through a link)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o600)
    except OSError as exc:
        raise MemcliError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _private_dir(path: Path) -> None:
    if path.is_symlink():
        raise MemcliError(f"{path} is a symbolic link; give the real folder (nothing written)")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def export_markdown(memory, directory: str | os.PathLike, *, force: bool = False) -> ExportReport:
    store = memory.store
    root = Path(directory).expanduser()
    if root.exists() and not root.is_dir():
        raise MemcliError(f"{root} exists and is not a directory")
    convs = store.all_conversations()
    conv_names = {c["id"]: conversation_name(c) for c in convs}
    notes = store.standalone_items(NOTE_KINDS)
    names = {r["id"]: note_name(r) for r in notes}
    for sub, stems in (("notes", names.values()), ("conversations", conv_names.values())):
        if (root / sub).is_symlink():
            raise MemcliError(f"{root / sub} is a symbolic link; refusing to write through it")
        for stem in stems:  # every file is checked before the first one is written
            check_target(root / sub / f"{stem}.md", force)
    for sub in ("", "notes", "conversations"):
        _private_dir(root / sub if sub else root)
    report = ExportReport(path=str(root))
    msg_ref: dict[int, str] = {}
    for c in convs:
        for m in store.conversation_messages(c["id"]):
            msg_ref[m["id"]] = f"{conv_names[c['id']]}#^m-{_block_id(m)}"

    def ref(item_id: int) -> str | None:
        if item_id in names:
            return names[item_id]
        return msg_ref.get(item_id)

    for r in notes:
        meta = meta_of(r)
        sources = store.sources_of(r["id"])
        links = store.links_of(r["id"])
        backlinks = store.backlinks_of(r["id"])
        history = store.history_of(r["id"])
        fm = {
            "id": r["id"], "kind": r["kind"], "title": names[r["id"]], "tags": r["tags"],
            "created": r["created_at"], "source": r["source"],
            "sources": sources, "valid_to": r.get("valid_to"),
            "superseded_by": r.get("superseded_by"), "importance": r.get("importance"),
            "keywords": meta.get("keywords") or [], "context": meta.get("context"),
            "aliases": [r["title"]] if r.get("title") and r["title"] != names[r["id"]] else [],
        }
        body = [front_matter(fm), r["text"].rstrip(), ""]
        if r.get("superseded_by") and ref(r["superseded_by"]):
            body.append(f"> Superseded on {str(r.get('valid_to'))[:10]} by "
                        f"[[{ref(r['superseded_by'])}]]\n")
        if links:
            body.append("## Links")
            for link in links:
                target = ref(link["id"]) if link.get("id") else link.get("target")
                if target:
                    reason = f": {link['reason']}" if link.get("reason") else ""
                    body.append(f"- {link['type']} [[{target}]]{reason}")
                    report.links += 1
            body.append("")
        if backlinks:
            body.append("## Backlinks")
            body += [f"- {b['type']} [[{ref(b['id'])}]]" for b in backlinks if ref(b["id"])]
            body.append("")
        if sources:
            body.append("## Sources")
            body += [f"- [[{ref(s)}]]" for s in sources if ref(s)]
            body.append("")
        if history:
            body.append("## History")
            body += [f"- {h['changed_at']} {h['field']}: {h['old_value']} → {h['new_value']}"
                     f" ({h['reason'] or ''})" for h in history]
            body.append("")
        _write(root / "notes" / f"{names[r['id']]}.md", "\n".join(body))
        report.notes += 1

    for c in convs:
        msgs = store.conversation_messages(c["id"])
        fm = {"id": c["external_id"], "kind": "conversation", "title": c.get("title"),
              "source": c["source"], "created": c.get("created_at"), "messages": len(msgs)}
        body = [front_matter(fm), f"# {c.get('title') or conv_names[c['id']]}", ""]
        for m in msgs:
            who = m.get("role") or m["kind"]
            body.append(f"**{who}** · {m['created_at']}\n{m['text'].rstrip()} ^m-{_block_id(m)}")
            body.append("")
            report.messages += 1
        _write(root / "conversations" / f"{conv_names[c['id']]}.md", "\n".join(body))
        report.conversations += 1
    return report


def _block_id(m: dict) -> str:
    raw = str(m.get("external_id") if m.get("external_id") is not None else m["id"])
    return re.sub(r"[^A-Za-z0-9-]+", "-", raw).strip("-") or str(m["id"])


def note_key(r: dict) -> str:
    """The key a note is restored under: its own, else one made of what it says and when (so
    importing the same backup twice adds nothing)."""
    if r.get("key"):
        return r["key"]
    digest = hashlib.sha256("\x1f".join(str(r.get(k) or "") for k in (
        "source", "kind", "created_at", "title", "text")).encode("utf-8")).hexdigest()[:24]
    return f"{r['source']}:note:{digest}"


def _note_record(r: dict) -> dict:
    meta = meta_of(r)
    out = {"type": "note", "id": note_key(r), "kind": r["kind"], "source": r["source"],
           "title": r.get("title"), "text": r["text"], "created_at": r["created_at"],
           "tags": r["tags"], "path": r.get("path"), "heading": r.get("heading"),
           "meta": meta or None}
    return {k: v for k, v in out.items() if v is not None}


def jsonl_records(memory, *, notes: bool = True) -> tuple[list[str], list[str], ExportReport]:
    """(backup lines, derived-note lines, counts): what ``export_jsonl`` writes."""
    store = memory.store
    report = ExportReport()
    ext: dict[int, dict] = {}
    lines = []
    for c in store.all_conversations():
        out_msgs = []
        for m in store.conversation_messages(c["id"]):
            mid = m["external_id"] if m.get("external_id") is not None else str(m["position"])
            ext[m["id"]] = {"conversation_id": c["external_id"], "message_id": mid}
            out_msgs.append({"role": m.get("role") or "user", "content": m["text"],
                             "created_at": m["created_at"], "id": mid})
        lines.append(json.dumps({"id": c["external_id"], "title": c.get("title"),
                                 "created_at": c.get("created_at"), "source": c["source"],
                                 "messages": out_msgs}, ensure_ascii=False))
        report.conversations += 1
        report.messages += len(out_msgs)
    derived = []
    if notes:
        for r in store.standalone_items(NOTE_KINDS):
            if r["kind"] in PERSON_KINDS and r["source"] != DERIVED_SOURCE:
                lines.append(json.dumps(_note_record(r), ensure_ascii=False))
                report.notes += 1
                continue
            derived.append(json.dumps({
                "id": r["id"], "kind": r["kind"], "title": r.get("title"), "text": r["text"],
                "created_at": r["created_at"], "source": r["source"], "tags": r["tags"],
                "importance": r.get("importance"), "valid_to": r.get("valid_to"),
                "superseded_by": r.get("superseded_by"), "meta": meta_of(r) or None,
                "sources": [ext.get(s, {"item_id": s}) for s in store.sources_of(r["id"])],
                "links": [{"id": link["id"], "type": link["type"], "reason": link["reason"]}
                          for link in store.links_of(r["id"])],
            }, ensure_ascii=False))
            report.derived += 1
    return lines, derived, report


def export_jsonl(memory, file: str | os.PathLike | IO[str], *, notes: bool = True,
                 force: bool = False) -> ExportReport:
    """Write the backup to ``file`` (a path, or an open text stream such as stdout: then the
    derived notes are left out) and the derived notes to ``notes_path(file)``."""
    if hasattr(file, "write"):
        lines, _, report = jsonl_records(memory, notes=notes)
        report.derived = 0
        for line in lines:
            file.write(line + "\n")
        file.flush()
        report.path = "-"
        return report
    path = Path(file).expanduser()
    check_target(path, force)
    lines, derived, report = jsonl_records(memory, notes=notes)
    if derived:
        check_target(notes_path(path), force)
    if not path.parent.exists():
        _private_dir(path.parent)
    _write(path, "\n".join(lines) + ("\n" if lines else ""))
    if derived:
        _write(notes_path(path), "\n".join(derived) + "\n")
    report.path = str(path)
    return report


def notes_path(path: Path) -> Path:
    stem = path.name[:-6] if path.name.endswith(".jsonl") else path.name
    return path.with_name(stem + ".notes.jsonl")
