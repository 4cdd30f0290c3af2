"""Scripts written without spaces between words (Chinese, Japanese, Thai, Lao, Khmer, Myanmar) and
Korean, whose particles glue onto words: FTS5's unicode61 tokenizer keeps a whole run of them as
one token, so a word inside a sentence cannot be found. memcli indexes such runs as overlapping
character bigrams plus single characters (the ``items_grams`` table, see memcli/store) — the
classic CJK indexing of Lucene's CJKAnalyzer — and searches a query's runs the same way: a
two-character word (护照, 여권) is one bigram, a longer one a run of bigrams, one character itself.
Pure and stdlib only."""

from __future__ import annotations

import re

# Hangul Jamo, Thai, Lao, Tibetan, Myanmar, Khmer, CJK radicals/punctuation-free ideographs, kana,
# Hangul syllables, compatibility ideographs, half-width katakana, CJK extensions B-F (plane 2).
_RANGES = ("\u0e00-\u0e7f\u0e80-\u0eff\u0f00-\u0fff\u1000-\u109f\u1100-\u11ff\u1780-\u17ff"
           "\u2e80-\u2fdf\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
           "\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f")
UNSEGMENTED = re.compile(f"[{_RANGES}]+")
MAX_QUERY_GRAMS = 64  # as fts_query caps its words


def has_unsegmented(text: str) -> bool:
    return UNSEGMENTED.search(text or "") is not None


def _grams(run: str) -> list[str]:
    return [run[i:i + 2] for i in range(len(run) - 1)]


def gram_text(text: str) -> str:
    """What the gram index stores for ``text``: each character of every unsegmented run and each
    pair of neighbours, space-separated ('' when the text has none)."""
    out: list[str] = []
    for run in UNSEGMENTED.findall(text or ""):
        out += list(run) + _grams(run)
    return " ".join(out)


def item_grams(title: str | None, text: str, tags: str | None) -> str:
    """The gram-index row of an item: the grams of its title, text and tags ('' = no row)."""
    return gram_text(" ".join(p for p in (title, text, tags) if p))


def gram_query(text: str) -> str:
    """A safe FTS5 expression for the unsegmented runs of a query: their bigrams (a one-character
    run: the character), quoted and OR-ed, so BM25 rewards the item holding most of them."""
    out: list[str] = []
    for run in UNSEGMENTED.findall(text or ""):
        out += _grams(run) if len(run) > 1 else [run]
    return " OR ".join(f'"{g}"' for g in list(dict.fromkeys(out))[:MAX_QUERY_GRAMS])
