"""Smoke runs of benchmarks/qa.py (the QA benchmark through `memcli ask`) and its scoring."""

import json
import sys
from pathlib import Path

import pytest
from conftest import shared_path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "longmemeval_tiny.json"
sys.path.insert(0, str(BENCH))

import qa  # noqa: E402


def test_scoring():
    assert qa.f1("The Rotterdam marathon", "rotterdam marathon") == 1.0
    assert qa.f1("in Porto", "Lisbon") == 0.0
    assert 0 < qa.f1("she moved to Porto in May", "Porto") < 1
    assert qa.contains('2024-05-02: "Ana moved to Porto, in May" [1]', "Porto in May")  # punctuation goes
    assert qa.contains('2024-05-02: "Ana moved to Porto in May" [1]', "porto in may")
    assert not qa.contains("Portobello", "Porto")


def test_qa_on_the_longmemeval_fixture(tmp_path, capsys):
    out = tmp_path / "qa.json"
    assert qa.main(["--dataset", "longmemeval", "--longmemeval", str(FIXTURE), "--embedder",
                    "hash", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| evidence/small |" in printed and "| evidence/capable |" in printed
    summary = json.loads(out.read_text())["LongMemEval-S dev"]
    for reader in ("evidence/small", "evidence/capable"):
        s = summary[reader]
        assert s["n"] == 4 and 0 <= s["context_recall"] <= 1 and s["seconds"] > 0
    assert summary["evidence/capable"]["context_items"] >= summary["evidence/small"]["context_items"]


def test_qa_locomo_smoke(tmp_path, capsys):
    if not shared_path("eval", "locomo10.json").exists():
        pytest.skip("../shared/eval/locomo10.json is not present")
    out = tmp_path / "qa.json"
    assert qa.main(["--dataset", "locomo", "--samples", "1", "--limit", "2", "--embedder",
                    "hash", "--json", str(out)]) == 0
    s = json.loads(out.read_text())["LoCoMo"]["evidence/capable"]
    assert s["n"] == 8 and s["n_unanswerable"] == 2
    assert s["abstention_cat5"] is not None and 0 <= s["context_recall"] <= 1


@pytest.mark.integration
def test_qa_smoke_with_the_bundled_model(tmp_path):
    out = tmp_path / "qa.json"
    assert qa.main(["--dataset", "longmemeval", "--longmemeval", str(FIXTURE), "--embedder",
                    "hash", "--readers", "evidence,bundled", "--max-tokens", "16",
                    "--json", str(out)]) == 0
    s = json.loads(out.read_text())["LongMemEval-S dev"]["bundled (generate)"]
    assert s["n"] == 4 and s["seconds"] > 0
