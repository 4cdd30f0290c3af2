"""Talking to the (possibly tiny, possibly broken) LLM during digestion: prompt files, constrained
JSON calls, and counting what happened. Any failure returns None so the caller falls back to the
deterministic path; nothing the model says is trusted before the caller validates it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from memcli.backends.structured import generate_json


@dataclass
class LLMCounter:
    calls: int = 0
    accepted: int = 0
    rejected: int = 0  # invalid JSON, failed validation, or an error: the fallback was used
    errors: int = 0


def call_json(llm, messages: list[dict], schema: dict, counter: LLMCounter, *,
              max_tokens: int = 256):
    """The model's JSON value, or None (then the caller falls back). Exceptions are swallowed and
    counted: a broken model must never stop or corrupt a digest. No retry: a tiny model rarely
    repairs its own output, and the deterministic fallback is right there."""
    if llm is None:
        return None
    counter.calls += 1
    try:
        value, fell_back = generate_json(llm, messages, schema, retries=0, fallback=None,
                                         max_tokens=max_tokens)
    except Exception:  # noqa: BLE001 - any model/parse failure means "use the fallback"
        counter.errors += 1
        counter.rejected += 1
        return None
    if fell_back or value is None:
        counter.rejected += 1
        return None
    return value


def llm_of(memory, use_llm: bool, llm=None):
    """(llm or None, why not). The configured model is loaded lazily; failing to load it is
    reported, not fatal: digestion then runs in deterministic mode."""
    if not use_llm:
        return None, "disabled (--no-llm)"
    if llm is not None:
        return llm, None
    try:
        return memory.llm, None
    except Exception as exc:  # noqa: BLE001
        return None, f"LLM unavailable ({exc}); used deterministic mode"


def capable(memory, llm=None) -> bool:
    """Is the model (``llm``, else the configured one) more than the bundled SmolLM2-135M? An
    OpenAI-compatible endpoint or a GGUF other than the bundled file is; the fake backend and
    the bundled model are not (their output only ever passes through validation)."""
    from memcli.backends.llama import LlamaLLM
    from memcli.backends.llm import default_model_path
    from memcli.backends.openai import OpenAILLM

    def bundled(path) -> bool:
        try:
            return Path(path).expanduser().resolve() == default_model_path().resolve()
        except Exception:  # noqa: BLE001 - no bundled model installed: any GGUF is another one
            return False

    if llm is not None:
        if isinstance(llm, OpenAILLM):
            return True
        return isinstance(llm, LlamaLLM) and not bundled(llm.path)
    cfg = memory.config
    backend = (cfg.llm_backend or "llama").lower()
    if backend in ("openai", "http", "ollama"):
        return True
    if backend in ("llama", "llama_cpp", "llamacpp", "gguf"):
        return bool(cfg.llm_model) and not bundled(cfg.llm_model)
    return False
