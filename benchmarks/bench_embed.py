"""How close bulk embedding runs to this machine's hardware limit, fp32 and int8, in one run.

Three measurements in the same process, alternated so a busy machine slows each the same way:
1. a matrix-multiply probe: onnxruntime MatMul (fp32) and MatMulInteger (uint8 x int8, the VNNI
   kernels the int8 model uses) on the model's own shapes (2,048 tokens x 384 -> 1,536) and on a
   square 1,024 product; GFLOP/s (GOP/s for int8) by wall clock on all cores and per CPU-second on
   one thread (a figure load barely changes);
2. the embedder (``OnnxEmbedder``, the import path) on the synthetic 67-token messages of
   bench_import.py: tokens/s and messages/s, the same two ways;
3. the arithmetic: MiniLM-L6's FLOPs per token (the six layers' matrix products, 2 x 1.77M weights
   per layer, plus attention over the padded width) x tokens/s = the achieved rate, as a fraction
   of the probe's peak; and the messages/s the two cores would reach at that fraction if idle.

    .venv/bin/python benchmarks/bench_embed.py [--messages 600] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import header, table

PRECISIONS = ("fp32", "int8")


# ---- the model's arithmetic ------------------------------------------------------------------
def model_shape() -> dict:
    from memcli.backends.embedders import minilm_dir

    cfg = json.loads((minilm_dir() / "config.json").read_text())
    return {"layers": int(cfg["num_hidden_layers"]), "hidden": int(cfg["hidden_size"]),
            "ffn": int(cfg["intermediate_size"])}


def flops_per_row(width: int, shape: dict) -> float:
    """FLOPs of one padded row of ``width`` tokens: Q, K, V, output (4 d x d), the two FFN
    products (2 d x ffn) and attention (QK^T and PV: 2 x width x d per token) in every layer.
    Embedding lookups, LayerNorm, GELU and softmax are not counted (a few % more)."""
    d, f = shape["hidden"], shape["ffn"]
    per_token = 2 * (4 * d * d + 2 * d * f) + 2 * 2 * width * d
    return shape["layers"] * width * per_token


def padded_work(embedder, texts: list[str], batch_size: int = 32) -> dict:
    """Real and padded tokens, and FLOPs, of embedding ``texts`` the way OnnxEmbedder batches them."""
    from memcli.backends.embedders import _batches, clip

    encs = embedder.tokenizer.encode_batch([t if t.strip() else " " for t in clip(texts)])
    lengths = [len(e.ids) for e in encs]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    shape = model_shape()
    real = padded = flops = 0
    for idx in _batches(order, lengths, batch_size):
        width = max(lengths[i] for i in idx)
        real += sum(lengths[i] for i in idx)
        padded += width * len(idx)
        flops += len(idx) * flops_per_row(width, shape)
    return {"tokens": real, "padded": padded, "flops": flops}


# ---- the matrix-multiply probe -----------------------------------------------------------------
def _matmul_session(ort, op: str, m: int, k: int, n: int, threads: int):
    from onnx import TensorProto as T, helper

    types = {"MatMul": (T.FLOAT, T.FLOAT, T.FLOAT), "MatMulInteger": (T.UINT8, T.INT8, T.INT32)}[op]
    graph = helper.make_graph(
        [helper.make_node(op, ["A", "B"], ["C"])], "probe",
        [helper.make_tensor_value_info("A", types[0], [m, k]),
         helper.make_tensor_value_info("B", types[1], [k, n])],
        [helper.make_tensor_value_info("C", types[2], [m, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def gemm_probe(op: str, m: int, k: int, n: int, threads: int, seconds: float = 1.5) -> dict:
    """Best wall-clock rate and rate per CPU-second of ``op`` (GFLOP/s or GOP/s, 2 per MAC)."""
    import numpy as np

    from memcli.backends.embedders import onnxruntime

    ort = onnxruntime()
    rng = np.random.default_rng(0)
    if op == "MatMul":
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
    else:
        a = rng.integers(0, 256, (m, k), dtype=np.uint8)
        b = rng.integers(-127, 128, (k, n), dtype=np.int8)
    sess = _matmul_session(ort, op, m, k, n, threads)
    feed = {"A": a, "B": b}
    sess.run(None, feed)
    ops = 2.0 * m * k * n
    best, runs = float("inf"), 0
    t0, c0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds or runs < 3:
        t = time.perf_counter()
        sess.run(None, feed)
        best = min(best, time.perf_counter() - t)
        runs += 1
    cpu = time.process_time() - c0
    return {"wall_g": ops / best / 1e9, "cpu_g": ops * runs / cpu / 1e9 if cpu else 0.0}


def probe_all(threads: int) -> dict:
    """{precision: {"wall": best GFLOP/s on ``threads`` threads, "cpu": per CPU-s on one thread}}
    over the model's FFN shape and a square product (the higher of the two)."""
    out = {}
    for precision, op in (("fp32", "MatMul"), ("int8", "MatMulInteger")):
        shapes = [(2048, 384, 1536), (1024, 1024, 1024)]
        wall = max(gemm_probe(op, *s, threads=threads)["wall_g"] for s in shapes)
        cpu = max(gemm_probe(op, *s, threads=1)["cpu_g"] for s in shapes)
        out[precision] = {"wall": wall, "cpu": cpu}
    return out


# ---- the embedder --------------------------------------------------------------------------------
def time_embed(embedder, texts: list[str]) -> tuple[float, float]:
    t, c = time.perf_counter(), time.process_time()
    embedder.embed(texts)
    return time.perf_counter() - t, time.process_time() - c


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=3, help="alternated rounds; the best is kept")
    args = ap.parse_args(argv)

    from bench_import import make_export

    from memcli.backends.embedders import OnnxEmbedder

    convs = make_export(args.messages, 20)
    texts = [n["message"]["content"]["parts"][0] for c in convs for n in c["mapping"].values()
             if n["message"]]
    cores = os.cpu_count() or 1
    embedders = {p: {"all": OnnxEmbedder(precision=p), "one": OnnxEmbedder(precision=p, threads=1)}
                 for p in PRECISIONS}
    for e in embedders.values():
        e["all"].embed(texts[:64])
        e["one"].embed(texts[:64])
    work = padded_work(embedders["fp32"]["all"], texts)
    best = {p: {"wall": float("inf"), "cpu1": float("inf")} for p in PRECISIONS}
    peaks = {p: {"wall": 0.0, "cpu": 0.0} for p in PRECISIONS}
    for _ in range(args.rounds):
        for p, got in probe_all(cores).items():
            peaks[p] = {k: max(peaks[p][k], got[k]) for k in got}
        for p in PRECISIONS:
            wall, _cpu = time_embed(embedders[p]["all"], texts)
            _wall, cpu1 = time_embed(embedders[p]["one"], texts)
            best[p] = {"wall": min(best[p]["wall"], wall), "cpu1": min(best[p]["cpu1"], cpu1)}

    tokens, per_msg = work["tokens"], work["tokens"] / len(texts)
    flops_per_msg = work["flops"] / len(texts)
    rows = []
    for p in PRECISIONS:
        per_cpu = tokens / best[p]["cpu1"]  # tokens per CPU-second, one thread
        achieved = work["flops"] / best[p]["cpu1"] / 1e9
        frac = achieved / peaks[p]["cpu"]
        rows.append([p, f"{peaks[p]['wall']:.0f}", f"{peaks[p]['cpu']:.0f}",
                     f"{tokens / best[p]['wall']:,.0f}", f"{len(texts) / best[p]['wall']:.1f}",
                     f"{per_cpu:,.0f}", f"{achieved:.0f}", f"{frac:.0%}",
                     f"{cores * per_cpu / per_msg:.0f}",
                     f"{cores * peaks[p]['cpu'] * 1e9 / flops_per_msg:.0f}"])
    extra = {
        "data": f"{len(texts)} synthetic messages (bench_import.py), {tokens:,} tokens "
                f"(mean {per_msg:.0f}), {work['padded']:,} after padding "
                f"({work['padded'] / tokens - 1:.0%} padding), "
                f"{work['flops'] / work['padded'] / 1e6:.1f} MFLOP per padded token",
        "method": f"best of {args.rounds} alternated rounds; 'all cores' = {cores} onnxruntime "
                  "threads, wall clock; 'per CPU-s' = one thread, process CPU time",
    }
    print(header("Embedding vs the hardware limit (MiniLM-L6, onnxruntime)", extra=extra))
    print()
    print(table(["precision", "GEMM peak, all cores (G/s)", "GEMM peak per CPU-s (G/s)",
                 "embed tokens/s (wall)", "embed msg/s (wall)", "embed tokens per CPU-s",
                 "embed G/s per CPU-s", "fraction of peak", f"msg/s on {cores} idle cores",
                 f"msg/s at 100% of peak on {cores} cores"], rows))


if __name__ == "__main__":
    main()
