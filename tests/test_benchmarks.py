"""Smoke runs of the benchmark scripts on tiny inputs, and their metric code on known answers."""

import json
import math
import sys
from pathlib import Path

import pytest
from conftest import shared_path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "longmemeval_tiny.json"
sys.path.insert(0, str(BENCH))

import common  # noqa: E402
import locomo  # noqa: E402
import longmemeval  # noqa: E402


# ---- common --------------------------------------------------------------------------------------
def test_percentile_and_table():
    assert common.percentile([3, 1, 2], 50) == 2
    assert common.percentile([0, 10], 95) == pytest.approx(9.5)
    md = common.table(["a", "b"], [("x", 0.12345), ("y", None)])
    assert md.splitlines() == ["| a | b |", "|---|---|", "| x | 0.123 |", "| y |  |"]
    head = common.header("T", argv=[str(BENCH / "locomo.py"), "--samples", "2"])
    assert "`.venv/bin/python benchmarks/locomo.py --samples 2`" in head
    assert "cores" in head and "load average" in head


# ---- LongMemEval ---------------------------------------------------------------------------------
def test_longmemeval_metrics_on_known_rankings():
    gold = {"a", "b"}
    m = longmemeval.metrics(["a", "x", "b", "y"], gold)
    assert m["recall_all@5"] == 1.0 and m["recall_any@5"] == 1.0
    ideal = 1 + 1 / math.log2(3)
    assert m["ndcg@5"] == pytest.approx((1 + 1 / math.log2(4)) / ideal)
    m = longmemeval.metrics(["x"] * 10 + ["a"], gold)
    assert m["recall_all@10"] == 0.0 and m["recall_any@30"] == 1.0 and m["recall_all@30"] == 0.0
    assert longmemeval.sessions_of(["s1_3", "s2_1", "s1_1", "answer_x_2"],
                                   {"s1", "s2", "answer_x"}) == ["s1", "s2", "answer_x"]


def test_longmemeval_dates_and_streaming(tmp_path):
    dt = longmemeval.parse_date("2023/05/20 (Sat) 02:21")
    assert (dt.year, dt.month, dt.day, dt.hour, dt.minute) == (2023, 5, 20, 2, 21)
    whole = list(longmemeval.iter_questions(FIXTURE))
    streamed = list(longmemeval.iter_questions(FIXTURE, stream_above=0))  # ijson path
    assert [q["question_id"] for q in streamed] == [q["question_id"] for q in whole]
    assert streamed[0]["haystack_sessions"] == whole[0]["haystack_sessions"]


def test_caching_embedder_returns_the_inner_vectors():
    import numpy as np

    from memcli.backends.fakes import HashEmbedder

    inner = HashEmbedder()
    cache = longmemeval.CachingEmbedder(inner)
    texts = ["red bike", "blue tea", "red bike"]
    first = cache.embed(texts)
    assert np.allclose(first, inner.embed(texts))
    assert (cache.misses, cache.hits) == (2, 1)
    again = cache.embed(["blue tea"])
    assert np.allclose(again[0], first[1]) and cache.hits == 2


def test_longmemeval_runner_on_fixture(tmp_path, capsys):
    out = tmp_path / "lme.json"
    assert longmemeval.main([str(FIXTURE), "--embedder", "hash", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Session level" in printed and "Turn level" in printed
    data = json.loads(out.read_text())
    by_id = {q["question_id"]: q for q in data["questions"]}
    assert len(by_id) == 4
    # the abstention question has no gold, and is left out of the averages
    assert "session" not in by_id["q_user_2_abs"]
    assert data["summary"]["session"]["overall"]["n"] == 3
    # gold turns come from has_answer, assistant turns included
    assert by_id["q_asst_1"]["turn"]["recall_all@5"] == 1.0
    assert by_id["q_user_1"]["session"]["recall_all@5"] == 1.0
    multi = by_id["q_multi_1"]["session"]
    assert multi["recall_all@5"] == 1.0 and multi["ndcg@5"] > 0.5
    assert data["summary"]["session"]["multi-session"]["n"] == 1
    # --limit and --types
    assert longmemeval.main([str(FIXTURE), "--embedder", "hash", "--limit", "1",
                             "--types", "multi-session", "--json", str(out)]) == 0
    assert [q["question_id"] for q in json.loads(out.read_text())["questions"]] == ["q_multi_1"]
    # --ask: the same questions retrieved the way `memcli ask` does
    assert longmemeval.main([str(FIXTURE), "--embedder", "hash", "--ask", "--json", str(out)]) == 0
    assert "memcli.services.ask.retrieve_for_question(question" in capsys.readouterr().out
    asked = {q["question_id"]: q for q in json.loads(out.read_text())["questions"]}
    assert asked["q_user_1"]["session"]["recall_all@5"] == 1.0
    assert asked["q_user_1"]["session (ask)"]["recall_all@5"] == 1.0


def test_longmemeval_work_dir_reuses_the_stores(tmp_path):
    work, out = tmp_path / "work", tmp_path / "lme.json"
    args = [str(FIXTURE), "--embedder", "hash", "--work", str(work), "--json", str(out)]
    assert longmemeval.main(args) == 0
    first = json.loads(out.read_text())
    assert sorted(p.name for p in work.iterdir()) == sorted(q["question_id"]
                                                            for q in first["questions"])
    assert longmemeval.main(args) == 0  # the second run imports nothing and ranks the same
    again = json.loads(out.read_text())
    assert [q["turn"] for q in again["questions"] if "turn" in q] == [
        q["turn"] for q in first["questions"] if "turn" in q]
    assert all(q["build_s"] < 1.0 for q in again["questions"])


# ---- LoCoMo --------------------------------------------------------------------------------------
def test_locomo_evidence_repair_and_scores():
    known = {"D8:6", "D9:17", "D30:5", "D11:26", "D1:1"}
    assert locomo.clean_evidence(["D8:6; D9:17", "D30:05", "D:11:26", "D99:1"], known) == [
        "D8:6", "D9:17", "D30:5", "D11:26"]
    s = locomo.score(["D1:1", "D2:2", "D8:6"], ["D8:6", "D9:17"])
    assert s["R@5"] == 0.5 and s["MRR"] == pytest.approx(1 / 3)
    assert locomo.score(["x"], ["D1:1"])["MRR"] == 0.0


def test_locomo_smoke_on_two_samples(capsys, tmp_path):
    data = shared_path("eval", "locomo10.json")
    if not data.exists():
        pytest.skip("../shared/eval/locomo10.json is not present")
    out = tmp_path / "locomo.json"
    assert locomo.main(["--samples", "2", "--embedder", "hash", "--no-baselines", "--ask",
                        "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| memcli: verbatim |" in printed and "DRAGON" in printed
    summary = json.loads(out.read_text())
    overall = summary["verbatim"]["overall"]
    assert overall["n"] == 231  # conv-26 (150) + conv-30 (81) questions in categories 1-4
    assert 0.3 < overall["R@50"] <= 1.0 and overall["R@5"] <= overall["R@50"]
    assert summary["verbatim (audited)"]["overall"]["n"] == 231
    ask = summary["verbatim, ask retrieval"]["overall"]
    assert ask["n"] == 231 and 0.3 < ask["R@50"] <= 1.0


# ---- scale ---------------------------------------------------------------------------------------
def test_bench_scale_smoke(capsys, tmp_path):
    import bench_scale

    assert bench_scale.main(["--sizes", "300,700", "--queries", "3", "--embedder", "hash",
                             "--home", str(tmp_path / "home")]) == 0
    printed = capsys.readouterr().out
    rows = [ln for ln in printed.splitlines() if ln.startswith("| 300") or ln.startswith("| 7")]
    assert len(rows) == 2, printed
    from memcli.services.memory import Memory

    with Memory(tmp_path / "home") as mem:
        stats = mem.stats()
    assert stats["messages"] == 700 and stats["vectors"] == 700 and stats["fts_rows"] == 700


def test_bench_scale_real_probe_compares_with_the_exact_scan(capsys, tmp_path):
    if not shared_path("eval", "locomo10.json").exists():
        pytest.skip("../shared/eval/locomo10.json is not present")
    import bench_scale

    # ~6k items: under COARSE_MIN, so vec_search is the exact scan and must agree with itself
    assert bench_scale.main(["--sizes", "200", "--queries", "2", "--embedder", "hash",
                             "--home", str(tmp_path / "home"), "--real-probe", "5"]) == 0
    probe = capsys.readouterr().out.split("Real-text probe")[1]
    row = [ln.split("|") for ln in probe.splitlines() if ln.startswith("| 200")]
    assert len(row) == 1 and row[0][2].strip() == "5" and float(row[0][3]) == 1.0, probe
