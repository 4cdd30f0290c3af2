"""Run another benchmark with this issue's (14) changes switched off, to compare in one tree:
attributes by meaning (digest/attributes.by_meaning), tentative notes (extract.TENTATIVE_MIN),
semicolons read as prose (statements._CODE) and the restatement reorder by the question's words
(retrieval/validity.BY_WORDS). The same tree with and without them, so other work in the tree
does not move the comparison.

    .venv/bin/python benchmarks/updates_toggle.py off locomo --work DIR --digest --ask --no-baselines
    .venv/bin/python benchmarks/updates_toggle.py on locomo --work DIR2 --digest --ask --no-baselines
    .venv/bin/python benchmarks/updates_toggle.py off4 updates --synthetic --split unseen2

``off4`` switches off only the fourth round (switch_off_round4), ``off5`` only the fifth
(switch_off_round5)."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def switch_off() -> None:
    from memcli.core import statements
    from memcli.retrieval import validity
    from memcli.services.digest import extract, pipeline

    pipeline.by_meaning = lambda embedder, cands, vecs: (cands, vecs)
    extract.TENTATIVE_MIN = float("inf")
    statements._CODE = re.compile(r"[=(){}\[\];<>`]|\w\.\w+\(|^\s*(import|def|class|return|for|if)\b")
    validity.BY_WORDS = False


ROUND4 = ("instrument", "doctor", "bank", "commute", "team", "provider", "device", "insurance")


def switch_off_round4() -> None:
    """Only the fourth round (2026-12-01 16:20-17:30 UTC) off: the question's attribute by
    meaning leading search (retrieval/attribute_query), the wider attribute catalogue, the weak
    topic placement, a sentence with no person in it read as the speaker's, and the cosine guard
    on pairs placed by meaning."""
    from memcli.core import attribute_words
    from memcli.retrieval import attribute_meaning, hybrid
    from memcli.services.digest import attributes, updates

    hybrid.question_attribute = lambda *args, **kwargs: None
    for name in ROUND4:
        attribute_meaning.PROTOTYPES.pop(name, None)
    attribute_meaning._CACHE.clear()
    attributes.topic_of = lambda embedder, vector, sentence: None
    attribute_words._THIRD_SUBJECT = re.compile("")  # no word for the speaker: not theirs
    updates.close_when_by_meaning = lambda store, row, other: True


def switch_off_round5() -> None:
    """Only the fifth round (2026-12-01 17:20-18:05 UTC) off: "before", "previously", "former"
    back among the keyword terms (retrieval/hybrid.TIME_CUE_KEYWORDS), and a line told in the
    same words again and again dated by its latest telling again (attribute_query.ROUTINE)."""
    from memcli.retrieval import attribute_query, hybrid

    hybrid.TIME_CUE_KEYWORDS = True
    attribute_query.ROUTINE = 10**9


def main() -> int:
    mode, bench, *rest = sys.argv[1:]
    if mode == "off":
        switch_off()
    elif mode == "off4":
        switch_off_round4()
    elif mode == "off5":
        switch_off_round5()
    module = importlib.import_module(bench)
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
