"""all-MiniLM-L6-v2 forward pass in numpy over memory-mapped safetensors weights.

Why: a one-shot `memcli search` must embed ONE short query fast. Importing onnxruntime and building
its session costs ~0.3 s; mapping the weights and running six small layers in numpy costs a few
milliseconds (numpy is loaded anyway). Bulk embedding (imports) still uses onnxruntime. Both paths are
tested against sentence-transformers for identical vectors (max abs diff ~1e-6).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Sequence

_DTYPES = {"F32": "<f4", "F16": "<f2", "I64": "<i8"}


def load_safetensors(path: Path) -> dict:
    """name → read-only numpy view of the file (np.memmap: pages load only when touched)."""
    import numpy as np

    with open(path, "rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(header_len))
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    base = 8 + header_len
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        out[name] = mm[base + start: base + end].view(_DTYPES[spec["dtype"]]).reshape(spec["shape"])
    return out


def _erf(x):
    """erf with |error| < 1.5e-7 (Abramowitz & Stegun 7.1.26), vectorised."""
    import numpy as np

    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * np.exp(-a * a)
    return s * y


class NumpyMiniLM:
    """BERT encoder (post-LayerNorm, exact GELU) + mean pooling + L2 normalisation."""

    def __init__(self, model_dir: Path, tokenizer, heads: int = 12, eps: float = 1e-12):
        cfg = json.loads((model_dir / "config.json").read_text())
        self.w = load_safetensors(model_dir / "model.safetensors")
        self.layers = int(cfg["num_hidden_layers"])
        self.heads = int(cfg.get("num_attention_heads", heads))
        self.eps = float(cfg.get("layer_norm_eps", eps))
        self.tokenizer = tokenizer
        self._aligned: dict = {}

    def _ln(self, x, name):
        import numpy as np

        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.eps) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def _dense(self, x, name):
        w = self._aligned.get(name)
        if w is None:  # mapped tensors may be unaligned, which defeats BLAS: copy those once
            import numpy as np

            weight, bias = self.w[name + ".weight"], self.w[name + ".bias"]
            w = self._aligned[name] = (weight if weight.flags.aligned else np.array(weight),
                                       bias if bias.flags.aligned else np.array(bias))
        return x @ w[0].T + w[1]

    def encode_one(self, ids: Sequence[int]):
        import numpy as np

        w = self.w
        n = len(ids)
        x = (w["embeddings.word_embeddings.weight"][np.asarray(ids)]
             + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0]).astype(np.float32)
        x = self._ln(x, "embeddings.LayerNorm")
        d = x.shape[1]
        hd = d // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q = self._dense(x, p + "attention.self.query").reshape(n, self.heads, hd).transpose(1, 0, 2)
            k = self._dense(x, p + "attention.self.key").reshape(n, self.heads, hd).transpose(1, 0, 2)
            v = self._dense(x, p + "attention.self.value").reshape(n, self.heads, hd).transpose(1, 0, 2)
            scores = q @ k.transpose(0, 2, 1) / np.float32(np.sqrt(hd))
            scores -= scores.max(-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(-1, keepdims=True)
            ctx = (probs @ v).transpose(1, 0, 2).reshape(n, d)
            x = self._ln(self._dense(ctx, p + "attention.output.dense") + x,
                         p + "attention.output.LayerNorm")
            h = self._dense(x, p + "intermediate.dense")
            h = 0.5 * h * (1.0 + _erf(h / np.float32(np.sqrt(2.0))))
            x = self._ln(self._dense(h.astype(np.float32), p + "output.dense") + x,
                         p + "output.LayerNorm")
        pooled = x.mean(0)
        return (pooled / max(float(np.linalg.norm(pooled)), 1e-12)).astype(np.float32)

    def embed(self, texts: Sequence[str]):
        import numpy as np

        encs = self.tokenizer.encode_batch([t if t.strip() else " " for t in texts])
        return np.stack([self.encode_one(e.ids) for e in encs]) if encs else np.zeros((0, 384), np.float32)
