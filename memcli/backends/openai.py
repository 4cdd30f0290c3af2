"""``OpenAILLM``: any OpenAI-compatible ``/chat/completions`` endpoint (Ollama, llama-server,
LM Studio, ``python -m llama_cpp.server``) over httpx, streaming via server-sent events.

``httpx`` is imported inside functions only."""

from __future__ import annotations

import json
import os

from memcli.backends.llm import LLMError


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
