"""A chat with the memory that is itself stored as memory, as it happens.

``ChatSession`` turns each question into one call of :func:`memcli.services.ask.ask` and writes both
sides of the exchange to the store the moment they exist: the user's message before the model runs,
the assistant's answer (with the ids it cited) as soon as it is complete. A crash loses at most the answer
being generated, and later questions (in this chat or another) can find and cite earlier chats: they
are ordinary ``message`` items of a conversation whose source is ``chat``.

What may be cited is decided by the ask service, not here: memcli's own answers, this chat's
turns (they reach the model as history) and the question itself are never evidence. An answer
is stored as the person saw it without re-storing quoted evidence as new text: the model's own
checked sentences (or a one-line stand-in for a quoted answer), with the cited ids kept as its
sources (``item_sources``) and in its meta; the transcript rebuilds the quotes from them.

Front ends run ``ChatSession.ask`` in a worker thread while their own thread reads the same store
(search, item views), so every use of the ``Memory`` goes through one lock (``session.lock``):
``ask`` gets a proxy that takes the lock around each memory/store call, never around the model's
generation, so the UI can search while an answer streams. No textual or typer here.
"""

from __future__ import annotations

import inspect
import json
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from memcli.core.errors import MemcliError, NotFound
from memcli.core.models import NewItem
from memcli.core.text import one_line
from memcli.core.timeutil import now_iso, utcnow
from memcli.services.answer_context import CHAT_SOURCE

SOURCE = CHAT_SOURCE


class _Locked:
    """Runs every method call of ``target`` under ``lock`` (store calls too, transactions whole)."""

    def __init__(self, target, lock):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_lock", lock)

    def __getattr__(self, name):
        value = getattr(self._target, name)
        lock = self._lock
        if name == "store":
            return _Locked(value, lock)
        if name == "transaction":
            return lambda: _locked_cm(value, lock)
        if inspect.ismethod(value):  # the memory's/store's own methods; not the LLM or embedder
            def call(*args, **kwargs):
                with lock:
                    return value(*args, **kwargs)

            call.__name__ = getattr(value, "__name__", name)
            return call
        return value

    def __setattr__(self, name, value):
        setattr(self._target, name, value)


@contextmanager
def _locked_cm(factory, lock):
    with lock:
        with factory():
            yield


@dataclass
class Turn:
    """One exchange: the stored question and, when the model finished, the stored answer."""

    question: str
    question_id: int
    answer: object = None  # memcli.ask.Answer
    answer_id: int | None = None

    @property
    def citations(self) -> list:
        return list(getattr(self.answer, "citations", []) or [])


@dataclass
class ChatSession:
    """One chat conversation in the memory (source ``chat``), created with its first message."""

    memory: object
    llm: object = None
    use_llm: bool = True
    title: str | None = None
    external_id: str = ""
    history_turns: int = 4
    lock: threading.RLock = field(default_factory=threading.RLock)
    conversation_id: int | None = None
    history: list[dict] = field(default_factory=list)
    _next_position: int = 0

    def __post_init__(self) -> None:
        if not self.external_id:
            self.external_id = f"{utcnow():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"

    # ---- resuming ---------------------------------------------------------------------------------
    @classmethod
    def resume(cls, memory, external_id: str, **kwargs) -> "ChatSession":
        """Continue a stored chat: new messages follow its last one; its tail becomes history."""
        session = cls(memory, external_id=external_id, **kwargs)
        with session.lock:
            conv = memory.store.find_conversation(SOURCE, external_id)
            if conv is None:
                raise NotFound(f"no chat with id {external_id!r} (see `memcli search --source chat`)")
            session.conversation_id = conv["id"]
            session.title = session.title or conv["title"]
            session._next_position = memory.store.next_position(conv["id"])
            messages = memory.store.conversation_messages(conv["id"])
        for m in messages[-2 * session.history_turns:]:
            if m["role"] in ("user", "assistant"):
                session.history.append({"role": m["role"], "content": m["text"]})
        return session

    def messages(self) -> list[dict]:
        """The stored messages of this chat, in order (empty before the first question)."""
        if self.conversation_id is None:
            return []
        with self.lock:
            return self.memory.store.conversation_messages(self.conversation_id)

    def transcript(self) -> list[dict]:
        """The stored chat for display: ``{"id", "role", "text", "abstained", "citations"}`` per
        message, citations rebuilt (as ``ask.Citation``) from the ids stored with each answer;
        items forgotten since are left out."""
        from memcli.retrieval.hits import hit_from_row, source_of
        from memcli.services.ask import EVIDENCE_HEAD, Citation
        from memcli.services.extractive import quotes_for

        out = []
        with self.lock:
            messages = self.messages()
            metas = [json.loads(m["meta"]) if m.get("meta") else {} for m in messages]
            rows = self.memory.store.get_items([i for meta in metas
                                                for i in meta.get("citations", [])])
        question = ""
        for m, meta in zip(messages, metas):
            ids = meta.get("citations", [])
            numbers = meta.get("numbers") or list(range(1, len(ids) + 1))
            pairs = [(n, i) for n, i in zip(numbers, ids) if i in rows]
            cites = [Citation(n, i, rows[i]["text"], source_of(rows[i]), rows[i]["created_at"],
                              rows[i]["title"], rows[i]["kind"]) for n, i in pairs]
            text = m["text"]
            if m["role"] == "user":
                question = text
            elif meta.get("quoted"):  # rebuild the quotes the person saw
                quotes = quotes_for(question, [(n, hit_from_row(rows[i], 0.0)) for n, i in pairs])
                own = meta.get("own_text", "")
                text = f"{own}\n\n{EVIDENCE_HEAD}\n{quotes}" if own else quotes
            out.append({"id": m["id"], "role": m["role"], "text": text,
                        "abstained": bool(meta.get("abstained")), "citations": cites})
        return out

    # ---- writing ----------------------------------------------------------------------------------
    def add_message(self, role: str, text: str, *, meta: dict | None = None,
                    sources: list[int] | None = None) -> int:
        """Store one message now (embedded, searchable); the conversation is created on first use.
        ``sources``: the ids it rests on (an answer's citations), kept in ``item_sources``."""
        store = self.memory.store
        with self.lock, store.transaction():
            now = now_iso()
            if self.conversation_id is None:
                self.conversation_id = store.upsert_conversation(
                    SOURCE, self.external_id, title=self.title or one_line(text, 60),
                    created_at=now, updated_at=now)
            pos = self._next_position
            [item_id] = self.memory.add_items([NewItem(
                text=text, kind="message", source=SOURCE, role=role, created_at=now,
                external_id=str(pos), position=pos, meta=meta,
                key=f"chat:{self.external_id}:{pos}")], conversation_id=self.conversation_id)
            if item_id is None:  # someone else wrote this position (two apps on one chat)
                raise MemcliError(f"chat {self.external_id} changed underneath; start a new chat")
            if sources:
                store.add_sources(item_id, sources)
            store.upsert_conversation(SOURCE, self.external_id, updated_at=now)
            self._next_position = pos + 1
        return item_id

    # ---- asking -----------------------------------------------------------------------------------
    def ask(self, question: str, *, on_token: Callable[[str], None] | None = None,
            now: datetime | None = None, limit: int | None = None) -> Turn:
        """Store the question, answer it from the memory (streaming tokens), store the answer.

        If the model or the database fails, the question stays stored and the error propagates."""
        from memcli.services.ask import ask

        question = question.strip()
        if not question:
            raise MemcliError("the question is empty")
        turn = Turn(question=question, question_id=self.add_message("user", question))
        answer = ask(_Locked(self.memory, self.lock), question, limit=limit, now=now,
                     llm=self.llm, use_llm=self.use_llm, on_token=on_token,
                     history=list(self.history), chat=self.external_id)
        turn.answer = answer
        ids = [c.id for c in answer.citations]
        meta = {"citations": ids, "numbers": [c.n for c in answer.citations],
                "abstained": bool(answer.abstained)}
        stored = answer.answer
        if answer.used_evidence:  # the quotes are the sources' own text: keep ids, not a copy
            meta.update(quoted=True, own_text=answer.own_text)
            stored = answer.own_text or "Quoted from your memory: " + ", ".join(
                f"[{c.n}] #{c.id}" for c in answer.citations)
        turn.answer_id = self.add_message("assistant", stored, meta=meta, sources=ids)
        self.history += [{"role": "user", "content": question},
                         {"role": "assistant", "content": stored}]
        del self.history[: -2 * self.history_turns]
        return turn


# ---- reading for front ends --------------------------------------------------------------------------
def show_in_context(memory, item_id: int, *, neighbours: int = 2) -> dict:
    """``memory.show(id)`` (source, tags, sources, links, backlinks, history, conversation) plus
    ``previous`` and ``next``: up to ``neighbours`` messages either side of it in its conversation
    (both empty for an item outside a conversation). Front ends that share the memory with a chat
    call it under ``session.lock``."""
    data = memory.show(item_id)
    row = memory.store.get_item(item_id)
    prev, nxt = [], []
    if row["conversation_id"] is not None and row["position"] is not None:
        prev, nxt = memory.store.neighbours(row["conversation_id"], row["position"],
                                            neighbours, neighbours)
    data["previous"], data["next"] = prev, nxt
    return data
