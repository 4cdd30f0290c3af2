"""The backends the config names: ``make_llm`` (``[llm] backend``, ``$MEMCLI_LLM``) and
``make_embedder`` (``[embedding] backend``, ``$MEMCLI_EMBEDDER``).

Only the chosen backend's module is imported (a one-shot `memcli search` loads none of the LLM
backends); each loads its heavy library inside functions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memcli.backends.llm import LLMError
from memcli.core.errors import MemcliError

if TYPE_CHECKING:
    from memcli.backends.embedders import Embedder
    from memcli.backends.llm import LLM


def make_llm(config, model: str | None = None) -> LLM:
    """The backend ``config.llm_backend`` names; ``model`` (e.g. ``--model``) overrides
    ``config.llm_model`` (a GGUF path for llama, a model name for openai)."""
    backend = (config.llm_backend or "llama").lower()
    model = model or config.llm_model or None
    if backend in ("llama", "llama_cpp", "llamacpp", "gguf"):
        from memcli.backends.llama import LlamaLLM

        return LlamaLLM(model, n_ctx=config.llm_n_ctx)
    if backend in ("openai", "http", "ollama"):
        from memcli.backends.openai import OpenAILLM

        return OpenAILLM(config.llm_base_url, model or "", api_key=config.llm_api_key)
    if backend == "fake":
        from memcli.backends.fakes import FakeLLM

        return FakeLLM(model_id=model or "fake")
    raise LLMError(f"unknown LLM backend {config.llm_backend!r}; use llama, openai or fake")


def make_embedder(name: str) -> Embedder:
    name = (name or "minilm").lower()
    if name in ("hash", "fake"):
        from memcli.backends.fakes import HashEmbedder

        return HashEmbedder()
    from memcli.backends import embedders

    if name == "minilm":
        return embedders.MiniLMEmbedder()
    if name == "onnx":
        return embedders.OnnxEmbedder()
    if name in ("sbert", "sentence-transformers"):
        return embedders.SbertEmbedder()
    raise MemcliError(f"unknown embedding backend {name!r}; use minilm, onnx, sbert or hash")
