"""`python -m memcli.backends.prepare`: one-time model preparation run by `make venv`.

Exports the bundled MiniLM to ONNX in the cache dir, so the first `memcli` command is fast too."""

from __future__ import annotations

import sys

from memcli.backends.embedders import export_onnx, onnx_cache_path


def main() -> int:
    path = onnx_cache_path()
    if not path.exists():
        print(f"memcli: exporting the embedding model to {path}", file=sys.stderr)
        export_onnx(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
