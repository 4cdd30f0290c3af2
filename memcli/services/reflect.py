"""`reflect`: higher-level insights over recent notes — patterns, open loops, changes — each stored
as a ``reflection`` item that cites (item_sources) at least two notes that exist.

The LLM proposes insights as JSON citing note numbers; an insight survives only if it cites ≥ 2
real notes and its words are grounded in them. Without a (valid) model answer, deterministic
reflections are written: recurring themes (tags shared by several notes), open loops (plans with
no later note on the same topic) and changes (superseded facts with their replacement)."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

from memcli.core.models import NewItem, meta_of
from memcli.core.text import content_words, grounded, stem, words
from memcli.services.digest.llmio import LLMCounter, call_json, llm_of
from memcli.services.prompts import messages as prompt_messages

SCHEMA = {
    "type": "object",
    "properties": {
        "insights": {
            "type": "array", "maxItems": 4,
            "items": {
                "type": "object",
                "properties": {
                    "type": {"enum": ["pattern", "open_loop", "change"]},
                    "text": {"type": "string", "minLength": 15, "maxLength": 240},
                    "notes": {"type": "array", "items": {"type": "integer"}, "minItems": 2,
                              "maxItems": 6},
                },
                "required": ["type", "text", "notes"],
            },
        },
    },
    "required": ["insights"],
}


@dataclass
class ReflectReport:
    mode: str = "deterministic"
    considered: int = 0
    reflections: int = 0
    ids: list[int] = field(default_factory=list)
    llm: LLMCounter = field(default_factory=LLMCounter)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def themes(notes: list[dict], min_notes: int = 3, max_themes: int = 3
           ) -> list[tuple[str, str, list[int]]]:
    """Words (by stem) that several notes come back to, excluding who the notes are about."""
    subjects = {stem(w) for n in notes for w in words(meta_of(n).get("subject") or "")}
    by_stem: dict[str, list[dict]] = defaultdict(list)
    surface: dict[str, Counter] = defaultdict(Counter)
    for n in notes:
        seen = set()
        for w in content_words(n["text"]) + [t for t in n.get("tags", []) if "-" not in t]:
            s = stem(w)
            if len(w) <= 3 or s in subjects or s in seen or w.isdigit():
                continue
            seen.add(s)
            by_stem[s].append(n)
            surface[s][w] += 1
    ranked = sorted(((s, ns) for s, ns in by_stem.items() if len(ns) >= min_notes),
                    key=lambda kv: (-len(kv[1]), kv[0]))
    out: list[tuple[str, str, list[int]]] = []
    chosen: list[set[int]] = []
    for s, ns in ranked:
        ids = {n["id"] for n in ns}
        if any(len(ids & c) > 0.5 * len(ids) for c in chosen):
            continue
        chosen.append(ids)
        word = surface[s].most_common(1)[0][0]
        examples = "; ".join(n["text"][:70] for n in ns[:2])
        out.append(("pattern", f"Recurring theme “{word}”: {len(ns)} notes come back to it "
                               f"(e.g. {examples}).", [n["id"] for n in ns[:6]]))
        if len(out) >= max_themes:
            break
    return out


def open_loops(notes: list[dict]) -> list[tuple[str, str, list[int]]]:
    plans = [n for n in notes if meta_of(n).get("type") == "decision"]
    loose = []
    for p in plans:
        words = {stem(w) for w in content_words(p["text"]) if len(w) > 3}
        followed = any(n["created_at"] > p["created_at"] and meta_of(n).get("type") == "event" and
                       len(words & {stem(w) for w in content_words(n["text"])}) >= 2
                       for n in notes)
        if not followed:
            loose.append(p)
    if len(loose) < 2:
        return []
    loose = loose[:6]
    listing = "; ".join(p["text"][:60] for p in loose[:3])
    return [("open_loop", f"Open loops: {len(loose)} plans or intentions have no follow-up in "
                          f"memory yet ({listing}).", [p["id"] for p in loose])]


def changes(store, notes: list[dict]) -> list[tuple[str, str, list[int]]]:
    out = []
    ids = {n["id"] for n in notes}
    olds = store.list_derived(["fact"], limit=500)
    for old in olds:
        new_id = old.get("superseded_by")
        if not new_id or (old["id"] not in ids and new_id not in ids):
            continue
        try:
            new = store.get_item(new_id)
        except Exception:  # noqa: BLE001 - the newer note was forgotten meanwhile
            continue
        attr = meta_of(new).get("attribute") or "a fact"
        out.append(("change", f"Changed ({attr}): “{old['text'][:90]}” → “{new['text'][:90]}” "
                              f"(since {new['created_at'][:10]}).", [old["id"], new_id]))
    return out


def llm_insights(llm, notes: list[dict], counter: LLMCounter) -> list[tuple[str, str, list[int]]]:
    listing = "\n".join(f"[{i}] ({n['created_at'][:10]}) {n['text'][:160]}"
                        for i, n in enumerate(notes[:30]))
    value = call_json(llm, prompt_messages("reflect", notes=listing), SCHEMA, counter, max_tokens=400)
    out = []
    if not isinstance(value, dict) or not isinstance(value.get("insights"), list):
        return out
    for ins in value["insights"][:4]:
        if not isinstance(ins, dict):
            continue
        text, typ, refs = ins.get("text"), ins.get("type"), ins.get("notes")
        if not isinstance(text, str) or not 15 <= len(text.strip()) <= 300:
            continue
        if typ not in ("pattern", "open_loop", "change") or not isinstance(refs, list):
            continue
        idx = sorted({r for r in refs if isinstance(r, int) and not isinstance(r, bool)
                      and 0 <= r < min(30, len(notes))})
        if len(idx) < 2:
            continue
        cited = [notes[i] for i in idx]
        if not grounded(text, " ".join(n["text"] for n in cited), min_share=0.5):
            continue
        out.append((typ, " ".join(text.split()), [n["id"] for n in cited]))
    if out:
        counter.accepted += 1
    elif value is not None:
        counter.rejected += 1
    return out


def reflect(memory, *, use_llm: bool = True, llm=None, limit: int = 60,
            since: str | None = None) -> ReflectReport:
    """Reflect over the ``limit`` most recent current notes (facts); idempotent per insight."""
    report = ReflectReport()
    store = memory.store
    notes = store.list_derived(["fact"], since=since, limit=limit, current_only=True)
    report.considered = len(notes)
    model, why = llm_of(memory, use_llm, llm)
    report.mode = "llm" if model is not None else "deterministic"
    if why and use_llm:
        report.warnings.append(why)
    found = [(*c, "rule") for c in changes(store, notes)]
    insights = llm_insights(model, notes, report.llm) if model is not None and len(notes) >= 2 else []
    if insights:
        found += [(*c, "llm") for c in insights]
    else:
        found += [(*c, "rule") for c in themes(notes) + open_loops(notes)]
    for typ, text, cited, method in found:
        cited = list(dict.fromkeys(cited))
        existing = store.get_items(cited)
        if len(existing) < 2:
            continue
        key = "digest:reflection:" + hashlib.sha256(
            (typ + ":" + ",".join(map(str, sorted(cited)))).encode()).hexdigest()[:24]
        when = max(existing[i]["created_at"] for i in existing)
        with store.transaction():
            [rid] = memory.add_items([NewItem(
                text=text, kind="reflection", source="digest", created_at=when, key=key,
                title=f"Reflection: {typ.replace('_', ' ')}", tags=["reflection", typ],
                importance=0.6, meta={"type": typ, "method": method})])
            if rid is None:
                continue
            store.add_sources(rid, list(existing))
        report.reflections += 1
        report.ids.append(rid)
    return report
