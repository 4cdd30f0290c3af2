import json
import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Every test gets its own data dir and config; unit tests use the hashed fake embedder."""
    home = tmp_path / "home"
    monkeypatch.setenv("MEMCLI_HOME", str(home))
    monkeypatch.delenv("MEMCLI_CONFIG", raising=False)
    monkeypatch.setenv("MEMCLI_EMBEDDER", os.environ.get("MEMCLI_TEST_EMBEDDER", "hash"))
    monkeypatch.setenv("MEMCLI_LLM", "fake")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def fake_llm():
    """The scripted fake LLM (default reply; ``.calls`` records every prompt it received)."""
    from memcli.backends.fakes import FakeLLM

    return FakeLLM()


@pytest.fixture
def make_memory(home):
    """``make_memory(embedder=..., llm=...)``: a Memory on the test's home with these models,
    given through the constructor (default: the hashed embedder, the LLM the config names, i.e.
    the fake). Every memory made is closed at the end of the test."""
    from memcli.backends.fakes import HashEmbedder
    from memcli.services.memory import Memory

    made = []

    def make(*, embedder=None, llm=None):
        m = Memory(home, embedder=embedder or HashEmbedder(), llm=llm)
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()


@pytest.fixture
def mem(make_memory):
    return make_memory()


@pytest.fixture
def cli(home):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    from typer.testing import CliRunner

    from memcli.main import app

    runner = CliRunner()

    def invoke(*args, input=None):
        result = runner.invoke(app, [str(a) for a in args], input=input)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    return invoke


@pytest.fixture
def cli_json(cli):
    def invoke(*args, input=None):
        code, out, err = cli(*args, "--json", input=input)
        assert code == 0, err
        return json.loads(out)

    return invoke


def shared_path(*parts) -> Path:
    return SHARED.joinpath(*parts)


def note_id(memory, title: str) -> int:
    """The id of the (first) note titled ``title``."""
    return next(i for i, t, _, _ in memory.store.title_index() if t == title)
