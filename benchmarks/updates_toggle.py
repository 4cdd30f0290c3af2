"""Run another benchmark with this issue's (14) changes switched off, to compare in one tree:
attributes by meaning (digest/attributes.by_meaning), tentative notes (extract.TENTATIVE_MIN),
semicolons read as prose (statements._CODE) and the restatement reorder by the question's words
(retrieval/validity.BY_WORDS). The same tree with and without them, so other work in the tree
does not move the comparison.

    .venv/bin/python benchmarks/updates_toggle.py off locomo --work DIR --digest --ask --no-baselines
    .venv/bin/python benchmarks/updates_toggle.py on locomo --work DIR2 --digest --ask --no-baselines
"""

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


def main() -> int:
    mode, bench, *rest = sys.argv[1:]
    if mode == "off":
        switch_off()
    module = importlib.import_module(bench)
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
