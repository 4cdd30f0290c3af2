"""Structured generation for a model that cannot be trusted: constrain, parse, validate, retry,
then fall back to something deterministic.

One function does it all::

    value, used_fallback = generate_json(
        llm, messages, schema,                      # schema: a (small) JSON Schema dict
        validate=lambda v: ...,                     # optional: return the (cleaned) value, or raise
                                                    #   ValueError("why") to reject it
        retries=2,                                  # extra attempts after the first
        fallback=lambda: deterministic_value(),     # value or zero-arg callable used when all fail
    )

Each attempt asks the backend for output constrained to ``schema`` (llama-cpp turns it into a
grammar; HTTP servers get ``response_format``), extracts the JSON even if wrapped in prose or code
fences, checks it against the schema with ``schema_errors`` (a subset of JSON Schema: type,
properties, required, additionalProperties=false, items, enum, const, minItems/maxItems,
minLength/maxLength, minimum/maximum, anyOf), then runs ``validate``. A failed attempt is retried
with the error appended to the conversation. Backend errors (missing model, unreachable server)
are not swallowed. With ``fallback=None`` and every attempt failing, ``StructuredOutputError``
is raised.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from memcli.core.errors import MemcliError

Validator = Callable[[Any], Any]


class StructuredOutputError(MemcliError):
    """The model never produced valid output and no fallback was given."""


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def extract_json(text: str):
    """Parse the JSON value in ``text``: the whole text, a fenced block, or the first balanced
    ``{…}`` / ``[…]`` span. Raises ValueError when there is none."""
    text = (text or "").strip()
    if not text:
        raise ValueError("empty output")
    try:
        return json.loads(text)
    except ValueError:
        pass
    for block in _FENCE.findall(text):
        try:
            return json.loads(block.strip())
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                value, _ = decoder.raw_decode(text, i)
                return value
            except ValueError:
                continue
    raise ValueError("no JSON value found in the output")


_TYPES = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
}


def _is_type(value, t: str) -> bool:
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    py = _TYPES.get(t)
    return True if py is None else isinstance(value, py)


def schema_errors(value, schema: dict, path: str = "$") -> list[str]:
    """Where ``value`` breaks ``schema`` (empty list = valid). A pragmatic JSON Schema subset."""
    errs: list[str] = []
    if not isinstance(schema, dict) or not schema:
        return errs
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf") or schema.get("oneOf")
        if not any(not schema_errors(value, s, path) for s in options):
            errs.append(f"{path}: matches none of the allowed shapes")
        return errs
    t = schema.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        if not any(_is_type(value, x) for x in types):
            return [f"{path}: expected {'/'.join(types)}, got {type(value).__name__}"]
    if "const" in schema and value != schema["const"]:
        errs.append(f"{path}: must be {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{path}: must be one of {schema['enum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errs.append(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errs.append(f"{path}: longer than {schema['maxLength']} characters")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errs.append(f"{path}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errs.append(f"{path}: above {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errs.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.append(f"{path}: more than {schema['maxItems']} items")
        items = schema.get("items")
        if isinstance(items, dict):
            for i, v in enumerate(value):
                errs.extend(schema_errors(v, items, f"{path}[{i}]"))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errs.append(f"{path}: missing {key!r}")
        for key, v in value.items():
            if key in props:
                errs.extend(schema_errors(v, props[key], f"{path}.{key}"))
            elif schema.get("additionalProperties") is False:
                errs.append(f"{path}: unexpected key {key!r}")
    return errs


def parse_and_check(text: str, schema: dict, validate: Validator | None = None):
    """One attempt's output → the checked value. Raises ValueError saying what is wrong."""
    value = extract_json(text)
    errs = schema_errors(value, schema)
    if errs:
        raise ValueError("; ".join(errs[:5]))
    if validate is not None:
        checked = validate(value)
        if checked is not None:
            value = checked
    return value


def _fallback_value(fallback):
    return fallback() if callable(fallback) else fallback


def generate_json(llm, messages: list[dict], schema: dict, *, validate: Validator | None = None,
                  retries: int = 2, fallback=None, max_tokens: int = 256
                  ) -> tuple[object, bool]:
    """Ask ``llm`` for JSON matching ``schema``; returns ``(value, used_fallback)``.

    ``validate(value)`` may return a cleaned value (or None to keep it) and raises ValueError to
    reject it. ``fallback`` is a value or a zero-argument callable, used after ``1 + retries``
    failed attempts; when it is None a ``StructuredOutputError`` is raised instead."""
    convo = [dict(m) for m in messages]
    last_error = "no attempt made"
    for _attempt in range(max(0, int(retries)) + 1):
        text = llm.complete(convo, max_tokens=max_tokens, temperature=0.0, json_schema=schema)
        try:
            return parse_and_check(text, schema, validate), False
        except ValueError as exc:
            last_error = str(exc) or exc.__class__.__name__
        convo = [dict(m) for m in messages] + [
            {"role": "assistant", "content": (text or "")[:2000]},
            {"role": "user", "content": f"That output was invalid ({last_error}). Reply with "
                                        "only the corrected JSON."},
        ]
    if fallback is None:
        raise StructuredOutputError(f"the model gave no valid JSON after {retries + 1} tries: "
                                    f"{last_error}")
    return _fallback_value(fallback), True
