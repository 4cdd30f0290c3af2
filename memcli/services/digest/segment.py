"""Topic segments (SeCom-like: cut where the embedding similarity between consecutive windows of
messages drops) and extractive summaries (the deterministic fallback for the LLM's)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from memcli.core.statements import is_prose, statement_score, strip_code
from memcli.core.text import content_words, doc_freq, keywords, sentences


def segment(vectors: np.ndarray, *, window: int = 3, min_len: int = 6, max_len: int = 40
            ) -> list[tuple[int, int]]:
    """Split ``n`` consecutive messages into topic segments; returns [start, end) index pairs.

    The gap score at boundary ``i`` (between message i-1 and i) is the cosine similarity of the
    mean vector of the ``window`` messages before and after it. Boundaries are local minima whose
    score is below mean − 0.5·std ("depth" cut, as in TextTiling/SeCom), at least ``min_len``
    messages apart; segments longer than ``max_len`` are split at their lowest gap."""
    n = len(vectors)
    if n < 2 * min_len:
        return [(0, n)] if n else []
    v = np.asarray(vectors, dtype=np.float32)
    gaps = np.ones(n, dtype=np.float32)
    for i in range(1, n):
        a = v[max(0, i - window):i].mean(axis=0)
        b = v[i:min(n, i + window)].mean(axis=0)
        na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
        gaps[i] = float(a @ b) / (na * nb) if na and nb else 1.0
    inner = gaps[1:]
    cut = float(inner.mean() - 0.5 * inner.std())
    cands = [i for i in range(min_len, n - min_len + 1)
             if gaps[i] < cut and gaps[i] <= gaps[i - 1] and (i + 1 >= n or gaps[i] <= gaps[i + 1])]
    cands.sort(key=lambda i: gaps[i])
    bounds: list[int] = []
    for i in cands:
        if all(abs(i - b) >= min_len for b in bounds):
            bounds.append(i)
    edges = [0, *sorted(bounds), n]
    out: list[tuple[int, int]] = []
    for s, e in zip(edges, edges[1:]):
        out.extend(_split_long(gaps, s, e, min_len, max_len))
    return out


def _split_long(gaps, s: int, e: int, min_len: int, max_len: int) -> list[tuple[int, int]]:
    if e - s <= max_len:
        return [(s, e)]
    lo, hi = s + min_len, e - min_len
    i = int(lo + np.argmin(gaps[lo:hi + 1])) if hi >= lo else (s + e) // 2
    return _split_long(gaps, s, i, min_len, max_len) + _split_long(gaps, i, e, min_len, max_len)


@lru_cache(maxsize=4096)
def _prose_sentences(text: str) -> tuple[tuple[str, float], ...]:
    """(sentence, how well it sums up its message) for the prose sentences of a message with two
    content words or more, in order. Cached: a message is read by its segment's summary and by
    its conversation's."""
    out = []
    for sent in sentences(strip_code(text)):
        if is_prose(sent):
            n = len(content_words(sent))
            if n >= 2:
                out.append((sent, statement_score(sent) + 0.02 * n))
    return tuple(out)


def extractive_summary(msgs: list[dict], vectors: np.ndarray, *, max_sentences: int = 3,
                       max_chars: int = 480) -> tuple[str, list[str], list[int]]:
    """(summary text, keywords, indexes of the messages used). The first thing a person said (in
    a chat with an assistant: the request) leads; then the prose sentences of the messages closest
    to the segment's centroid, one per message, in conversation order. Code is never quoted."""
    v = np.asarray(vectors, dtype=np.float32)
    centroid = v.mean(axis=0)
    norm = float(np.linalg.norm(centroid)) or 1.0
    central = v @ (centroid / norm)
    scored = []
    lead = None
    for i, m in enumerate(msgs):
        sents = _prose_sentences(m["text"])
        if not sents:
            continue
        if lead is None and m.get("_speaker"):
            lead = (i, sents[0][0])
        best = max(sents, key=lambda t: t[1])[0]
        bonus = 0.1 if m.get("_speaker") else 0.0
        scored.append((float(central[i]) + 0.15 * min(3.0, statement_score(best)) + bonus,
                       i, best))
    scored.sort(key=lambda t: -t[0])
    chosen = [lead] if lead else []
    for _, i, sent in scored:
        if len(chosen) >= max_sentences:
            break
        if all(i != j for j, _ in chosen):
            chosen.append((i, sent))
    chosen.sort()
    parts = []
    for i, sent in chosen:
        who = msgs[i].get("_speaker") or msgs[i].get("role") or ""
        sent = sent if len(sent) <= 200 else sent[:199] + "…"
        parts.append(f"{who}: {sent}" if who else sent)
    text = " … ".join(parts)[:max_chars]
    texts = [strip_code(m["text"]) for m in msgs]
    kws = keywords(" ".join(texts), corpus_df=doc_freq(texts), n_docs=len(texts), k=5)
    return text, kws, [i for i, _ in chosen]
