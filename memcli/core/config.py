"""Where memcli keeps its data and how it is configured.

Leaf module: stdlib + platformdirs only.

Data directory: ``$MEMCLI_HOME`` (or ``--home``) else the platformdirs user data dir.
Config file: ``$MEMCLI_CONFIG``, else ``config.toml`` inside ``$MEMCLI_HOME`` when that is set,
else ``config.toml`` in the platformdirs user config dir. Documented keys: see README "Configuration".
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from memcli.core.errors import MemcliError

APP = "memcli"
DB_NAME = "memcli.db"


def data_dir(home: str | os.PathLike | None = None) -> Path:
    if home is None:
        home = os.environ.get("MEMCLI_HOME") or None
    if home is None:
        import platformdirs

        home = platformdirs.user_data_dir(APP, appauthor=False)
    return Path(home).expanduser()


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (0700) if needed; memory is private."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    return path


def cache_dir() -> Path:
    """Where derived, re-creatable artefacts live (the ONNX export of the embedder)."""
    env = os.environ.get("MEMCLI_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP, appauthor=False))


def config_path(home: str | os.PathLike | None = None) -> Path:
    env = os.environ.get("MEMCLI_CONFIG")
    if env:
        return Path(env).expanduser()
    if home is not None or os.environ.get("MEMCLI_HOME"):
        return data_dir(home) / "config.toml"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP, appauthor=False)) / "config.toml"


@dataclass
class Config:
    """All settings, with their defaults. TOML keys are ``[section] key`` as below."""

    # [embedding]
    embedding_backend: str = "minilm"  # minilm (default) | onnx | sbert (sentence-transformers) | hash
    # [llm]
    llm_backend: str = "llama"  # llama (in-process GGUF) | openai (compatible HTTP endpoint) | fake
    llm_model: str = ""  # GGUF path for llama; model name for openai; "" = bundled SmolLM2
    llm_base_url: str = "http://127.0.0.1:8080/v1"
    llm_api_key: str = ""
    llm_n_ctx: int = 4096
    llm_max_tokens: int = 256
    llm_temperature: float = 0.2
    # [search]
    search_limit: int = 10
    # [ask]
    ask_context_items: int = 8  # retrieved items offered to the small profile (-n overrides)
    ask_abstain_threshold: float = 0.33  # calibrated: benchmarks/calibrate_abstain.py
    ask_profile: str = "auto"  # auto | small | capable (auto: by backend and model size)
    ask_answer: str = "auto"  # auto | generate | extractive (auto: extractive for the bundled model)
    # [ask.small]: the bundled 135M model and other small GGUFs (under ~1 GB)
    ask_small_prompt: str = "ask"  # prompts/<name>.md
    ask_small_context_chars: int = 2400
    ask_small_source_chars: int = 280
    # [ask.capable]: bigger GGUFs and OpenAI-compatible endpoints
    ask_capable_prompt: str = "ask_capable"
    ask_capable_items: int = 60
    ask_capable_context_chars: int = 0  # 0: sized from the model's window ([llm] n_ctx)
    ask_capable_source_chars: int = 1500
    # [limits]: the largest input accepted (README "Limits"); larger is refused with one line
    limits_note_mb: int = 100  # one note (`memcli add`, MCP, TUI); long notes are split in sections
    limits_message_mb: int = 16  # one message of an imported chat export
    # [replica]
    replica_url: str = ""  # Litestream replica (file:///path, s3://bucket/path, sftp://…); no secrets

    @classmethod
    def load(cls, home: str | os.PathLike | None = None) -> "Config":
        cfg = cls()
        path = config_path(home)
        if path.exists():
            try:
                raw = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise MemcliError(f"config file {path} is not valid TOML: {exc}") from None
            cfg._apply(raw, str(path))
        env_embed = os.environ.get("MEMCLI_EMBEDDER")
        if env_embed:
            cfg.embedding_backend = env_embed
        env_llm = os.environ.get("MEMCLI_LLM")
        if env_llm:
            cfg.llm_backend = env_llm
        return cfg

    def _apply(self, raw: dict, where: str, prefix: str = "") -> None:
        """``[section] key`` sets ``section_key``; a sub-table ``[ask.small] key`` sets
        ``ask_small_key``. Unknown keys and tables are errors."""
        known = {f.name: f for f in fields(self)}
        for section, values in raw.items():
            if not isinstance(values, dict):
                raise MemcliError(f"config {where}: expected a [section] table, got key {section!r}")
            table = f"{prefix}.{section}" if prefix else section
            under = f"{prefix.replace('.', '_')}_{section}" if prefix else section
            subs = {k: v for k, v in values.items() if isinstance(v, dict)}
            if subs:
                self._apply(subs, where, table)
            for key, value in values.items():
                if isinstance(value, dict):
                    continue
                name = f"{under}_{key}"
                if name not in known:
                    raise MemcliError(f"config {where}: unknown key [{table}] {key}")
                default = getattr(self, name)
                if isinstance(default, bool) or not isinstance(value, type(default)):
                    if isinstance(default, float) and isinstance(value, int):
                        value = float(value)
                    elif type(value) is not type(default):
                        raise MemcliError(
                            f"config {where}: [{table}] {key} must be {type(default).__name__}"
                        )
                setattr(self, name, value)


def save_replica_url(home: str | os.PathLike | None, url: str) -> Path:
    """Record ``[replica] url`` in config.toml (created 0600 if missing). Only appends a new
    ``[replica]`` table: a file that has one already is the user's to edit."""
    import json

    path = config_path(home)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if "replica" in tomllib.loads(text):
        raise MemcliError(f"config {path} already has a [replica] table; edit its url there")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        gap = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
        f.write(f"{gap}[replica]\nurl = {json.dumps(url)}\n")
    return path
