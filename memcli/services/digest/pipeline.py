"""`digest`: the incremental, resumable job that turns new verbatim material into structure.

For each conversation with messages past its digest mark (and each standalone note/section not
yet digested): topic segments → a summary per segment and per conversation → atomic notes (no
writes; several units' new texts are embedded in one batch) → in the unit's own transaction,
de-duplication, supersession, links, tag evolution → the mark moves. An interrupted run loses at
most the units planned but not yet written; re-running redoes them and nothing else."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from memcli.core.models import DERIVED_KINDS, NewItem
from memcli.core.text import doc_freq, grounded
from memcli.services.digest.attributes import by_meaning, remember_prototypes
from memcli.services.digest.extract import Candidate, llm_notes, rule_notes, speaker_of
from memcli.services.digest.llmio import LLMCounter, call_json, capable, llm_of
from memcli.services.digest.organise import (
    NearIndex,
    find_duplicate,
    link_note,
    neighbours,
    supersede,
    supersede_version,
)
from memcli.services.digest.plan import EMBED_BATCH, Plan
from memcli.services.digest.segment import extractive_summary, segment
from memcli.services.prompts import messages as prompt_messages
from memcli.store import content_hash

SOURCE = "digest"
CHAT_SOURCE = "chat"  # memcli chat's own conversations (services/chat.py)
STANDALONE_KINDS = ("note", "section")
SUMMARY_SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string", "maxLength": 80},
                   "summary": {"type": "string", "minLength": 20, "maxLength": 500}},
    "required": ["title", "summary"],
}


@dataclass
class DigestReport:
    mode: str = "deterministic"
    conversations: int = 0
    items: int = 0
    messages: int = 0
    segments: int = 0
    summaries: int = 0
    notes: int = 0
    merged: int = 0
    links: int = 0
    superseded: int = 0
    evolved: int = 0
    llm: LLMCounter = field(default_factory=LLMCounter)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    remaining: int = 0

    def to_json(self) -> dict:
        out = asdict(self)
        out["seconds"] = round(self.seconds, 3)
        out["messages_per_s"] = round(self.messages / self.seconds, 1) if self.seconds else None
        return out


def _vectors(memory, rows: list[dict]) -> np.ndarray:
    """Stored vectors of these items (embedding the few that have none)."""
    from memcli.services.memory import embed_text

    stored = memory.store.vectors_of([r["id"] for r in rows])
    dim = memory.embedder.dim
    out = np.zeros((len(rows), dim), dtype=np.float32)
    missing = []
    for i, r in enumerate(rows):
        b = stored.get(r["id"])
        if b is not None and len(b) == 4 * dim:
            out[i] = np.frombuffer(b, dtype=np.float32)
        else:
            missing.append(i)
    if missing:
        vecs = memory.embedder.embed([embed_text(rows[i].get("title"), rows[i]["text"],
                                                 rows[i].get("role")) for i in missing])
        for j, i in enumerate(missing):
            out[i] = vecs[j]
    return out


def _prepare(rows: list[dict]) -> list[dict]:
    for r in rows:
        try:
            r["_meta"] = json.loads(r.get("meta") or "{}") or {}
        except (TypeError, ValueError):
            r["_meta"] = {}
        r["_speaker"] = speaker_of(r)
    return rows


class Digester:
    def __init__(self, memory, *, llm=None, report: DigestReport, link_min_sim: float = 0.5,
                 min_summary_messages: int = 4, llm_links: bool = False, update_llm=None,
                 capable: bool = False):
        self.memory = memory
        self.update_llm = update_llm  # a capable model decides update candidates (updates.py)
        self.capable = capable  # the model writes notes with their attribute (extract.py)
        self.store = memory.store
        self.llm = llm
        self.report = report
        self.link_min_sim = link_min_sim
        self.min_summary_messages = min_summary_messages
        self.llm_links = llm_links  # also ask the LLM to judge each new link (slow on CPU)
        # this run's derived notes in memory, from the first batch written (run); None: too
        # many to hold, or nothing written yet: the store's scan serves
        self.near: NearIndex | None = None
        self._near_loaded = False

    # ---- summaries -------------------------------------------------------------------------
    def propose_summary(self, msgs: list[dict], vecs: np.ndarray, *, title: str | None,
                        scope: str) -> tuple:
        """The summary's text, title, method and keywords (the LLM's if it passes the checks);
        no database writes, so it runs outside any transaction."""
        text, kws, _ = extractive_summary(msgs, vecs)
        head = f"{scope.capitalize()} summary"
        stitle = f"{head}: {title}" if title else f"{head}: {', '.join(kws[:3])}"
        method = "extractive"
        if self.llm is not None:
            body = "\n".join(f"{m.get('_speaker') or m.get('role') or 'user'}: "
                             f"{' '.join(m['text'].split())[:300]}" for m in msgs)[:3000]
            value = call_json(self.llm, prompt_messages("digest_summary", transcript=body,
                                               title=title or "untitled"),
                              SUMMARY_SCHEMA, self.report.llm, max_tokens=220)
            if value is not None:
                s = value.get("summary") if isinstance(value, dict) else None
                source = " ".join(m["text"] for m in msgs) + " " + " ".join(
                    m.get("_speaker") or "" for m in msgs)
                if isinstance(s, str) and 20 <= len(s.strip()) <= 600 and grounded(
                        s, source, min_share=0.7):
                    text, method = " ".join(s.split()), "llm"
                    self.report.llm.accepted += 1
                else:
                    self.report.llm.rejected += 1
        return text, stitle, method, kws, scope

    def write_summary(self, proposal: tuple, msgs: list[dict], *, key: str,
                      vector=None) -> int | None:
        text, stitle, method, kws, scope = proposal
        if not text:
            return None
        when = msgs[-1]["created_at"]
        [sid] = self.memory.add_items([NewItem(
            text=text, kind="summary", source=SOURCE, created_at=when, title=stitle, key=key,
            tags=[], importance=0.4,
            meta={"scope": scope, "keywords": kws, "method": method,
                  "span": [msgs[0]["created_at"], when], "messages": len(msgs)})],
            vectors=None if vector is None else [vector])
        if sid is None:
            return None
        if vector is not None and self.near is not None:
            self.near.add(sid, "summary", vector)
        self.store.add_sources(sid, [m["id"] for m in msgs])
        self.report.summaries += 1
        return sid

    # ---- notes ------------------------------------------------------------------------------
    def propose_notes(self, msgs: list[dict], *, title: str | None) -> list[Candidate]:
        """Candidate notes from the LLM (validated) and the rules; no database writes."""
        texts = [m["text"] for m in msgs]
        df, n = doc_freq(texts), len(texts)
        cands: list[Candidate] = []
        covered: set[int] = set()
        if self.llm is not None:
            cands, covered = llm_notes(self.llm, msgs, self.report.llm, df=df, n_docs=n,
                                       title=title, capable=self.capable)
        rest = [m if i not in covered else {**m, "_speaker": None} for i, m in enumerate(msgs)]
        cands += rule_notes(rest, df=df, n_docs=n, title=title)
        return cands

    def write_notes(self, cands: list[Candidate], msgs: list[dict], vecs=None) -> list[int]:
        if not cands:
            return []
        if vecs is None:
            vecs = self.memory.embedder.embed([c.text for c in cands])
        cands, vecs = by_meaning(self.memory.embedder, cands, vecs)  # what no slot pattern found
        new_ids: list[int] = []
        for c, v in zip(cands, vecs):
            src = msgs[c.msg_index]
            near = neighbours(self.store, v, index=self.near)
            dup = find_duplicate(self.store, c.text, v, near=near)
            if dup is not None:  # merge: the existing note now rests on this message too
                self.store.add_sources(dup, [src["id"], *c.extra_sources])
                self.store.add_history(dup, "sources", None, str(src["id"]),
                                       "the same statement again: merged, provenance kept")
                self.report.merged += 1
                continue
            key = f"digest:fact:{src['id']}:{content_hash(c.text)[:16]}"
            [nid] = self.memory.add_items([NewItem(
                text=c.text, kind="fact", source=SOURCE, created_at=src["created_at"],
                role=src.get("role"),  # who said it: a question naming them favours it (search.py)
                key=key, tags=c.tags, importance=0.6 if c.type in ("preference", "decision")
                else 0.5,
                meta={"type": c.type, "keywords": c.keywords, "context": c.context,
                      "subject": c.subject,
                      "attribute": c.attributes[0] if c.attributes else None,
                      "attributes": c.attributes, "values": c.values,
                      "event_time": c.event_time, "method": c.method,
                      **({"by_meaning": True} if c.by_meaning else {}),
                      **({"by_model": True} if c.by_model else {}),
                      **({"topic": c.topic} if c.topic else {})})], vectors=[v])
            if nid is None:
                continue
            if self.near is not None:
                self.near.add(nid, "fact", v)
            self.store.add_sources(nid, [src["id"], *c.extra_sources])
            new_ids.append(nid)
            self.report.notes += 1
            row = self.store.get_item(nid)
            if supersede(self.store, nid, row, near=near, llm=self.update_llm,
                         counter=self.report.llm) is not None:
                self.report.superseded += 1
            links, evolved = link_note(self.store, nid, row, v,
                                       llm=self.llm if self.llm_links else None,
                                       counter=self.report.llm, min_sim=self.link_min_sim,
                                       near=near)
            self.report.links += links
            self.report.evolved += evolved
        return new_ids

    # ---- units of work ------------------------------------------------------------------------
    # A unit (a conversation, a standalone item) is planned first: model work, no writes. Plans
    # are embedded together (EMBED_BATCH texts at a time: a conversation gives a dozen short
    # texts, and the int8 path runs them at a third of its bulk speed, mostly padding), then each
    # is written in its own short transaction, which moves its digest mark. An interruption loses
    # the plans not yet written; their marks did not move, so the next run redoes them.
    def plan_conversation(self, conv_id: int, upto: int) -> Plan | None:
        conv = self.store.conversation(conv_id) or {}
        # memcli's own chat answers are not the person's material (imported assistants' are)
        every = [m for m in self.store.conversation_messages(conv_id) if m["kind"] == "message"]
        allmsgs = [m for m in every
                   if not (m["source"] == CHAT_SOURCE and m.get("role") == "assistant")]
        mark = max(m["position"] or 0 for m in every)
        msgs = _prepare([m for m in allmsgs if (m["position"] or 0) > upto])
        if not msgs:
            with self.store.transaction():  # only memcli's answers are new: nothing to derive
                self.store.mark_digested("conversation", conv_id, mark, self.report.mode)
            return None
        title = conv.get("title")
        # Model work first, outside any transaction: a slow LLM must not hold the write lock
        # (a concurrent `memcli add` would wait past the busy timeout). Then one short write.
        vecs = _vectors(self.memory, msgs)
        spans = segment(vecs)
        summaries = []  # (proposal, messages, key)
        if len(spans) > 1:
            for s, e in spans:
                self.report.segments += 1
                if e - s >= self.min_summary_messages:
                    a, b = msgs[s]["position"], msgs[e - 1]["position"]
                    summaries.append((self.propose_summary(msgs[s:e], vecs[s:e], title=title,
                                                           scope="segment"),
                                      msgs[s:e], f"digest:segment:{conv_id}:{a}-{b}"))
        else:
            self.report.segments += len(spans)
        if len(msgs) >= self.min_summary_messages:
            a, b = msgs[0]["position"], msgs[-1]["position"]
            summaries.append((self.propose_summary(msgs, vecs, title=title, scope="conversation"),
                              msgs, f"digest:summary:{conv_id}:{a}-{b}"))
        notes = [(self.propose_notes(msgs[s:e], title=title), msgs[s:e]) for s, e in spans]
        return Plan("conversation", conv_id, mark, len(msgs), summaries, notes)

    def plan_item(self, row: dict) -> Plan:
        [row] = _prepare([dict(row)])
        cands = self.propose_notes([row], title=row.get("title"))  # model work outside the lock
        return Plan("item", row["id"], -1, 1, [], [(cands, [row])], row=row)

    def commit(self, plan: Plan, vecs: np.ndarray) -> None:
        """Write a plan with its texts' vectors (``plan.texts()`` order), mark it digested."""
        at = 0
        with self.store.transaction():
            if plan.row is not None and supersede_version(self.store, plan.row) is not None:
                self.report.superseded += 1
            for proposal, part, key in plan.summaries:
                v = None
                if proposal[0]:
                    v, at = vecs[at], at + 1
                self.write_summary(proposal, part, key=key, vector=v)
            for cands, part in plan.notes:
                self.write_notes(cands, part, vecs[at:at + len(cands)])
                at += len(cands)
            self.store.mark_digested(plan.kind, plan.unit, plan.mark, self.report.mode)
        if plan.kind == "conversation":
            self.report.conversations += 1
        else:
            self.report.items += 1
        self.report.messages += plan.messages

    def run(self, plans: list[Plan]) -> None:
        """Embed these plans' texts in one batch (outside the write lock), then write each."""
        # loaded, or brought up to date with other processes' notes, before this batch writes
        if not self._near_loaded:
            self.near, self._near_loaded = NearIndex.load(self.store, self.memory.embedder.dim), True
        elif self.near is not None and not self.near.refresh(self.store):
            self.near = None  # grown past what memory holds: the store's scan from here on
        per = [p.texts() for p in plans]
        texts = [t for ts in per for t in ts]
        vecs = (self.memory.embedder.embed(texts) if texts
                else np.zeros((0, self.memory.embedder.dim), dtype=np.float32))
        at = 0
        for p, ts in zip(plans, per):
            self.commit(p, vecs[at:at + len(ts)])
            at += len(ts)


def digest(memory, *, use_llm: bool | None = None, llm=None, limit: int | None = None,
           progress: Callable[[int, int], None] | None = None, link_min_sim: float = 0.5,
           llm_links: bool = False, judge_updates: bool | None = None) -> DigestReport:
    """Digest what is new. ``limit`` caps the conversations + standalone items done this run;
    ``progress(done, total)`` is called after each. Returns counts (see DigestReport).
    ``use_llm``: True = the model (``llm`` or the configured one, even the bundled one), False =
    deterministic, None = the model only when it is capable (``llmio.capable``: not the bundled
    SmolLM2) or ``llm`` is given. With an LLM, notes and summaries come from it (validated, rules
    fill the gaps); links are judged deterministically unless ``llm_links`` (one extra model call
    per candidate pair); update candidates are judged by the model when it is capable (or
    ``judge_updates``), by the rules otherwise; such a model also names each note's attribute
    (prompts/digest_notes_capable.md, validated in extract.model_attribute)."""
    started = time.perf_counter()
    report = DigestReport()
    if use_llm is None:
        use_llm = llm is not None or capable(memory)
    model, why = llm_of(memory, use_llm, llm)
    report.mode = "llm" if model is not None else "deterministic"
    if why and use_llm:
        report.warnings.append(why)
    memory._check_model()
    if judge_updates is None:
        judge_updates = model is not None and capable(memory, model)
    d = Digester(memory, llm=model, report=report, link_min_sim=link_min_sim,
                 llm_links=llm_links, update_llm=model if judge_updates else None,
                 capable=bool(judge_updates) and model is not None)
    convs = memory.store.digest_pending_conversations()
    items = memory.store.digest_pending_items(STANDALONE_KINDS)
    work: list = [("c", c) for c in convs] + [("i", r) for r in items]
    if work:  # what search reads to place a question by meaning (digest/attributes.py)
        remember_prototypes(memory.store, memory.embedder)
    total = len(work)
    if limit is not None:
        work = work[:max(0, limit)]
    # with a model, its calls dominate: each unit is written as soon as it is planned
    batch = EMBED_BATCH if model is None else 1
    plans: list[Plan] = []
    done = pending = 0

    def flush() -> None:
        nonlocal done, pending
        d.run(plans)
        done, pending = done + len(plans), 0
        plans.clear()
        if progress:
            progress(done, len(work))

    for what, unit in work:
        plan = d.plan_conversation(*unit) if what == "c" else d.plan_item(unit)
        if plan is None:
            done += 1
            continue
        plans.append(plan)
        pending += len(plan.texts())
        if pending >= batch:
            flush()
    flush()  # the rest, and the final progress call
    report.remaining = total - len(work)
    report.seconds = time.perf_counter() - started
    return report


def check(store) -> dict:
    """Invariants the issue asks for, as counts (all zero = healthy)."""
    orphans = store.derived_without_sources(list(DERIVED_KINDS))
    return {"derived_without_sources": len(orphans),
            "duplicate_facts": store.duplicate_hash_groups("fact")}


__all__ = ["digest", "DigestReport", "Digester", "check"]
