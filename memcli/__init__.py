"""memcli: a local-first personal memory for the terminal."""

__version__ = "0.1.0"

import os as _os

# memcli's numpy work is small matrices (one query through MiniLM); multi-threaded BLAS spinning on
# a busy 2-core machine makes that 30x slower. Bulk embedding runs in onnxruntime's own thread pool.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
