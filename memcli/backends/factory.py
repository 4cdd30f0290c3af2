"""The backends the config names: ``make_llm`` (``[llm] backend``, ``$MEMCLI_LLM``) and
``make_embedder`` (``[embedding] backend``, ``$MEMCLI_EMBEDDER``).

Importing the backend modules is cheap: each loads its heavy library inside functions."""

from __future__ import annotations

from memcli.backends.embedders import Embedder, MiniLMEmbedder, OnnxEmbedder, SbertEmbedder
from memcli.backends.fakes import FakeLLM, HashEmbedder
from memcli.backends.llama import LlamaLLM
from memcli.backends.llm import LLM, LLMError
from memcli.backends.openai import OpenAILLM
from memcli.core.errors import MemcliError


def make_llm(config, model: str | None = None) -> LLM:
    """The backend ``config.llm_backend`` names; ``model`` (e.g. ``--model``) overrides
    ``config.llm_model`` (a GGUF path for llama, a model name for openai)."""
    backend = (config.llm_backend or "llama").lower()
    model = model or config.llm_model or None
    if backend in ("llama", "llama_cpp", "llamacpp", "gguf"):
        return LlamaLLM(model, n_ctx=config.llm_n_ctx)
    if backend in ("openai", "http", "ollama"):
        return OpenAILLM(config.llm_base_url, model or "", api_key=config.llm_api_key)
    if backend == "fake":
        return FakeLLM(model_id=model or "fake")
    raise LLMError(f"unknown LLM backend {config.llm_backend!r}; use llama, openai or fake")


def make_embedder(name: str) -> Embedder:
    name = (name or "minilm").lower()
    if name == "minilm":
        return MiniLMEmbedder()
    if name == "onnx":
        return OnnxEmbedder()
    if name in ("sbert", "sentence-transformers"):
        return SbertEmbedder()
    if name in ("hash", "fake"):
        return HashEmbedder()
    raise MemcliError(f"unknown embedding backend {name!r}; use minilm, onnx, sbert or hash")
