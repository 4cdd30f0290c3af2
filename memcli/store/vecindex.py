"""The coarse vector index: sign bits of every vector, scanned by Hamming distance in numpy.

sqlite-vec's exact float scan grows linearly (≈93 ms at 100k vectors, 1.3 s at 1M on the reference
machine) and its own ``bit[]`` KNN selects the top k in O(n·k) (k=100 at 1M: ≈280 ms). Here the
bits live in SQLite as fixed-size chunks (``vec_bits``: 256 slots of ``dim/8`` bytes plus a presence
bitmap, chunk = item id // 256), a process loads them once into a column-major uint64 matrix and
scans it with ``np.bitwise_count``; the few hundred nearest by Hamming distance are then re-scored
exactly against float16 copies of the vectors (``vec_f16``). vectors.py keeps both in step with
the float vec0 table; this module holds no SQL.
"""

from __future__ import annotations

CHUNK = 256  # slots per vec_bits row
MASK_BYTES = CHUNK // 8  # presence bitmap at the start of each chunk blob


def slot_bytes(dim: int) -> int:
    """Bytes per slot: ``dim`` sign bits rounded up to whole 64-bit words."""
    return -(-int(dim) // 64) * 8


def pack_bits(vectors, dim: int):
    """(n, dim) floats → (n, slot_bytes) uint8 sign bits (bit set where the value is > 0)."""
    import numpy as np

    v = np.asarray(vectors, dtype=np.float32).reshape(-1, dim)
    bits = np.packbits(v > 0, axis=1)
    pad = slot_bytes(dim) - bits.shape[1]
    if pad:
        bits = np.pad(bits, ((0, 0), (0, pad)))
    return bits


def f16_bytes(vector) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype=np.float16).tobytes()


def chunk_bytes(size: int) -> int:
    """Length of a chunk blob whose slots are ``size`` bytes."""
    return MASK_BYTES + CHUNK * size


def update_chunk(blob: bytes | None, size: int | None, put: dict[int, bytes],
                 drop: set[int] | frozenset = frozenset()) -> bytes:
    """A chunk blob with slots in ``put`` (slot → ``size`` packed bytes) written and those in
    ``drop`` cleared. ``blob`` None starts an empty chunk; ``size`` None reads it off ``blob``."""
    if size is None:
        size = (len(blob) - MASK_BYTES) // CHUNK
    buf = bytearray(blob) if blob else bytearray(chunk_bytes(size))
    for slot, bits in put.items():
        buf[slot // 8] |= 1 << (slot % 8)
        at = MASK_BYTES + slot * size
        buf[at:at + size] = bits
    for slot in drop:
        buf[slot // 8] &= ~(1 << (slot % 8)) & 0xFF
        at = MASK_BYTES + slot * size
        buf[at:at + size] = bytes(size)
    return bytes(buf)


def chunk_ids(blob: bytes, chunk: int) -> list[int]:
    """Item ids whose slots are present in a chunk blob."""
    import numpy as np

    present = np.unpackbits(np.frombuffer(blob[:MASK_BYTES], dtype=np.uint8), bitorder="little")
    return [chunk * CHUNK + int(s) for s in np.flatnonzero(present)]


class BitMatrix:
    """Every stored vector's sign bits, column-major (one uint64 row per 64 dimensions)."""

    def __init__(self, chunks: list[tuple[int, bytes]], dim: int):
        import numpy as np

        size = slot_bytes(dim)
        self.words = size // 8
        width = chunk_bytes(size)
        chunks = [(c, b) for c, b in chunks if len(b) == width]
        if not chunks:
            self.ids = np.zeros(0, dtype=np.int64)
            self.cols = np.zeros((self.words, 0), dtype=np.uint64)
            return
        raw = np.frombuffer(b"".join(b for _, b in chunks), dtype=np.uint8).reshape(len(chunks),
                                                                                     width)
        present = np.unpackbits(raw[:, :MASK_BYTES], axis=1, bitorder="little").astype(bool)
        present = present.reshape(-1)
        base = np.repeat(np.array([c for c, _ in chunks], dtype=np.int64) * CHUNK, CHUNK)
        self.ids = (base + np.tile(np.arange(CHUNK, dtype=np.int64), len(chunks)))[present]
        slots = np.ascontiguousarray(raw[:, MASK_BYTES:]).view(np.uint64)
        slots = slots.reshape(-1, self.words)[present]
        self.cols = np.ascontiguousarray(slots.T)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def nearest(self, query, m: int, dim: int):
        """Ids of the ``m`` vectors with the fewest sign bits differing from ``query``'s."""
        import numpy as np

        n = len(self)
        if n == 0:
            return self.ids
        q = pack_bits(query, dim)[0].view(np.uint64)
        dist = np.zeros(n, dtype=np.uint16)
        tmp = np.empty(n, dtype=np.uint64)
        for w in range(self.words):
            np.bitwise_xor(self.cols[w], q[w], out=tmp)
            dist += np.bitwise_count(tmp)
        if m >= n:
            order = np.argsort(dist, kind="stable")
        else:
            part = np.argpartition(dist, m)[:m]
            order = part[np.argsort(dist[part], kind="stable")]
        return self.ids[order]


def rescore(query, rows: list[tuple[int, bytes]]) -> list[tuple[int, float]]:
    """(item id, float16 vector bytes) → (item id, cosine similarity to ``query``), best first."""
    import numpy as np

    if not rows:
        return []
    q = np.asarray(query, dtype=np.float32)
    q = q / (np.linalg.norm(q) or 1.0)
    mat = np.frombuffer(b"".join(b for _, b in rows), dtype=np.float16).reshape(len(rows), -1)
    mat = mat.astype(np.float32)
    norms = np.linalg.norm(mat, axis=1)
    norms[norms == 0] = 1.0
    sims = (mat @ q) / norms
    order = np.argsort(-sims, kind="stable")
    return [(int(rows[i][0]), float(sims[i])) for i in order]
