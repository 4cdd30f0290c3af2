"""Deterministic stand-ins for the models: for tests, and what ``MEMCLI_LLM=fake`` and
``MEMCLI_EMBEDDER=hash`` select.

- ``FakeLLM``: scripted replies, records every call it received (assert on the prompt it saw).
- ``HashEmbedder``: a hashed bag of words (crc32, stable across runs), so ranking means something.

Only the standard library at import time (numpy inside ``HashEmbedder.embed``)."""

from __future__ import annotations

import json
import re
import zlib
from typing import Callable, Sequence

# ---- the scripted fake ---------------------------------------------------------------------------
Responder = Callable[[list[dict]], str]
_PIECES = re.compile(r"\s*\S+\s*|\s+")


def example_for_schema(schema: dict):
    """A small, deterministic value of the shape ``schema`` describes (the fake's JSON default)."""
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return example_for_schema(schema[key][0])
    t = schema.get("type", "object")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "null")
    if t == "object":
        props = schema.get("properties", {})
        required = schema.get("required", list(props))
        return {k: example_for_schema(props.get(k, {})) for k in required}
    if t == "array":
        n = schema.get("minItems", 0)
        return [example_for_schema(schema.get("items", {})) for _ in range(n)]
    if t == "string":
        return "x" * schema.get("minLength", 0)
    if t == "integer":
        return int(schema.get("minimum", 0))
    if t == "number":
        return float(schema.get("minimum", 0.0))
    if t == "boolean":
        return False
    return None


class FakeLLM:
    """A scripted LLM for tests: deterministic, no model, records what it was asked.

    ``responses``: a list of replies used in order (the last one repeats once the list runs out),
    a single string, or a callable ``(messages) -> str``. Without responses the fake answers
    ``"I found this in your memory [1]."`` — or, when asked for JSON, a minimal valid instance of
    the schema. Every call is appended to ``.calls`` as ``{"method", "messages", "max_tokens",
    "temperature", "stop", "json_schema"}``; ``stream`` yields the reply word by word."""

    DEFAULT_REPLY = "I found this in your memory [1]."

    def __init__(self, responses: list[str] | str | Responder | None = None, *,
                 model_id: str = "fake"):
        if isinstance(responses, str):
            responses = [responses]
        self.responses = responses
        self.model_id = model_id
        self.calls: list[dict] = []
        self._next = 0

    def _reply(self, messages: list[dict], json_schema: dict | None) -> str:
        r = self.responses
        if callable(r):
            return r(messages)
        if r:
            text = r[min(self._next, len(r) - 1)]
            self._next += 1
            return text
        if json_schema is not None:
            return json.dumps(example_for_schema(json_schema))
        return self.DEFAULT_REPLY

    def _record(self, method, messages, max_tokens, temperature, stop=None, json_schema=None):
        self.calls.append({"method": method, "messages": [dict(m) for m in messages],
                           "max_tokens": max_tokens, "temperature": temperature, "stop": stop,
                           "json_schema": json_schema})

    @property
    def last_prompt(self) -> str:
        """All message contents of the latest call, joined (handy in assertions)."""
        if not self.calls:
            return ""
        return "\n".join(m.get("content", "") for m in self.calls[-1]["messages"])

    def stream(self, messages, *, max_tokens=256, temperature=0.2, stop=None):
        self._record("stream", messages, max_tokens, temperature, stop=stop)
        text = self._reply(messages, None)
        for s in stop or []:
            if s and s in text:
                text = text[: text.index(s)]
        yield from _PIECES.findall(text)

    def complete(self, messages, *, max_tokens=256, temperature=0.0, json_schema=None):
        self._record("complete", messages, max_tokens, temperature, json_schema=json_schema)
        return self._reply(messages, json_schema)


# ---- the hashed embedder ------------------------------------------------------------------------
_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """Hashed bag of words (crc32, so stable across runs): texts sharing words are near."""

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.model_id = f"hash-bow-{dim}"

    def embed(self, texts: Sequence[str]):
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for tok in _TOKEN.findall(text.lower()):
                h = zlib.crc32(tok.encode("utf-8"))
                out[row, h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
            norm = float(np.linalg.norm(out[row]))
            if norm:
                out[row] /= norm
        return out
