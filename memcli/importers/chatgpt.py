"""ChatGPT data export → Conversation records.

Accepts the export zip, its unpacked folder, ``conversations.json`` or the split
``conversations-000.json``… files. The JSON is streamed with ijson (exports over 200 MB exist).

Each conversation is a tree (``mapping``: node → parent/children). The visible thread is the chain
from ``current_node`` back through ``parent``; with ``all_branches`` the other branches (edited
prompts, regenerated answers) are kept too, after the main thread, marked ``meta.branch``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

from memcli.core.timeutil import normalize
from memcli.importers.base import (
    WRONG,
    Conversation,
    Failed,
    Message,
    Record,
    as_text,
    find_parts,
    stream_conversations,
    tidy,
)

SOURCE = "chatgpt"
SKIPPED_ROLES = frozenset({"tool", "system"})  # README "Importing": tool and system noise
FILES = re.compile(r"conversations(-\d+)?\.json")

# 【11†source】, 【4:2†file.pdf】 and the newer private-use markers \ue200cite\ue202…\ue201
_OLD_CITE = re.compile(r"【[^】]{0,80}†[^】]{0,200}】")
_NEW_MARK = re.compile("\ue200([^\ue201]{0,2000})\ue201")
_PRIVATE = re.compile("[\ue200-\ue2ff]")
_IMAGE_SHOWN = re.compile(r"^\s*<<ImageDisplayed>>\s*$", re.M)


def _marker(m: re.Match) -> str:
    """An entity marker keeps its display name; citations and other markers disappear."""
    body = m.group(1)
    kind, _, rest = body.partition("\ue202")
    if kind == "entity":
        try:
            data = json.loads(rest)
            if isinstance(data, list) and len(data) > 1 and isinstance(data[1], str):
                return data[1]
        except ValueError:
            pass
    return ""


def strip_citations(text: str) -> str:
    text = _OLD_CITE.sub("", text)
    text = _NEW_MARK.sub(_marker, text)
    return _PRIVATE.sub("", text)


def _parts_text(parts) -> str:
    out: list[str] = []
    for p in parts or []:
        if isinstance(p, str):
            out.append(p)
        elif isinstance(p, dict):
            ct = p.get("content_type", "")
            if "image" in ct:
                out.append("[image]")
            elif isinstance(p.get("text"), str):  # audio_transcription and friends
                out.append(p["text"])
            elif "video" in ct:
                out.append("[video]")
            # audio_asset_pointer, real_time_user_audio_video_asset_pointer: nothing to read
    return "\n".join(x for x in out if x)


def content_text(msg: dict) -> str:
    """The readable text of one message, or '' for noise (hidden context, reasoning, browsing)."""
    content = msg.get("content") or {}
    if not isinstance(content, dict):
        return ""
    ct = content.get("content_type")
    if ct in ("text", "multimodal_text"):
        text = _parts_text(content.get("parts"))
    elif ct == "code":
        lang = as_text(content.get("language"))
        lang = "" if lang in ("unknown", "") else lang
        code = as_text(content.get("text")).strip("\n")
        text = f"```{lang}\n{code}\n```" if code.strip() else ""
    elif ct == "execution_output":
        text = _IMAGE_SHOWN.sub("", as_text(content.get("text")))
    elif ct == "tether_quote":
        head = " ".join(x for x in (as_text(content.get("title")), as_text(content.get("url")))
                        if x)
        body = as_text(content.get("text"))
        text = f"[quote: {head}]\n{body}" if head and body.strip() else body
    elif ct in ("thoughts", "reasoning_recap", "tether_browsing_display", "user_editable_context",
                "system_error", "model_editable_context"):
        text = ""
    elif "parts" in content:
        text = _parts_text(content.get("parts"))
    else:
        text = as_text(content.get("text"))
    return tidy(strip_citations(text))


def _thread(mapping: dict, current: str | None) -> list[str]:
    """Node ids from the root to ``current`` (or to the newest leaf when it is missing)."""
    if not isinstance(current, str) or current not in mapping:
        leaves = [k for k, n in mapping.items() if isinstance(n, dict) and not n.get("children")]

        def when(k):
            m = mapping[k].get("message") or {}
            return (m.get("create_time") or 0) if isinstance(m, dict) else 0

        current = max(leaves, key=when) if leaves else None
    chain: list[str] = []
    seen: set[str] = set()
    while isinstance(current, str) and current in mapping and current not in seen:
        seen.add(current)
        chain.append(current)
        node = mapping[current]
        current = node.get("parent") if isinstance(node, dict) else None
    return chain[::-1]


def _keep(msg: dict, text: str) -> bool:
    if not text:
        return False
    if msg.get("weight") == 0 or msg.get("weight") == 0.0:
        return False
    meta = msg.get("metadata") or {}
    if isinstance(meta, dict) and (meta.get("is_visually_hidden_from_conversation")
                                   or meta.get("is_user_system_message")):
        return False
    return True


def parse_conversation(conv, *, all_branches: bool = False) -> Conversation | Failed:
    if not isinstance(conv, dict):
        return Failed("?", "a conversation is not a JSON object")
    conv_id = conv.get("conversation_id") or conv.get("id")
    label = str(conv_id or conv.get("title") or "?")
    mapping = conv.get("mapping")
    if not isinstance(mapping, dict):
        if "chat_messages" in conv:
            return Failed(WRONG, "this is a Claude export, not ChatGPT; use `memcli import claude`")
        if "messages" in conv:
            return Failed(WRONG, "this is not a ChatGPT export (conversations have 'messages', "
                                 "not 'mapping'); for JSON Lines use `memcli import jsonl`")
        return Failed(label, "not a ChatGPT conversation (it has no 'mapping')")
    if not conv_id:
        return Failed(label, "conversation has no id")
    conv_time = normalize(conv.get("create_time"))
    order = _thread(mapping, conv.get("current_node"))
    branch: set[str] = set()
    if all_branches:
        rest = [k for k in mapping if k not in set(order)]

        def when(k):
            m = (mapping[k] or {}).get("message") or {}
            return (m.get("create_time") or 0, k) if isinstance(m, dict) else (0, k)

        rest.sort(key=when)
        branch = set(rest)
        order = order + rest
    messages: list[Message] = []
    for node_id in order:
        node = mapping.get(node_id)
        msg = node.get("message") if isinstance(node, dict) else None
        if not isinstance(msg, dict):
            continue
        text = content_text(msg)
        if not _keep(msg, text):
            continue
        author = msg.get("author") or {}
        role = as_text(author.get("role")) or "unknown"
        if role in SKIPPED_ROLES:  # code output, browsing quotes, plugin replies: not what anyone
            continue               # said; the assistant's answer that used them is kept
        meta: dict = {}
        md = msg.get("metadata") or {}
        if isinstance(md, dict) and md.get("model_slug"):
            meta["model"] = md["model_slug"]
        if node_id in branch:
            meta["branch"] = True
        messages.append(Message(
            id=str(msg.get("id") or node_id), role=role, text=text,
            created_at=normalize(msg.get("create_time")) or conv_time, meta=meta or None))
    return Conversation(
        source=SOURCE, id=str(conv_id), title=as_text(conv.get("title")) or None,
        created_at=conv_time or (messages[0].created_at if messages else None),
        updated_at=normalize(conv.get("update_time")), messages=messages,
        meta={k: conv[k] for k in ("default_model_slug", "gizmo_id") if conv.get(k)} or None)


def parse(path: str | Path, *, all_branches: bool = False) -> Iterator[Record]:
    """Yield one record per conversation of a ChatGPT export (zip, folder or JSON file)."""
    path = Path(path)
    parts = find_parts(path, FILES, what="conversations.json (ChatGPT export)")
    yield from stream_conversations(
        parts, "ChatGPT conversations",
        lambda conv: parse_conversation(conv, all_branches=all_branches), id_key="id")


