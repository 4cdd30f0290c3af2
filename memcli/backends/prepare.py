"""`python -m memcli.backends.prepare`: one-time model preparation run by `make venv`.

Exports the bundled MiniLM to ONNX in the cache dir (and its int8 copy for bulk embedding, when
that is the precision in use), so the first `memcli` command is fast too."""

from __future__ import annotations

import sys

from memcli.backends.embedders import bulk_precision, export_onnx, int8_path, onnx_cache_path, quantize_int8


def main() -> int:
    path = onnx_cache_path()
    if not path.exists():
        print(f"memcli: exporting the embedding model to {path}", file=sys.stderr)
        export_onnx(path)
    if bulk_precision() == "int8" and not int8_path(path).exists():
        print(f"memcli: quantising it to int8 for bulk embedding ({int8_path(path)})", file=sys.stderr)
        quantize_int8(path, int8_path(path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
