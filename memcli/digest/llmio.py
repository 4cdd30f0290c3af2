"""Talking to the (possibly tiny, possibly broken) LLM during digestion: prompt files, constrained
JSON calls, and counting what happened. Any failure returns None so the caller falls back to the
deterministic path; nothing the model says is trusted before the caller validates it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"


def render(name: str, **values) -> list[dict]:
    """``prompts/<name>.md`` as chat messages (the house loader, memcli.prompts: ``## system`` /
    ``## user`` sections, ``{placeholders}`` filled in one pass)."""
    try:
        from ..prompts import messages
    except ImportError:  # pragma: no cover - the loader ships with memcli
        text = (PROMPTS / f"{name}.md").read_text(encoding="utf-8")
        parts = re.split(r"^## (system|user|assistant)\s*$", text, flags=re.M)
        return [{"role": r, "content": re.sub(r"\{([a-z_][a-z0-9_]*)\}",
                                              lambda m: str(values[m.group(1)]), b).strip()}
                for r, b in zip(parts[1::2], parts[2::2])]
    return messages(name, **values)


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
        try:
            from ..structured import generate_json
        except ImportError:  # the structured-output module is not there: ask directly
            raw = llm.complete(messages, max_tokens=max_tokens, temperature=0.0,
                               json_schema=schema)
            value, fell_back = json.loads(raw), False
        else:
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
        got = getattr(memory, "llm", None)
        if got is None:
            from ..backends.llm import make_llm

            got = make_llm(memory.config)
        return got, None
    except Exception as exc:  # noqa: BLE001
        return None, f"LLM unavailable ({exc}); used deterministic mode"
