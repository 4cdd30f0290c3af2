"""Claude (claude.ai) data export → Conversation and Document records.

Accepts the export zip, its folder or ``conversations.json``; ``projects.json`` (project docs and
descriptions) and ``memories.json`` next to it are imported too when present. Streamed with ijson.

Message text comes from the ``content`` blocks: ``text`` verbatim, ``tool_use`` as a short
``[tool: name]`` line plus the artifact/command it carried, ``tool_result`` as ``[tool result]`` and
its text; ``thinking`` blocks are left out (the model's scratchpad, not the conversation). Attached
files add their ``extracted_content``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Iterator

from memcli.core.timeutil import normalize
from memcli.importers.base import (
    WRONG,
    Conversation,
    Document,
    Failed,
    Message,
    Part,
    Record,
    as_text,
    find_parts,
    sibling,
    stream_array,
    stream_conversations,
    tidy,
)

SOURCE = "claude"
FILES = re.compile(r"conversations\.json")
ROLES = {"human": "user", "user": "user", "assistant": "assistant", "system": "system"}
TOOL_TEXT_KEYS = ("content", "code", "command", "query", "text", "url")
MAX_TOOL_CHARS = 4000


def _tool_use(block: dict) -> str:
    name = as_text(block.get("name")) or "tool"
    inp = block.get("input")
    body = ""
    if isinstance(inp, dict):
        title = as_text(inp.get("title"))
        for k in TOOL_TEXT_KEYS:
            if isinstance(inp.get(k), str) and inp[k].strip():
                body = inp[k]
                break
        head = f"[tool: {name}{' ' + title if title else ''}]"
        if not body:
            small = {k: v for k, v in inp.items() if k != "title"}
            body = json.dumps(small, ensure_ascii=False) if small else ""
    else:
        head = f"[tool: {name}]"
        body = json.dumps(inp, ensure_ascii=False) if inp else ""
    return head + ("\n" + body[:MAX_TOOL_CHARS] if body else "")


def _tool_result(block: dict) -> str:
    content = block.get("content")
    if isinstance(content, str):
        text = content
    else:
        text = "\n".join(as_text(c.get("text")) for c in content or []
                         if isinstance(c, dict) and c.get("type") == "text")
    text = text.strip()
    return f"[tool result]\n{text[:MAX_TOOL_CHARS]}" if text else ""


def message_text(msg: dict) -> str:
    blocks = msg.get("content")
    parts: list[str] = []
    if isinstance(blocks, list) and blocks:
        for b in blocks:
            if not isinstance(b, dict):
                continue
            t = b.get("type")
            if t == "text":
                parts.append(as_text(b.get("text")))
            elif t == "tool_use":
                parts.append(_tool_use(b))
            elif t == "tool_result":
                parts.append(_tool_result(b))
            # thinking, redacted_thinking, token_budget: not part of the conversation
    if not any(p.strip() for p in parts):
        parts = [as_text(msg.get("text"))]
    for att in msg.get("attachments") or []:
        if isinstance(att, dict):
            body = as_text(att.get("extracted_content")).strip()
            name = as_text(att.get("file_name")) or "attachment"
            parts.append(f"[attachment: {name}]" + (f"\n{body}" if body else ""))
    for f in msg.get("files") or []:
        if isinstance(f, dict) and f.get("file_name"):
            parts.append(f"[file: {f['file_name']}]")
    return tidy("\n\n".join(p for p in parts if p and p.strip()))


def parse_conversation(conv) -> Conversation | Failed:
    if not isinstance(conv, dict):
        return Failed("?", "a conversation is not a JSON object")
    conv_id = conv.get("uuid") or conv.get("id")
    label = str(conv_id or conv.get("name") or "?")
    msgs = conv.get("chat_messages")
    if not isinstance(msgs, list):
        if "mapping" in conv:
            return Failed(WRONG, "this is a ChatGPT export, not Claude; "
                                 "use `memcli import chatgpt`")
        if "messages" in conv:
            return Failed(WRONG, "this is not a Claude export (conversations have 'messages', "
                                 "not 'chat_messages'); for JSON Lines use `memcli import jsonl`")
        return Failed(label, "not a Claude conversation (it has no 'chat_messages')")
    if not conv_id:
        return Failed(label, "conversation has no uuid")
    conv_time = normalize(conv.get("created_at"))
    messages: list[Message] = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            continue
        text = message_text(m)
        if not text:
            continue
        sender = as_text(m.get("sender")).lower()
        messages.append(Message(
            id=str(m.get("uuid") or i), role=ROLES.get(sender, sender or "unknown"), text=text,
            created_at=normalize(m.get("created_at")) or conv_time))
    return Conversation(
        source=SOURCE, id=str(conv_id), title=as_text(conv.get("name")) or None,
        created_at=conv_time or (messages[0].created_at if messages else None),
        updated_at=normalize(conv.get("updated_at")), messages=messages,
        meta={"summary": conv["summary"]} if as_text(conv.get("summary")).strip() else None)


def _projects(part: Part) -> Iterator[Record]:
    for proj in stream_array(part, "Claude projects"):
        if not isinstance(proj, dict) or not proj.get("uuid"):
            yield Failed(f"{part.label}: project", "a project without a uuid")
            continue
        pid, name = str(proj["uuid"]), as_text(proj.get("name")) or "project"
        created = normalize(proj.get("created_at"))
        desc = tidy(as_text(proj.get("description")) + "\n\n"
                    + as_text(proj.get("prompt_template")))
        if desc:
            yield Document(SOURCE, f"claude:project:{pid}", desc, title=f"Project: {name}",
                           created_at=created, tags=["claude-project"], meta={"project": pid})
        docs = proj.get("docs")
        for doc in docs if isinstance(docs, list) else []:
            if not isinstance(doc, dict):
                continue
            text = tidy(as_text(doc.get("content")))
            if not text:
                continue
            did = str(doc.get("uuid") or hashlib.sha256(text.encode()).hexdigest()[:16])
            yield Document(SOURCE, f"claude:project:{pid}:doc:{did}", text,
                           title=f"{name}: {as_text(doc.get('filename')) or 'document'}",
                           created_at=normalize(doc.get("created_at")) or created,
                           tags=["claude-project"], meta={"project": pid})


def _memories(part: Part) -> Iterator[Record]:
    for mem in stream_array(part, "Claude memories"):
        if not isinstance(mem, dict):
            continue
        texts = [("Claude memory", as_text(mem.get("conversations_memory")))]
        project_memories = mem.get("project_memories")
        if not isinstance(project_memories, dict):  # wrong type in a hand-edited file: ignore
            project_memories = {}
        for pid, text in project_memories.items():
            texts.append((f"Claude project memory {pid}", as_text(text)))
        for title, text in texts:
            text = tidy(text)
            if text:  # the key follows the content: a changed memory is a new note
                digest = hashlib.sha256(text.encode()).hexdigest()[:16]
                yield Document(SOURCE, f"claude:memory:{digest}", text, title=title,
                               tags=["claude-memory"])


def parse(path: str | Path) -> Iterator[Record]:
    """Yield Conversation records, then project and memory Documents, of a Claude export."""
    path = Path(path)
    parts = find_parts(path, FILES, what="conversations.json (Claude export)")
    yield from stream_conversations(parts, "Claude conversations", parse_conversation,
                                    id_key="uuid")
    for part in parts:
        proj = sibling(part, "projects.json")
        if proj:
            yield from _projects(proj)
        mems = sibling(part, "memories.json")
        if mems:
            yield from _memories(mems)
