"""benchmarks/rerank_probe.py (the query-likelihood probe) and longmemeval.py's ``--set``."""

import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import longmemeval  # noqa: E402
import rerank_probe  # noqa: E402


def test_minmax_scales_within_the_list():
    assert rerank_probe.minmax([2.0, 4.0, 3.0]) == [0.0, 1.0, 0.5]
    assert rerank_probe.minmax([1.0, 1.0]) == [0.0, 0.0]


def test_passage_names_the_speaker_once():
    from memcli.core.models import Hit

    hit = Hit(id=1, kind="message", text="I paint sunsets", score=1.0, created_at="",
              source={}, role="Melanie")
    assert rerank_probe.passage_of(hit) == "Melanie: I paint sunsets"
    hit.text = "Melanie: I paint sunsets"
    assert rerank_probe.passage_of(hit) == "Melanie: I paint sunsets"


def test_set_constant_changes_a_ranking_constant(monkeypatch):
    import memcli.retrieval.hybrid as hybrid

    monkeypatch.setattr(hybrid, "COVERAGE_WEIGHT", hybrid.COVERAGE_WEIGHT)  # restored after
    longmemeval.set_constant("COVERAGE_WEIGHT=0.15")
    assert hybrid.COVERAGE_WEIGHT == 0.15
    with pytest.raises(SystemExit, match="no constant"):
        longmemeval.set_constant("NO_SUCH_THING=1")


@pytest.mark.integration
def test_query_likelihood_prefers_the_passage_that_answers():
    model = rerank_probe.QueryLikelihood(n_ctx=256)
    q = "Where did Caroline go yesterday?"
    good = model.score("Caroline: Yesterday I went to the LGBTQ support group.", q)
    bad = model.score("Melanie: The weather is nice, thanks for asking!", q)
    assert math.isfinite(good) and good < 0 and model.tokens > 0
    assert good > bad
