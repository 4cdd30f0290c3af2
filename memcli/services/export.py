"""Exports: an Obsidian-compatible Markdown vault and a JSONL backup.

Vault layout (``memcli export markdown DIR``)::

    DIR/notes/<Kind> <id> <words>.md       notes, facts, summaries, reflections (one file each)
    DIR/conversations/<title> <id>.md      one file per conversation, one block per message

Every file has YAML front matter (id, kind, title, tags, created, sources, …); a note's links,
backlinks and sources are ``[[wikilinks]]`` to the other files (the file name is the note's title,
so Obsidian and ``memcli import markdown`` resolve them the same way); a message is a paragraph
ending in a block id ``^m-<message id>`` so ``[[conversation#^m-3]]`` points at it.

JSONL backup (``memcli export jsonl FILE``): one conversation per line in the import format of
DESIGN.md (``memcli import jsonl FILE`` restores them), and the other items (notes and derived
notes with their provenance) in ``FILE``'s sibling ``<name>.notes.jsonl``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from memcli.core.errors import MemcliError

NOTE_KINDS = ("note", "section", "fact", "summary", "reflection")
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
    path: str = ""

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def export_markdown(memory, directory: str | os.PathLike) -> ExportReport:
    store = memory.store
    root = Path(directory).expanduser()
    if root.exists() and not root.is_dir():
        raise MemcliError(f"{root} exists and is not a directory")
    (root / "notes").mkdir(parents=True, exist_ok=True)
    (root / "conversations").mkdir(parents=True, exist_ok=True)
    report = ExportReport(path=str(root))

    convs = store.all_conversations()
    conv_names = {c["id"]: conversation_name(c) for c in convs}
    notes = store.standalone_items(NOTE_KINDS)
    names = {r["id"]: note_name(r) for r in notes}
    msg_ref: dict[int, str] = {}
    for c in convs:
        for m in store.conversation_messages(c["id"]):
            msg_ref[m["id"]] = f"{conv_names[c['id']]}#^m-{_block_id(m)}"

    def ref(item_id: int) -> str | None:
        if item_id in names:
            return names[item_id]
        return msg_ref.get(item_id)

    for r in notes:
        meta = _meta(r)
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


def _meta(row: dict) -> dict:
    try:
        return json.loads(row.get("meta") or "{}") or {}
    except ValueError:
        return {}


def export_jsonl(memory, file: str | os.PathLike, *, notes: bool = True) -> ExportReport:
    store = memory.store
    path = Path(file).expanduser()
    if path.is_dir():
        raise MemcliError(f"{path} is a directory; give a file name, e.g. backup.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    report = ExportReport(path=str(path))
    ext: dict[int, dict] = {}
    lines = []
    for c in store.all_conversations():
        msgs = [m for m in store.conversation_messages(c["id"])]
        out_msgs = []
        for m in msgs:
            mid = m["external_id"] if m.get("external_id") is not None else str(m["position"])
            ext[m["id"]] = {"conversation_id": c["external_id"], "message_id": mid}
            out_msgs.append({"role": m.get("role") or "user", "content": m["text"],
                             "created_at": m["created_at"], "id": mid})
        lines.append(json.dumps({"id": c["external_id"], "title": c.get("title"),
                                 "created_at": c.get("created_at"), "source": c["source"],
                                 "messages": out_msgs}, ensure_ascii=False))
        report.conversations += 1
        report.messages += len(out_msgs)
    _write(path, "\n".join(lines) + ("\n" if lines else ""))
    if notes:
        note_lines = []
        for r in store.standalone_items(NOTE_KINDS):
            meta = _meta(r)
            note_lines.append(json.dumps({
                "id": r["id"], "kind": r["kind"], "title": r.get("title"), "text": r["text"],
                "created_at": r["created_at"], "source": r["source"], "tags": r["tags"],
                "importance": r.get("importance"), "valid_to": r.get("valid_to"),
                "superseded_by": r.get("superseded_by"), "meta": meta or None,
                "sources": [ext.get(s, {"item_id": s}) for s in store.sources_of(r["id"])],
                "links": [{"id": link["id"], "type": link["type"], "reason": link["reason"]}
                          for link in store.links_of(r["id"])],
            }, ensure_ascii=False))
            report.notes += 1
        _write(notes_path(path), "\n".join(note_lines) + ("\n" if note_lines else ""))
    return report


def notes_path(path: Path) -> Path:
    stem = path.name[:-6] if path.name.endswith(".jsonl") else path.name
    return path.with_name(stem + ".notes.jsonl")
