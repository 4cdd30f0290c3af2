"""`memcli ask`: answer a question from the memory, citing the items the answer rests on.

1. Retrieve with the hybrid search, narrowed to the date window the question names ("last month",
   "in May 2023"; relative to ``now``), falling back to all dates when the window holds nothing
   relevant. memcli's own output is never evidence: chat answers, the asking chat's turns and a
   stored copy of the question are dropped here (``answer_context.is_own_output``), so every
   front end (CLI, chat, MCP) gets the rule.
2. Abstain — without calling the model — when nothing retrieved is relevant: the best cosine
   similarity is below ``config.ask_abstain_threshold`` and no hit covers most of the question's
   keywords.
3. Choose the context by the model's profile (``answer_context.profile_for``: small or capable)
   and number it [1]..[k]. Source text is quoted data: brackets inside it are neutralised, the
   prompt says to ignore commands in it.
4. Extractive answer (``--no-llm``, and the bundled model's default): the best sentences of the
   best sources, quoted, cited, dated (``extractive``). Generated answer: the model's text streams
   through ``CitationFilter`` (markers outside 1..k dropped) and ``SentenceGate`` (small models:
   only grounded, cited sentences that are not prompt echoes); nothing left → the extractive
   answer instead, so the bundled model is never worse than the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from memcli.core.errors import MemcliError
from memcli.core.models import Filters, Hit
from memcli.core.text import query_words
from memcli.retrieval.graph import DERIVED
from memcli.services.answer_context import (
    Profile,
    build_messages,
    choose,
    is_own_output,
    is_relevant,
    profile_for,
    static_prefix,
)
from memcli.services.citations import CitationFilter
from memcli.services.extractive import evidence_numbers, extractive_answer
from memcli.services.grounding import SentenceGate

ABSTAIN_TEXT = "I don't know: your memory doesn't seem to contain anything about that."
EVIDENCE_HEAD = "Evidence from your memory:"
OWN_OUTPUT_SLACK = 10  # extra hits fetched so dropping memcli's own output still leaves `limit`


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


def context_json(hits: list[Hit]) -> list[dict]:
    """The numbered items a model was given (or an extractive answer chose from)."""
    return [{"n": n, "id": h.id, "source": h.source, "created_at": h.created_at,
             "kind": h.kind} for n, h in enumerate(hits, 1)]


@dataclass
class Answer:
    answer: str
    abstained: bool
    citations: list[Citation]
    hits: list  # list[Hit]: the numbered context; hits[n - 1] is source [n]
    model: str | None = None  # the model that wrote the answer (None: nothing generated)
    window: tuple[str, str] | None = None  # the date window retrieval was narrowed to
    used_evidence: bool = False  # the answer is (or ends with) quotes of the evidence
    messages: list[dict] = field(default_factory=list, repr=False)  # what the model was sent
    own_text: str = ""  # what the model wrote and the checks kept ("" for an extractive answer)
    profile: str = "small"
    context: list | None = None  # what the model saw, when not ``hits`` (abstained: nothing)

    def to_json(self) -> dict:
        seen = self.hits if self.context is None else self.context
        out = {"answer": self.answer, "abstained": self.abstained,
               "citations": [c.to_json() for c in self.citations], "model": self.model,
               "context": context_json(seen)}
        if self.window:
            out["time_window"] = {"since": self.window[0], "until": self.window[1]}
        return out


# ---- retrieval --------------------------------------------------------------------------------------
def retrieve(memory, question: str, *, limit: int, filters: Filters | None, now: datetime,
             relevant: Callable[[Hit, str], bool] | None = None, chat: str | None = None
             ) -> tuple[list[Hit], tuple[str, str] | None, str]:
    """Hits for the question, narrowed to the date window it names when that window holds a
    relevant hit (``relevant(hit, query)``; any hit when None), else from all dates. Explicit
    ``filters.since/until`` win over the question's words. memcli's own output
    (``is_own_output``; ``chat``: the asking chat's id) is never among them. Returns (hits,
    window used or None, the query the search saw: the question without its time phrase)."""
    from memcli.retrieval.dates import strip_phrase, time_window

    def search(f: Filters | None) -> list[Hit]:
        hits = memory.search(query, limit=limit + OWN_OUTPUT_SLACK, filters=f, now=now)
        return [h for h in hits if not is_own_output(h, question, chat)][:limit]

    filters = filters or Filters()
    window = None if (filters.since or filters.until) else time_window(question, now)
    query = strip_phrase(question, window)
    if window is not None:
        since, until = window.iso()
        hits = search(Filters(**{**filters.__dict__, "since": since, "until": until}))
        if hits and (relevant is None or any(relevant(h, query) for h in hits)):
            return hits, (since, until), query
    hits = search(None if filters.empty() else filters)
    return hits, None, query


def retrieve_for_question(memory, question: str, *, limit: int, now: datetime,
                          filters: Filters | None = None, chat: str | None = None):
    """What `memcli ask` retrieves: ``retrieve`` with the date window kept only when it holds a hit
    relevant by ask's own test (similarity ≥ ``ask_abstain_threshold`` or a strong keyword match).
    benchmarks/locomo.py ``--ask`` measures this path."""
    threshold = float(memory.config.ask_abstain_threshold)
    return retrieve(memory, question, limit=limit, filters=filters, now=now, chat=chat,
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
    profile: str = "small"  # the profile that chose the context
    ranked: list[int] = field(default_factory=list)  # source numbers, best hit first

    def to_json(self) -> dict:
        return {"question": self.question, "abstained": self.abstained,
                "time_window": ({"since": self.window[0], "until": self.window[1]}
                                if self.window else None),
                "context": [citation_of(n, h).to_json() for n, h in enumerate(self.context, 1)],
                "ranked": self.ranked, "profile": self.profile}


def citation_of(n: int, hit: Hit) -> Citation:
    return Citation(n, hit.id, hit.text, hit.source, hit.created_at, hit.title, hit.kind)


def recall(memory, question: str, *, now: datetime | None = None, limit: int | None = None,
           filters: Filters | None = None, chat: str | None = None,
           profile: Profile | str | None = None, llm=None) -> Recall:
    """Retrieve for ``question`` as `memcli ask` does and choose the context (module docstring,
    steps 1-3). ``profile``: a Profile, or "small"/"capable" (default: ``[ask] profile``, judged
    for ``llm``); ``chat``: the external id of the chat asking (its turns are history, not
    evidence). Raises MemcliError on an empty question or a limit below 1."""
    from memcli.core.timeutil import utcnow

    question = (question or "").strip()
    if not question:
        raise MemcliError("the question is empty")
    if not isinstance(profile, Profile):
        profile = profile_for(memory.config, llm, kind=profile)
    limit = profile.items if limit is None else int(limit)
    if limit < 1:
        raise MemcliError("-n must be at least 1")
    threshold = float(memory.config.ask_abstain_threshold)
    hits, window, query = retrieve_for_question(memory, question, limit=limit, filters=filters,
                                                now=now or utcnow(), chat=chat)
    qwords = query_words(query)
    if not any(is_relevant(h, qwords, threshold) for h in hits):
        return Recall(question, query, window, True, [], hits, profile.name)
    context = choose(profile, hits, qwords, threshold)
    rank = {h.id: i for i, h in enumerate(hits)}
    ranked = sorted(range(1, len(context) + 1), key=lambda n: rank.get(context[n - 1].id, 0))
    return Recall(question, query, window, False, context, hits, profile.name, ranked)


# ---- the whole thing ------------------------------------------------------------------------------
def ask(memory, question: str, *, limit: int | None = None, now: datetime | None = None, llm=None,
        use_llm: bool = True, on_token: Callable[[str], None] | None = None,
        history: list[dict] | None = None, filters: Filters | None = None,
        max_tokens: int | None = None, chat: str | None = None,
        profile: str | None = None) -> Answer:
    """Answer ``question`` from ``memory`` with checked citations (see the module docstring).

    ``on_token`` receives the answer text as it is produced (already checked), including any
    evidence appended at the end; ``Answer.answer`` is exactly the concatenation. ``chat``: the
    external id of the chat asking; ``profile``: "small" or "capable" instead of the configured
    choice."""
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
    prof = profile_for(cfg, llm if use_llm else None, kind=profile, max_tokens=max_tokens)
    generate = use_llm and prof.answer == "generate"
    loading = _start_preload(llm, prof.prompt) if generate else None
    if loading is not None:
        # llama-cpp silences model loading by pointing the process's stdout/stderr at /dev/null:
        # nothing may be written while the thread loads, so the first write waits for it
        def emit(piece: str, _emit=emit) -> None:
            loading.join()
            _emit(piece)
    ready = loading.join if loading is not None else (lambda: None)
    try:
        found = recall(memory, question, now=now, limit=limit, filters=filters, chat=chat,
                       profile=prof)
        if found.abstained:
            emit(ABSTAIN_TEXT)
            return Answer(ABSTAIN_TEXT, True, [], found.hits, None, found.window,
                          profile=prof.name, context=[])
        if not generate:
            return _extractive(memory, found, emit, prof)
        return _generate(memory, found, cfg, now, llm, emit, history, max_tokens, ready, prof)
    finally:
        if loading is not None:
            loading.join()  # never exit (or print an error) while a model loads in a thread


def _start_preload(llm, prompt: str = "ask"):
    """Load an in-process model, and its state after the static prompt prefix, in a thread
    while retrieval runs (the first token comes sooner). Errors are left for the real call."""
    import threading

    preload = getattr(llm, "preload", None)
    if not callable(preload):
        return None

    def run():
        try:
            preload(static_prefix(prompt))
        except Exception:  # noqa: BLE001 - the stream() call reports it
            pass

    thread = threading.Thread(target=run, name="memcli-llm-preload", daemon=True)
    thread.start()
    return thread


def _cite(hits: list[Hit], numbers: list[int]) -> list[Citation]:
    return [citation_of(n, hits[n - 1]) for n in numbers]


def _quotes(memory, found: Recall) -> tuple[str, list[int]]:
    threshold = float(memory.config.ask_abstain_threshold)
    qwords = query_words(found.query)
    derived = [h for h in found.context if h.kind in DERIVED]
    rests_on = memory.store.sources_map([h.id for h in derived]) if derived else {}
    nums = evidence_numbers(found.context, qwords, threshold, found.ranked, rests_on)
    # the person's own words stand for the notes derived from them; a message that stated a
    # value since superseded is quoted as "earlier", as its superseded fact would be
    current = {s for h in derived if not h.superseded for s in rests_on.get(h.id, ())}
    stale = {s for h in derived if h.superseded for s in rests_on.get(h.id, ())} - current
    return extractive_answer(found.context, nums, qwords, stale)


def _extractive(memory, found: Recall, emit, prof: Profile) -> Answer:
    text, nums = _quotes(memory, found)
    emit(text)
    _touch(memory, found.context, nums)
    return Answer(text, False, _cite(found.context, nums), found.context, None, found.window,
                  used_evidence=True, profile=prof.name)


def _generate(memory, found: Recall, cfg, now, llm, emit, history, max_tokens, ready,
              prof: Profile) -> Answer:
    hits = found.context
    messages = build_messages(found.question, hits, today=now.strftime("%Y-%m-%d"),
                              history=history, profile=prof)
    filt = CitationFilter(len(hits))
    gate = SentenceGate(hits, found.question, strict=not prof.capable)
    ready()  # the preload thread is done (it holds the model while priming it)
    for piece in llm.stream(messages, max_tokens=max_tokens or cfg.llm_max_tokens,
                            temperature=cfg.llm_temperature):
        out = gate.feed(filt.feed(piece))
        if out:
            emit(out)
    tail = gate.feed(filt.flush()) + gate.flush()
    if tail:
        emit(tail)
    text, nums = gate.text, gate.cited
    model = getattr(llm, "model_id", None)
    if prof.capable and not nums and gate.only_dont_know():  # the sources do not say
        return Answer(text, True, [], hits, model, found.window, messages=messages,
                      own_text=text, profile=prof.name)
    if nums:
        _touch(memory, hits, nums)
        return Answer(text, False, _cite(hits, nums), hits, model, found.window,
                      messages=messages, own_text=text, profile=prof.name)
    quotes, nums = _quotes(memory, found)  # nothing checkable: quote the evidence instead
    extra = (("\n\n" + EVIDENCE_HEAD + "\n") if text else "") + quotes
    emit(extra)
    _touch(memory, hits, nums)
    return Answer(text + extra, False, _cite(hits, nums), hits, model if text else None,
                  found.window, used_evidence=True, messages=messages, own_text=text,
                  profile=prof.name)


def _touch(memory, hits: list[Hit], numbers: list[int]) -> None:
    """Cited items were useful: count the access (a retention signal); never fail the answer."""
    try:
        memory.store.touch([hits[n - 1].id for n in numbers])
    except Exception:  # noqa: BLE001 - bookkeeping only (e.g. a read-only database)
        pass
