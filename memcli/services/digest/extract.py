"""Atomic notes (facts, preferences, events, decisions) from verbatim messages.

Two ways, same output: the LLM with a JSON schema (every note validated: non-empty, bounded,
grounded in the message it cites) and a deterministic extractor (first-person statements rewritten
in the third person, RAKE/TF-IDF keywords). Messages the LLM left uncovered get the rule notes, so
a weak model can only add, never lose or corrupt.

A capable model (llmio.capable) gets prompts/digest_notes_capable.md instead: each note may also
name the attribute of the speaker it sets (one of retrieval/attribute_meaning.PROTOTYPES) and its
value; kept only when valid (``model_attribute``) and no slot rule placed the note first."""

from __future__ import annotations

import copy
import re
from collections import Counter
from dataclasses import dataclass, field

from memcli.core.attribute_words import attribute_tags, own_change
from memcli.core.phrasing import normalize_value, value_tokens
from memcli.core.slots import slots_of
from memcli.core.statements import (
    FIRST_PERSON,
    event_time_hint,
    fact_type,
    first_person,
    statement_score,
    strip_code,
    third_person,
)
from memcli.core.text import content_words, grounded, keywords, sentences, tags_from
from memcli.retrieval.attribute_meaning import PROTOTYPES
from memcli.services.digest.llmio import LLMCounter, call_json
from memcli.services.prompts import messages as prompt_messages

TYPES = ("fact", "preference", "event", "decision")
MIN_LEN, MAX_LEN = 12, 300
# A sentence that scores below rule_notes' bar but is the speaker's own change with a value is a
# tentative note: kept when its meaning names an attribute (digest/attributes.by_meaning).
TENTATIVE_MIN = 0.5
# "Update: I live in Rome now" is the person's statement, not a speaker called Update
NOT_SPEAKERS = frozenset(
    "note notes re fwd fw http https update updates edit edited correction ps p.s fyi todo to-do "
    "reminder important question answer summary context background btw warning tip idea status "
    "news info update2 addendum later today yesterday also ok okay note to self".split())
NAME_PREFIX = re.compile(r"^([A-Z][\w.'-]*(?: [A-Z][\w.'-]*){0,2}):\s+")

NOTE_SCHEMA = {
    "type": "object",
    "properties": {
        "notes": {
            "type": "array", "maxItems": 6,
            "items": {
                "type": "object",
                "properties": {
                    "message": {"type": "integer", "minimum": 0},
                    "text": {"type": "string", "minLength": MIN_LEN, "maxLength": 200},
                    "type": {"enum": list(TYPES)},
                    "keywords": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
                    "context": {"type": "string", "maxLength": 120},
                },
                "required": ["message", "text", "type", "keywords", "context"],
            },
        },
    },
    "required": ["notes"],
}
NO_ATTRIBUTE = "none"
VALUE_MAX = 80
# the capable model's schema: NOTE_SCHEMA plus an optional attribute (or "none") and its value
CAPABLE_NOTE_SCHEMA = copy.deepcopy(NOTE_SCHEMA)
CAPABLE_NOTE_SCHEMA["properties"]["notes"]["items"]["properties"].update(
    attribute={"enum": [*PROTOTYPES, NO_ATTRIBUTE]},
    value={"type": "string", "maxLength": VALUE_MAX})


@dataclass
class Candidate:
    text: str
    type: str
    msg_index: int  # index into the segment's message list
    keywords: list[str]
    tags: list[str]
    context: str
    subject: str | None = None
    attributes: list[str] = field(default_factory=list)
    values: dict = field(default_factory=dict)  # attribute → the value it is set to (or None)
    event_time: str | None = None
    method: str = "rule"
    extra_sources: list[int] = field(default_factory=list)
    by_meaning: bool = False  # the attribute comes from digest/attributes.py (prototypes)
    by_model: bool = False  # the attribute comes from a capable model (model_attribute)
    tentative: bool = False  # kept only if digest/attributes.py finds its attribute
    topic: str | None = None  # the nearest attribute, for ranking only (attributes.topic_of)


def speaker_of(msg: dict) -> str | None:
    """Who said it, when it is a person: meta speaker/name, a 'Name: ' prefix, a role that is a
    name, or 'User'.
    Assistant turns have no speaker (their 'I' is the AI), so no personal facts come from them."""
    meta = msg.get("_meta") or {}
    for key in ("speaker", "name", "author"):
        if isinstance(meta.get(key), str) and meta[key].strip():
            return meta[key].strip()
    m = NAME_PREFIX.match(msg.get("text") or "")
    if m and m.group(1).lower() not in NOT_SPEAKERS:
        return m.group(1)
    role = (msg.get("role") or "user").strip()
    if role.lower() in ("assistant", "system", "tool", "model", "bot", "ai"):
        return None
    if role.lower() in ("user", "human", "me"):
        return "User"
    return role  # a named speaker stored as the role (e.g. a transcript of two people)


def body_of(msg: dict) -> str:
    text = msg.get("text") or ""
    m = NAME_PREFIX.match(text)
    return text[m.end():] if m and (msg.get("_speaker") == m.group(1)
                                    or m.group(1).lower() in NOT_SPEAKERS) else text


def _context(msg: dict, speaker: str, when: str | None, title: str | None) -> str:
    date = (msg.get("created_at") or "")[:10]
    ctx = f"{speaker} said this on {date}" if date else f"{speaker} said this"
    if when:
        ctx += f" (about {when})"
    if title:
        ctx += f" in “{title[:60]}”"
    return ctx


def rule_notes(msgs: list[dict], *, df: Counter, n_docs: int, title: str | None = None,
               per_message: int = 2, min_score: float = 1.6) -> list[Candidate]:
    out: list[Candidate] = []
    for i, m in enumerate(msgs):
        speaker = m.get("_speaker")
        if not speaker:
            continue
        every = [(statement_score(s), s) for s in sentences(strip_code(body_of(m)))]
        scored = sorted((t for t in every if t[0] >= min_score), key=lambda t: -t[0])
        for _, sent in scored[:per_message]:
            out.append(make_candidate(sent, m, i, speaker, df=df, n_docs=n_docs, title=title))
        if len(scored) < per_message:  # "Said goodbye to the old car; the Skoda is ours now"
            for score, sent in every:
                if TENTATIVE_MIN <= score < min_score and value_tokens(sent) and \
                        own_change(sent):
                    c = make_candidate(sent, m, i, speaker, df=df, n_docs=n_docs, title=title)
                    c.tentative = not c.attributes
                    out.append(c)
                    break
    return out


def make_candidate(sentence: str, msg: dict, index: int, speaker: str, *, df: Counter,
                   n_docs: int, title: str | None, text: str | None = None, type_: str | None = None,
                   kws: list[str] | None = None, context: str | None = None,
                   method: str = "rule") -> Candidate:
    sentence = sentence if len(sentence) <= MAX_LEN else sentence[: MAX_LEN - 1] + "…"
    note = text or third_person(sentence, speaker)
    note = note if len(note) <= MAX_LEN else note[: MAX_LEN - 1] + "…"
    kws = kws or keywords(sentence, corpus_df=df, n_docs=n_docs, k=5)
    when = event_time_hint(sentence, msg.get("created_at"))
    slots = slots_of(first_person(note, speaker)) or slots_of(sentence)
    tags = tags_from(kws, 3)
    tags += [t for t in attribute_tags([a for a, _ in slots]) if t not in tags]
    return Candidate(
        text=note, type=type_ or fact_type(sentence), msg_index=index, keywords=kws,
        tags=tags, context=context or _context(msg, speaker, when, title),
        subject=speaker,
        attributes=[a for a, _ in slots], values=dict(slots),
        event_time=when, method=method)


def transcript(msgs: list[dict], indexes: list[int], max_chars: int = 2400) -> str:
    lines, used = [], 0
    for i in indexes:
        body = " ".join(body_of(msgs[i]).split())[:400]
        line = f"[{i}] {msgs[i].get('_speaker') or msgs[i].get('role') or 'user'}: {body}"
        if used + len(line) > max_chars and lines:
            break
        lines.append(line)
        used += len(line)
    return "\n".join(lines)


def model_attribute(raw: dict, body: str) -> tuple[str, str] | None:
    """(attribute, normalised value) a capable model gave its note ``raw`` of the message
    ``body``, or None: the name is one digest knows, the value is short and written in the
    message, and the message's sentence holding it is the speaker's own statement of how things
    are or of a change (core/attribute_words.own_change: not someone else's news, a plan, a wish,
    a distant past). The message, not the note, is checked: it is what the note rests on."""
    attribute, value = raw.get("attribute"), raw.get("value")
    if attribute not in PROTOTYPES or not isinstance(value, str):
        return None
    value = " ".join(value.split()).strip(" .,;:!?\"'“”")
    if not value or len(value) > VALUE_MAX:
        return None
    at = re.compile(rf"(?<!\w){re.escape(value)}(?!\w)", re.I)
    holding = [s for s in sentences(body) if at.search(" ".join(s.split()))]
    if not holding and at.search(" ".join(body.split())):
        holding = [body]  # a value across a sentence break ("Fontaines D.C. is my band")
    if not holding or not own_change(holding[0]):
        return None
    return attribute, normalize_value(value) or value.lower()


def validate_llm_notes(value, msgs: list[dict], *, df: Counter, n_docs: int,
                       title: str | None, allowed: list[int] | None = None,
                       capable: bool = False) -> list[Candidate]:
    """Keep only notes that cite a real, personal message and are grounded in it. ``capable``:
    the model's attribute/value of a note are kept too (``model_attribute``) when no slot rule
    placed it."""
    out: list[Candidate] = []
    if not isinstance(value, dict) or not isinstance(value.get("notes"), list):
        return out
    for raw in value["notes"][:8]:
        if not isinstance(raw, dict):
            continue
        idx, text = raw.get("message"), raw.get("text")
        if not isinstance(idx, int) or isinstance(idx, bool) or not isinstance(text, str):
            continue
        text = " ".join(text.split())
        if not MIN_LEN <= len(text) <= MAX_LEN or len(content_words(text)) < 2:
            continue
        if not (0 <= idx < len(msgs) and msgs[idx].get("_speaker") and grounded(
                text, body_of(msgs[idx]), speakers=(msgs[idx]["_speaker"],))):
            # a small model often cites the wrong number: credit the message that grounds it
            idx = next((i for i in (allowed or range(len(msgs))) if msgs[i].get("_speaker") and
                        grounded(text, body_of(msgs[i]), speakers=(msgs[i]["_speaker"],))), None)
            if idx is None:
                continue
        msg = msgs[idx]
        speaker = msg["_speaker"]
        if FIRST_PERSON.search(text):  # "I went…" → "Caroline went…"
            text = third_person(text, speaker)
        kws = [k.strip().lower() for k in raw.get("keywords") or [] if isinstance(k, str)]
        kws = [k for k in kws if 2 < len(k) <= 40 and grounded(k, msg["text"], min_share=1.0)]
        typ = raw.get("type") if raw.get("type") in TYPES else None
        ctx = raw.get("context")
        ctx = None if not isinstance(ctx, str) or not 8 <= len(ctx) <= 160 else ctx.strip()
        sent = max(sentences(body_of(msg)) or [text],
                   key=lambda s: len(set(content_words(s)) & set(content_words(text))))
        c = make_candidate(sent, msg, idx, speaker, df=df, n_docs=n_docs, title=title,
                           text=text, type_=typ, kws=kws or None,
                           context=(_context(msg, speaker, None, title) + " — " + ctx)
                           if ctx else None, method="llm")
        placed = model_attribute(raw, body_of(msg)) if capable and \
            not c.attributes else None  # rules first
        if placed is not None:
            c.attributes, c.values, c.by_model = [placed[0]], {placed[0]: placed[1]}, True
            c.tags += [t for t in attribute_tags([placed[0]]) if t not in c.tags]
        out.append(c)
    return out


def llm_notes(llm, msgs: list[dict], counter: LLMCounter, *, df: Counter, n_docs: int,
              title: str | None, chunk: int = 8, capable: bool = False
              ) -> tuple[list[Candidate], set[int]]:
    """(valid notes, message indexes the model was asked about and answered validly for).
    ``capable``: the capable prompt and schema (each note's attribute), else the bundled model's."""
    eligible = [i for i, m in enumerate(msgs) if m.get("_speaker")]
    notes: list[Candidate] = []
    covered: set[int] = set()
    for s in range(0, len(eligible), chunk):
        idx = eligible[s:s + chunk]
        if capable:
            prompt = prompt_messages("digest_notes_capable", transcript=transcript(msgs, idx),
                                     title=title or "untitled", attributes=", ".join(PROTOTYPES))
        else:
            prompt = prompt_messages("digest_notes", transcript=transcript(msgs, idx),
                                     title=title or "untitled")
        value = call_json(llm, prompt, CAPABLE_NOTE_SCHEMA if capable else NOTE_SCHEMA, counter,
                          max_tokens=600 if capable else 400)
        if value is None:
            continue
        good = validate_llm_notes(value, msgs, df=df, n_docs=n_docs, title=title, allowed=idx,
                                  capable=capable)
        good = [c for c in good if c.msg_index in idx]
        if not good:
            counter.rejected += 1
            continue
        counter.accepted += 1
        notes.extend(good)
        covered |= {c.msg_index for c in good}
    return notes, covered
