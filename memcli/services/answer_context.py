"""What an answering model is shown: which retrieved items count as evidence, how many fit, in
what order, and the prompt around them. Used by :mod:`memcli.services.ask`.

- **Evidence is what the person wrote or imported**: memcli's own chat answers (source ``chat``,
  role ``assistant``), the turns of the chat that is asking (they reach the model as history) and
  a stored copy of the very question being asked are never context (``is_own_output``).
- **A profile per model kind** (``profile_for``): ``small`` (the bundled 135M model and other
  GGUFs under ~1 GB, or a scripted fake) gets a short context of the hits near the best one in
  rank order; ``capable`` (bigger GGUFs, OpenAI-compatible endpoints) gets up to
  ``[ask.capable] items`` hits, whole texts where they fit in a budget sized from the model's
  window, ordered by date (oldest first) so "how many days between…" and "what did I say first"
  can be read off, each with its date, weekday and conversation. Each profile has its own prompt
  file in prompts/.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from memcli.core.errors import MemcliError
from memcli.core.models import Hit, speaker_name
from memcli.core.text import LOOSE_SUFFIXES, one_line, query_words, stem

CHAT_SOURCE = "chat"  # the source of memcli's own chats (memcli.services.chat)
SOURCE_OVERHEAD = 40  # budget counted per source on top of its text (number, date, title, role)
CONTEXT_MARGIN = 0.08  # below the abstain threshold, a hit still counts as context
CONTEXT_SPREAD = 0.25  # ...unless it is this far below the best hit
CONTEXT_COVERAGE = 0.5  # ...or it holds this share of the question's keywords
STRONG_COVERAGE = 0.66  # share of the question's keywords that makes a hit relevant on its own
WHERE_CHARS = 60  # a source's title or path in the prompt
HISTORY_TURNS = 6  # earlier chat turns sent with a question
HISTORY_CHARS = 500  # per earlier turn
SMALL_GGUF_BYTES = 1_000_000_000  # a GGUF file under this size (~1B parameters) is "small"
CHARS_PER_TOKEN = 3.5  # to turn a window in tokens into a character budget (English text)
PROMPT_TOKENS = 700  # the capable prompt without its sources, plus chat history


@dataclass(frozen=True)
class Profile:
    """How much context a kind of model gets and which prompt."""

    name: str  # small | capable
    prompt: str  # prompts/<prompt>.md
    items: int  # hits retrieved (the context is chosen from these)
    context_chars: int  # all sources together
    source_chars: int  # one source
    answer: str  # generate | extractive: what the person reads

    @property
    def capable(self) -> bool:
        return self.name == "capable"


def model_kind(llm) -> str:
    """``small`` or ``capable`` by backend and size: a GGUF file (``llm.path``) is small under
    ``SMALL_GGUF_BYTES``; an HTTP endpoint (``llm.base_url``) is capable; anything else (the
    scripted fake, no model) is small."""
    path = getattr(llm, "path", None)
    if path is not None:
        try:
            return "small" if path.stat().st_size < SMALL_GGUF_BYTES else "capable"
        except OSError:
            return "small"
    return "capable" if getattr(llm, "base_url", None) else "small"


def is_bundled(llm) -> bool:
    from memcli.backends.llm import DEFAULT_GGUF

    path = getattr(llm, "path", None)
    return path is not None and path.name == DEFAULT_GGUF


def profile_for(config, llm=None, *, kind: str | None = None, max_tokens: int | None = None
                ) -> Profile:
    """The profile for ``llm`` under ``config`` (``[ask] profile``, ``[ask] answer``,
    ``[ask.small]``, ``[ask.capable]``); ``kind`` forces one (benchmarks measure both)."""
    kind = kind or config.ask_profile
    if kind == "auto":
        kind = model_kind(llm)
    if kind not in ("small", "capable"):
        raise MemcliError(f"config: [ask] profile must be auto, small or capable, not {kind!r}")
    answer = config.ask_answer
    if answer == "auto":  # measured on benchmarks/qa.py (BENCHMARKS.md, "Answers")
        answer = "extractive" if llm is not None and is_bundled(llm) else "generate"
    if answer not in ("generate", "extractive"):
        raise MemcliError(f"config: [ask] answer must be auto, generate or extractive, not "
                          f"{answer!r}")
    if kind == "small":
        return Profile("small", config.ask_small_prompt, int(config.ask_context_items),
                       int(config.ask_small_context_chars), int(config.ask_small_source_chars),
                       answer)
    budget = int(config.ask_capable_context_chars)
    if budget <= 0:
        window = int(getattr(llm, "n_ctx", 0) or config.llm_n_ctx)
        reply = int(max_tokens or config.llm_max_tokens)
        budget = max(2000, int((window - reply - PROMPT_TOKENS) * CHARS_PER_TOKEN))
    return Profile("capable", config.ask_capable_prompt, int(config.ask_capable_items), budget,
                   int(config.ask_capable_source_chars), answer)


# ---- what may be evidence ---------------------------------------------------------------------------
def _norm(text: str) -> str:
    return " ".join((text or "").lower().split()).strip(" ?!.")


def is_own_output(hit: Hit, question: str, chat: str | None = None) -> bool:
    """memcli's own output, never evidence: a chat answer (role assistant), a turn of the chat
    that asks (``chat``: its external id), or the question itself as a chat stored it."""
    src = hit.source or {}
    if src.get("type") != CHAT_SOURCE:
        return False
    if hit.role == "assistant" or (chat is not None and src.get("conversation_id") == chat):
        return True
    return _norm(hit.text) == _norm(question)


# ---- relevance --------------------------------------------------------------------------------------
def keyword_coverage(qwords: list[str], text: str) -> float:
    """Share of the question's words (``query_words``, loosely stemmed) found in ``text``."""
    if not qwords:
        return 0.0
    have = {stem(w, LOOSE_SUFFIXES) for w in query_words(text)}
    return sum(1 for w in qwords if stem(w, LOOSE_SUFFIXES) in have) / len(qwords)


def strong_keyword_match(qwords: list[str], hit: Hit) -> bool:
    """Most of the question's topic words appear in the hit (at least two, or the only one)."""
    if not qwords:
        return False
    text = f"{hit.title or ''}\n{hit.text}"
    cov = keyword_coverage(qwords, text)
    matched = round(cov * len(qwords))
    return cov >= STRONG_COVERAGE and (matched >= 2 or len(qwords) == 1)


def is_relevant(hit: Hit, qwords: list[str], threshold: float) -> bool:
    """Close enough in meaning, a strong keyword match, or a fact digest set the attribute
    asked about on (``Hit.placed``: "Settled into our new place in Lyon", a residence, for
    "Where do I live?": no word in common, far for MiniLM)."""
    if hit.placed:
        return True
    if hit.similarity is not None and hit.similarity >= threshold:
        return True
    return strong_keyword_match(qwords, hit)


# ---- choosing the context ---------------------------------------------------------------------------
def select_context(hits: list[Hit], qwords: list[str], threshold: float,
                   budget: int = 2400, source_chars: int = 280) -> list[Hit]:
    """Small profile: the best hit, then those near the relevance bar (similarity within
    ``CONTEXT_MARGIN`` of the threshold and within ``CONTEXT_SPREAD`` of the best hit's, or
    holding ``CONTEXT_COVERAGE`` of the question's keywords), in rank order, within a character
    budget; a hit the ranking lifted as the value the question's time asks for (``Hit.lifted``:
    "Settled into our new place in Lyon" for "Where do I live?") is in too. Fewer, better
    sources keep a tiny model on topic and its first token fast."""
    out: list[Hit] = []
    used = 0
    best = max((h.similarity for h in hits if h.similarity is not None), default=0.0)
    floor = max(threshold - CONTEXT_MARGIN, best - CONTEXT_SPREAD)
    for i, h in enumerate(hits):
        near = h.lifted or (h.similarity is not None and h.similarity >= floor) or \
            keyword_coverage(qwords, f"{h.title or ''}\n{h.text}") >= CONTEXT_COVERAGE
        if i and not near:
            continue
        cost = min(len(h.text), source_chars) + SOURCE_OVERHEAD
        if out and used + cost > budget:
            break
        out.append(h)
        used += cost
    return out


def select_wide(hits: list[Hit], budget: int, source_chars: int) -> list[Hit]:
    """Capable profile: hits in rank order while they fit (a long text costs at most
    ``source_chars``; one that does not fit is skipped so shorter ones after it still can),
    then ordered by date, oldest first."""
    out: list[Hit] = []
    used = 0
    for h in hits:
        cost = min(len(h.text), source_chars) + SOURCE_OVERHEAD
        if out and used + cost > budget:
            continue
        out.append(h)
        used += cost
    return sorted(out, key=lambda h: (h.created_at or "", h.id))


def choose(profile: Profile, hits: list[Hit], qwords: list[str], threshold: float) -> list[Hit]:
    if profile.capable:
        return select_wide(hits, profile.context_chars, profile.source_chars)
    return select_context(hits, qwords, threshold, profile.context_chars, profile.source_chars)


# ---- the prompt -------------------------------------------------------------------------------------
def where(hit: Hit) -> str:
    """Title, conversation title or file path (not the bare source type: noise to a model)."""
    src = hit.source or {}
    return src.get("title") or hit.title or src.get("path") or ""


def quoted(text: str, width: int) -> str:
    """Stored text shown inside an answer or prompt: one line, and brackets neutralised so a note
    cannot smuggle in citation markers."""
    return one_line(text, width).replace("[", "(").replace("]", ")")


def _day(created_at: str | None) -> str:
    date = (created_at or "")[:10]
    try:
        return f"{date} ({datetime.strptime(date, '%Y-%m-%d'):%a})"
    except ValueError:
        return date


def excerpt(text: str, qwords: list[str], width: int) -> str:
    """``text`` when it fits in ``width``; else its first sentence and the sentences holding most
    of the question's words, in their order, joined by " … " (a long message's answer is rarely
    in its first ``width`` characters)."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    from memcli.core.text import sentences

    sents = sentences(text)
    order = sorted(range(1, len(sents)), key=lambda i: (-keyword_coverage(qwords, sents[i]), i))
    keep, used = {0}, len(sents[0]) if sents else 0
    for i in order:
        if used + len(sents[i]) + 3 > width:
            continue
        keep.add(i)
        used += len(sents[i]) + 3
    parts, last = [], -1
    for i in sorted(keep):
        parts.append(("… " if i != last + 1 and parts else "") + sents[i])
        last = i
    return " ".join(parts)


def format_source(n: int, hit: Hit, width: int = 280, *, capable: bool = False,
                  qwords: list[str] | None = None) -> str:
    """One numbered source for the prompt; its text is quoted data. The capable form names the
    weekday, says who spoke ("Caroline", "you" for the user, "assistant") and shows a long text
    as an excerpt around the question's words."""
    text = quoted(excerpt(hit.text, qwords, width) if capable and qwords else hit.text, width)
    if capable:
        meta = [_day(hit.created_at)]
        place = where(hit)
        if place:
            meta.append(quoted(place, WHERE_CHARS))
        who = speaker_name(hit.role) or {"user": "you", "assistant": "assistant"}.get(
            (hit.role or "").lower(), "")
        if who:
            meta.append(who)
        if hit.superseded:
            meta.append("superseded by a later fact")
        return f"[{n}] ({', '.join(m for m in meta if m)}) \"{text}\""
    meta = [(hit.created_at or "")[:10]]
    place = where(hit)
    if place:
        meta.append(quoted(place, WHERE_CHARS))
    if hit.role:
        meta.append(hit.role)
    return f"[{n}] ({', '.join(m for m in meta if m)}) \"{text}\""


def build_messages(question: str, hits: list[Hit], *, today: str,
                   history: list[dict] | None = None, profile: Profile | None = None
                   ) -> list[dict]:
    from memcli.services.citations import strip_markers
    from memcli.services.prompts import messages as prompt_messages

    capable = profile is not None and profile.capable
    width = profile.source_chars if profile else 280
    qwords = query_words(question)
    sources = "\n".join(format_source(i, h, width, capable=capable, qwords=qwords)
                        for i, h in enumerate(hits, 1))
    msgs = prompt_messages(profile.prompt if profile else "ask", today=_day(today) if capable
                           else today, sources=sources, question=question.strip())
    if history:
        turns = [{"role": t["role"],
                  "content": one_line(strip_markers(t.get("content", "")), HISTORY_CHARS)}
                 for t in history[-HISTORY_TURNS:] if t.get("role") in ("user", "assistant")]
        msgs = msgs[:-1] + turns + msgs[-1:]  # after the worked example, before the question
    return msgs


def static_prefix(prompt: str = "ask") -> list[dict]:
    """The messages of an ask prompt before the last one: no placeholders, no user data."""
    from memcli.services.prompts import messages as prompt_messages

    return prompt_messages(prompt, today="", sources="", question="")[:-1]
