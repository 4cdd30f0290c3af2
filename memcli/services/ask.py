"""`memcli ask`: answer a question from the memory, citing the items the answer rests on.

1. Retrieve with the hybrid search, narrowed to the date window the question names ("last month",
   "in May 2023"; relative to ``now``), falling back to all dates when the window holds nothing
   relevant.
2. Abstain — without calling the model — when nothing retrieved is relevant: the best cosine
   similarity is below ``config.ask_abstain_threshold`` and no hit covers most of the question's
   keywords.
3. Number the hits [1]..[k] in a compact context (date, title, role, truncated text). Source text
   is quoted data: brackets inside it are neutralised, the prompt says to ignore commands in it.
4. Stream the model's answer through ``CitationFilter``: markers ``[n]`` whose n is not in the
   context are dropped as they stream, so what the user sees is what is returned.
5. No valid citation left → the deterministic evidence list (the best hits, cited) is appended.
   ``use_llm=False`` returns only that evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from memcli.core.errors import MemcliError
from memcli.core.models import Filters, Hit
from memcli.core.text import LOOSE_SUFFIXES, one_line, query_words, stem
from memcli.services.citations import CitationFilter, strip_markers

ABSTAIN_TEXT = "I don't know: your memory doesn't seem to contain anything about that."
NO_LLM_HEAD = "Best evidence in your memory:"
EVIDENCE_HEAD = "Evidence from your memory:"
SOURCE_CHARS = 280  # per source in the prompt; the default model is tiny, keep the context short
SOURCE_OVERHEAD = 40  # budget counted per source on top of its text (number, date, title, role)
CONTEXT_CHARS = 2400  # all sources together (~600 tokens)
CONTEXT_MARGIN = 0.08  # below the abstain threshold, a hit still counts as context
CONTEXT_SPREAD = 0.25  # ...unless it is this far below the best hit
CONTEXT_COVERAGE = 0.5  # ...or it holds this share of the question's keywords
STRONG_COVERAGE = 0.66  # share of the question's keywords that makes a hit relevant on its own
WHERE_CHARS = 60  # a source's title or path in the prompt
EVIDENCE_ITEMS = 3  # hits listed when the answer cites nothing (or without a model)
EVIDENCE_CHARS = 160  # per hit in that list
HISTORY_TURNS = 6  # earlier chat turns sent with a question
HISTORY_CHARS = 500  # per earlier turn


@dataclass
class Citation:
    n: int
    id: int
    text: str
    source: dict
    created_at: str
    title: str | None
    kind: str

    def to_json(self) -> dict:
        return {"n": self.n, "id": self.id, "text": self.text, "source": self.source,
                "created_at": self.created_at, "title": self.title, "kind": self.kind}


@dataclass
class Answer:
    answer: str
    abstained: bool
    citations: list[Citation]
    hits: list  # list[Hit]: the numbered context; hits[n - 1] is source [n]
    model: str | None = None  # the model that wrote the answer (None: retrieval only)
    window: tuple[str, str] | None = None  # the date window retrieval was narrowed to
    used_evidence: bool = False  # the deterministic evidence list was appended / returned
    messages: list[dict] = field(default_factory=list, repr=False)  # what the model was sent

    def to_json(self) -> dict:
        out = {"answer": self.answer, "abstained": self.abstained,
               "citations": [c.to_json() for c in self.citations], "model": self.model}
        if self.window:
            out["time_window"] = {"since": self.window[0], "until": self.window[1]}
        return out


# ---- relevance ------------------------------------------------------------------------------------
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
    if hit.similarity is not None and hit.similarity >= threshold:
        return True
    return strong_keyword_match(qwords, hit)


# ---- context --------------------------------------------------------------------------------------
def _where(hit: Hit) -> str:
    """Title, conversation title or file path (not the bare source type: noise to a model)."""
    src = hit.source or {}
    return src.get("title") or hit.title or src.get("path") or ""


def _quoted(text: str, width: int) -> str:
    """Stored text shown inside an answer or prompt: one line, and brackets neutralised so a note
    cannot smuggle in citation markers."""
    return one_line(text, width).replace("[", "(").replace("]", ")")


def format_source(n: int, hit: Hit, width: int = SOURCE_CHARS) -> str:
    """One numbered source for the prompt; its text is quoted data."""
    text = _quoted(hit.text, width)
    meta = [(hit.created_at or "")[:10]]
    where = _where(hit)
    if where:
        meta.append(_quoted(where, WHERE_CHARS))
    if hit.role:
        meta.append(hit.role)
    return f"[{n}] ({', '.join(m for m in meta if m)}) \"{text}\""


def build_messages(question: str, hits: list[Hit], *, today: str,
                   history: list[dict] | None = None) -> list[dict]:
    from memcli.services.prompts import messages as prompt_messages

    sources = "\n".join(format_source(i, h) for i, h in enumerate(hits, 1))
    msgs = prompt_messages("ask", today=today, sources=sources, question=question.strip())
    if history:
        turns = [{"role": t["role"],
                  "content": one_line(strip_markers(t.get("content", "")), HISTORY_CHARS)}
                 for t in history[-HISTORY_TURNS:] if t.get("role") in ("user", "assistant")]
        msgs = msgs[:-1] + turns + msgs[-1:]  # after the worked example, before the question
    return msgs


def select_context(hits: list[Hit], qwords: list[str], threshold: float,
                   budget: int = CONTEXT_CHARS) -> list[Hit]:
    """The hits worth showing the model: the best one, then those near the relevance bar
    (similarity within ``CONTEXT_MARGIN`` of the threshold and within ``CONTEXT_SPREAD`` of the
    best hit's, or holding ``CONTEXT_COVERAGE`` of the question's keywords), in rank order,
    within a character budget. Fewer, better sources keep a tiny model on topic and its first
    token fast."""
    out: list[Hit] = []
    used = 0
    best = max((h.similarity for h in hits if h.similarity is not None), default=0.0)
    floor = max(threshold - CONTEXT_MARGIN, best - CONTEXT_SPREAD)
    for i, h in enumerate(hits):
        near = (h.similarity is not None and h.similarity >= floor) or \
            keyword_coverage(qwords, f"{h.title or ''}\n{h.text}") >= CONTEXT_COVERAGE
        if i and not near:
            continue
        cost = min(len(h.text), SOURCE_CHARS) + SOURCE_OVERHEAD
        if out and used + cost > budget:
            break
        out.append(h)
        used += cost
    return out


def evidence_text(hits: list[Hit], numbers: list[int]) -> str:
    lines = []
    for n in numbers:
        h = hits[n - 1]
        date = (h.created_at or "")[:10]
        lines.append(f"[{n}] {date}: {_quoted(h.text, EVIDENCE_CHARS)}")
    return "\n".join(lines)


def _evidence_numbers(hits: list[Hit], qwords: list[str], threshold: float) -> list[int]:
    """The best hits to show as evidence: the relevant ones in rank order (else the first)."""
    nums = [i for i, h in enumerate(hits, 1) if is_relevant(h, qwords, threshold)]
    return nums[:EVIDENCE_ITEMS] or ([1] if hits else [])


# ---- retrieval --------------------------------------------------------------------------------------
def retrieve(memory, question: str, *, limit: int, filters: Filters | None, now: datetime,
             relevant: Callable[[Hit, str], bool] | None = None
             ) -> tuple[list[Hit], tuple[str, str] | None, str]:
    """Hits for the question, narrowed to the date window it names when that window holds a
    relevant hit (``relevant(hit, query)``; any hit when None), else from all dates. Explicit
    ``filters.since/until`` win over the question's words. Returns (hits, window used or None,
    the query the search saw: the question without its time phrase)."""
    from memcli.retrieval.dates import strip_phrase, time_window

    filters = filters or Filters()
    window = None if (filters.since or filters.until) else time_window(question, now)
    query = strip_phrase(question, window)
    if window is not None:
        since, until = window.iso()
        narrowed = Filters(**{**filters.__dict__, "since": since, "until": until})
        hits = memory.search(query, limit=limit, filters=narrowed, now=now)
        if hits and (relevant is None or any(relevant(h, query) for h in hits)):
            return hits, (since, until), query
    hits = memory.search(query, limit=limit, filters=None if filters.empty() else filters, now=now)
    return hits, None, query


def retrieve_for_question(memory, question: str, *, limit: int, now: datetime,
                          filters: Filters | None = None):
    """What `memcli ask` retrieves: ``retrieve`` with the date window kept only when it holds a hit
    relevant by ask's own test (similarity ≥ ``ask_abstain_threshold`` or a strong keyword match).
    benchmarks/locomo.py ``--ask`` measures this path."""
    threshold = float(memory.config.ask_abstain_threshold)
    return retrieve(memory, question, limit=limit, filters=filters, now=now,
                    relevant=lambda h, q: is_relevant(h, query_words(q), threshold))


@dataclass
class Recall:
    """What `memcli ask` would put in front of a model for a question, before any model runs: the
    date window retrieval was narrowed to, whether memcli abstains, and the numbered context
    (``context[n - 1]`` is source ``[n]``). Front ends whose own model writes the answer (the MCP
    server's ``recall`` tool) use it as it is."""

    question: str
    query: str  # what the search saw: the question without its time phrase
    window: tuple[str, str] | None
    abstained: bool
    context: list[Hit]  # empty when abstained
    hits: list[Hit]  # everything retrieved; the context is chosen from these

    def to_json(self) -> dict:
        return {"question": self.question, "abstained": self.abstained,
                "time_window": ({"since": self.window[0], "until": self.window[1]}
                                if self.window else None),
                "context": [citation_of(n, h).to_json() for n, h in enumerate(self.context, 1)]}


def citation_of(n: int, hit: Hit) -> Citation:
    return Citation(n, hit.id, hit.text, hit.source, hit.created_at, hit.title, hit.kind)


def recall(memory, question: str, *, now: datetime | None = None, limit: int | None = None,
           filters: Filters | None = None) -> Recall:
    """Retrieve for ``question`` as `memcli ask` does and choose the context (module docstring,
    steps 1-3). Raises MemcliError on an empty question or a limit below 1."""
    from memcli.core.timeutil import utcnow

    question = (question or "").strip()
    if not question:
        raise MemcliError("the question is empty")
    limit = memory.config.ask_context_items if limit is None else int(limit)
    if limit < 1:
        raise MemcliError("-n must be at least 1")
    threshold = float(memory.config.ask_abstain_threshold)
    hits, window, query = retrieve_for_question(memory, question, limit=limit, filters=filters,
                                                now=now or utcnow())
    qwords = query_words(query)
    if not any(is_relevant(h, qwords, threshold) for h in hits):
        return Recall(question, query, window, True, [], hits)
    return Recall(question, query, window, False, select_context(hits, qwords, threshold), hits)


# ---- the whole thing ------------------------------------------------------------------------------
def ask(memory, question: str, *, limit: int | None = None, now: datetime | None = None, llm=None,
        use_llm: bool = True, on_token: Callable[[str], None] | None = None,
        history: list[dict] | None = None, filters: Filters | None = None,
        max_tokens: int | None = None) -> Answer:
    """Answer ``question`` from ``memory`` with checked citations (see the module docstring).

    ``on_token`` receives the answer text as it is produced (already citation-checked), including
    any evidence list appended at the end; ``Answer.answer`` is exactly the concatenation."""
    from memcli.core.timeutil import utcnow

    if not (question or "").strip():
        raise MemcliError("the question is empty")
    if limit is not None and int(limit) < 1:
        raise MemcliError("-n must be at least 1")
    cfg = memory.config
    now = now or utcnow()
    emit = on_token or (lambda _piece: None)
    if use_llm and llm is None:
        llm = memory.llm  # built now (cheap): a missing model is reported before any work
    loading = _start_preload(llm) if use_llm else None
    if loading is not None:
        # llama-cpp silences model loading by pointing the process's stdout/stderr at /dev/null:
        # nothing may be written while the thread loads, so the first write waits for it
        def emit(piece: str, _emit=emit) -> None:
            loading.join()
            _emit(piece)
    ready = loading.join if loading is not None else (lambda: None)
    try:
        return _ask(memory, question, cfg, limit, now, llm, use_llm, emit, history, filters,
                    max_tokens, ready)
    finally:
        if loading is not None:
            loading.join()  # never exit (or print an error) while a model loads in a thread


def static_prefix() -> list[dict]:
    """The messages of the ask prompt before the last one: no placeholders, no user data."""
    from memcli.services.prompts import messages as prompt_messages

    return prompt_messages("ask", today="", sources="", question="")[:-1]


def _start_preload(llm):
    """Load an in-process model, and its state after the static prompt prefix, in a thread
    while retrieval runs (the first token comes sooner). Errors are left for the real call."""
    import threading

    preload = getattr(llm, "preload", None)
    if not callable(preload):
        return None

    def run():
        try:
            preload(static_prefix())
        except Exception:  # noqa: BLE001 - the stream() call reports it
            pass

    thread = threading.Thread(target=run, name="memcli-llm-preload", daemon=True)
    thread.start()
    return thread


def _ask(memory, question, cfg, limit, now, llm, use_llm, emit, history, filters, max_tokens,
         ready) -> Answer:
    threshold = float(cfg.ask_abstain_threshold)
    found = recall(memory, question, now=now, limit=limit, filters=filters)
    window = found.window
    if found.abstained:
        emit(ABSTAIN_TEXT)
        return Answer(ABSTAIN_TEXT, True, [], found.hits, None, window)
    question, hits, qwords = found.question, found.context, query_words(found.query)

    def cite(numbers: list[int]) -> list[Citation]:
        return [citation_of(n, hits[n - 1]) for n in numbers]

    if not use_llm:
        nums = _evidence_numbers(hits, qwords, threshold)
        text = NO_LLM_HEAD + "\n" + evidence_text(hits, nums)
        emit(text)
        _touch(memory, hits, nums)
        return Answer(text, False, cite(nums), hits, None, window, used_evidence=True)

    messages = build_messages(question, hits, today=now.strftime("%Y-%m-%d"), history=history)
    filt = CitationFilter(len(hits))
    parts: list[str] = []
    ready()  # the preload thread is done (it holds the model while priming it)
    for piece in llm.stream(messages, max_tokens=max_tokens or cfg.llm_max_tokens,
                            temperature=cfg.llm_temperature):
        out = filt.feed(piece)
        if out:
            parts.append(out)
            emit(out)
    tail = filt.flush()
    if tail:
        parts.append(tail)
        emit(tail)
    text = "".join(parts)
    nums = list(filt.cited)
    used_evidence = False
    if not nums:  # nothing checkable: show the evidence it should have cited
        nums = _evidence_numbers(hits, qwords, threshold)
        sep = "\n\n" if text else ""
        extra = sep + EVIDENCE_HEAD + "\n" + evidence_text(hits, nums)
        emit(extra)
        text += extra
        used_evidence = True
    _touch(memory, hits, nums)
    return Answer(text, False, cite(nums), hits, getattr(llm, "model_id", None), window,
                  used_evidence=used_evidence, messages=messages)


def _touch(memory, hits: list[Hit], numbers: list[int]) -> None:
    """Cited items were useful: count the access (a retention signal); never fail the answer."""
    try:
        memory.store.touch([hits[n - 1].id for n in numbers])
    except Exception:  # noqa: BLE001 - bookkeeping only (e.g. a read-only database)
        pass

