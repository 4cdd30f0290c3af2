"""The bundled MiniLM: the fast paths give sentence-transformers' vectors, and search finds
paraphrases with the real model (integration: these load real weights)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from memcli.backends.fakes import HashEmbedder

TEXTS = [
    "hello",
    "My sister Alice lives in Lisbon and works as an architect in a small studio near the river.",
    "what's the plan for tomorrow?",
    "x " * 400,  # longer than the 256-token window: truncated the same way
    "Ünïcödé text — with dashes… and emoji 🎉",
    "",
]


def test_hash_embedder_is_deterministic_and_normalised():
    e = HashEmbedder()
    a, b = e.embed(["the cat sat", "the cat sat"]), e.embed(["the cat sat"])
    assert np.allclose(a[0], b[0]) and np.isclose(np.linalg.norm(a[0]), 1.0)
    sim_related = float(e.embed(["cat on mat"])[0] @ e.embed(["the cat sat on the mat"])[0])
    sim_unrelated = float(e.embed(["cat on mat"])[0] @ e.embed(["quarterly tax return"])[0])
    assert sim_related > sim_unrelated


@pytest.fixture(scope="module")
def reference():
    from memcli.backends.embedders import SbertEmbedder

    return SbertEmbedder().embed(TEXTS)


@pytest.mark.integration
@pytest.mark.parametrize("name", ["minilm", "onnx"])
def test_fast_paths_match_sentence_transformers(reference, name, monkeypatch):
    from memcli.backends.factory import make_embedder

    monkeypatch.setenv("MEMCLI_EMBED_PRECISION", "fp32")
    e = make_embedder(name)
    batch = e.embed(TEXTS)  # minilm: > small_batch → onnxruntime with padding
    singles = np.stack([e.embed([t])[0] for t in TEXTS])  # minilm: numpy path
    assert batch.shape == (len(TEXTS), 384)
    assert np.abs(batch - reference).max() < 1e-5
    assert np.abs(singles - reference).max() < 1e-5


def test_bulk_precision_reads_the_environment(monkeypatch):
    from memcli.backends import embedders
    from memcli.core.errors import MemcliError

    monkeypatch.delenv(embedders.PRECISION_ENV, raising=False)
    assert embedders.bulk_precision() == embedders.DEFAULT_PRECISION
    monkeypatch.setenv(embedders.PRECISION_ENV, " INT8 ")
    assert embedders.bulk_precision() == "int8"
    monkeypatch.setenv(embedders.PRECISION_ENV, "fp16")
    with pytest.raises(MemcliError, match="use int8 or fp32"):
        embedders.bulk_precision()


@pytest.mark.integration
@pytest.mark.parametrize("name", ["minilm", "onnx"])
def test_int8_bulk_stays_close_and_queries_stay_fp32(reference, name, monkeypatch):
    """int8 is for bulk work only: a batch of more than small_batch texts runs the int8 copy (same
    model id, vectors within cosine ~0.99 of fp32), a query gets the exact fp32 vector."""
    from memcli.backends import embedders
    from memcli.backends.factory import make_embedder

    monkeypatch.setenv(embedders.PRECISION_ENV, "int8")
    e = make_embedder(name)
    assert (e.model_id, e.dim) == (embedders.MINILM_ID, embedders.MINILM_DIM)
    batch = e.embed(TEXTS)
    assert batch.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    cos = (batch * reference).sum(axis=1)
    assert cos.min() > 0.95, cos
    assert np.abs(batch - reference).max() > 1e-4  # it really ran int8
    singles = np.stack([e.embed([t])[0] for t in TEXTS])
    assert np.abs(singles - reference).max() < 1e-5
    assert embedders.int8_path(embedders.onnx_cache_path()).exists()


@pytest.mark.integration
def test_cli_finds_paraphrase_with_real_model(tmp_path):
    env = dict(os.environ, MEMCLI_HOME=str(tmp_path / "h"))
    env.pop("MEMCLI_EMBEDDER", None)
    memcli = [sys.executable, "-m", "memcli"]
    notes = ["My sister Alice lives in Lisbon and works as an architect",
             "The boiler service is due every October",
             "I prefer window seats on long flights",
             "Our wifi password is written on the fridge door"]
    for note in notes:
        subprocess.run([*memcli, "add", note], env=env, check=True, capture_output=True)
    for query, expected in [("which city is my sibling based in", 0),
                            ("where do I like to sit on a plane", 2),
                            ("when does the heating need maintenance", 1),
                            ("how do I get on the internet at home", 3)]:
        out = subprocess.run([*memcli, "search", query, "-n", "1"], env=env, check=True,
                             capture_output=True, text=True).stdout
        assert notes[expected] in out, (query, out)
