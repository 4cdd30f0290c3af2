"""Plain records passed between layers. Leaf module: stdlib only."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

DERIVED_KINDS = ("summary", "fact", "reflection")  # what digest derives; the rest is verbatim


def clean_text(value):
    """Make a str safe to store and embed. Text from argv, stdin or a JSON file can hold lone
    surrogates (undecodable bytes kept by surrogateescape, or a broken ``\\ud83d`` escape) that
    SQLite and the tokenizer cannot encode: they become U+FFFD. NUL bytes are dropped."""
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        try:
            value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return value.replace("\x00", "") if "\x00" in value else value


@dataclass
class NewItem:
    """A verbatim or derived item about to be stored."""

    text: str
    kind: str = "note"  # note | message | section | summary | fact | reflection
    source: str = "cli"  # cli | chat | chatgpt | claude | markdown | jsonl | digest
    created_at: str | None = None  # ISO-8601; None = now
    title: str | None = None
    role: str | None = None
    external_id: str | None = None  # message id in the source file
    path: str | None = None
    heading: str | None = None
    key: str | None = None  # idempotence key; an existing key is skipped
    tags: list[str] = field(default_factory=list)
    importance: float = 0.5
    position: int | None = None
    meta: dict | None = None

    def __post_init__(self):
        for name in ("text", "title", "role", "external_id", "path", "heading", "key"):
            setattr(self, name, clean_text(getattr(self, name)))
        if self.tags:
            self.tags = [clean_text(t) for t in self.tags]


@dataclass
class Filters:
    kinds: list[str] | None = None
    sources: list[str] | None = None
    tags: list[str] | None = None
    since: str | None = None  # ISO-8601 UTC, inclusive
    until: str | None = None  # ISO-8601 UTC, exclusive
    conversation: str | None = None  # external conversation id

    def empty(self) -> bool:
        return not (self.kinds or self.sources or self.tags or self.since or self.until
                    or self.conversation)


@dataclass
class Hit:
    id: int
    kind: str
    text: str
    score: float
    created_at: str
    source: dict
    title: str | None = None
    role: str | None = None
    tags: list[str] = field(default_factory=list)
    similarity: float | None = None  # cosine similarity to the query, when the vector side saw it
    bm25: float | None = None
    superseded: bool = False
    # lifted by the steps that order changed values (retrieval/hybrid.py): the value the
    # question's time asks for, the current one (for the past, an earlier one); `ask` quotes it
    lifted: bool = False
    # a fact digest set the attribute asked about on (retrieval/attribute_query.lead_facts):
    # the memory holds the answer, `ask` does not abstain
    placed: bool = False

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "text": self.text,
            "score": round(self.score, 6),
            "created_at": self.created_at,
            "source": self.source,
            "title": self.title,
            "role": self.role,
            "tags": self.tags,
            "similarity": None if self.similarity is None else round(self.similarity, 4),
        }


# Roles that say which side of a chat spoke, not who: they carry no topic and are not indexed.
GENERIC_ROLES = frozenset({"user", "assistant", "system", "tool", "function", "model", "bot", "ai",
                           "human", "me", "unknown"})


def speaker_name(role: str | None) -> str | None:
    """The speaker's name when a message's role is a person's name (a transcript of two people,
    e.g. 'Caroline'), else None."""
    r = (role or "").strip()
    return r if r and r.lower() not in GENERIC_ROLES and len(r) <= 64 else None


def meta_of(row: dict) -> dict:
    """An item row's ``meta`` JSON as a dict ({} when absent or unreadable)."""
    try:
        return json.loads(row.get("meta") or "{}") or {}
    except (TypeError, ValueError):
        return {}


def attrs_of(meta: dict) -> list[str]:
    """The attributes digest set on a fact, from its meta (``attributes``, else ``attribute``)."""
    return meta.get("attributes") or ([meta["attribute"]] if meta.get("attribute") else [])
