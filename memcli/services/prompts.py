"""Prompt templates live as Markdown files in the repository's top-level ``prompts/`` directory,
which the wheel ships as the package ``memcli.prompts``.

A template may be split into chat messages with lines that are exactly ``## system``,
``## user`` or ``## assistant``; text before the first such line is a comment and is ignored
(when there is no such line the whole file is one user message). ``{name}`` placeholders
(lowercase letters, digits, ``_``) are filled in ONE pass: text substituted into a template is
never scanned again, so a note that contains ``{question}`` stays literal. A placeholder without a
value is an error; other braces (JSON examples) are left alone.

``$MEMCLI_PROMPTS`` points to another directory (to try prompt variants without editing code).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from memcli.core.errors import MemcliError

PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
ROLE_LINE = re.compile(r"^## (system|user|assistant)\s*$", re.M)


def prompt_dir() -> Path:
    env = os.environ.get("MEMCLI_PROMPTS")
    if env:
        return Path(env).expanduser()
    return Path(str(resources.files("memcli.prompts")))


@lru_cache(maxsize=64)
def _read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def load(name: str) -> str:
    """The raw text of ``prompts/<name>.md``."""
    path = prompt_dir() / (name if name.endswith(".md") else f"{name}.md")
    try:
        return _read(str(path))
    except FileNotFoundError:
        raise MemcliError(f"prompt file {path} is missing (reinstall memcli or set "
                          "MEMCLI_PROMPTS)") from None


def fill(template: str, **values) -> str:
    """Replace ``{name}`` with ``values[name]`` in one pass; a missing value is an error."""

    def sub(m: re.Match) -> str:
        key = m.group(1)
        if key not in values:
            raise MemcliError(f"prompt placeholder {{{key}}} has no value")
        return str(values[key])

    return PLACEHOLDER.sub(sub, template)


def render(name: str, **values) -> str:
    """The whole template ``name`` filled in (role lines included, if any)."""
    return fill(load(name), **values)


def messages(name: str, **values) -> list[dict]:
    """The template as chat messages ``[{"role", "content"}]``, placeholders filled."""
    text = load(name)
    parts = ROLE_LINE.split(text)
    if len(parts) == 1:
        return [{"role": "user", "content": fill(text, **values).strip()}]
    out = []
    for role, body in zip(parts[1::2], parts[2::2]):
        out.append({"role": role, "content": fill(body, **values).strip()})
    return out
