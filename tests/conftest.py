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
def mem(home):
    from memcli.backends.embedders import HashEmbedder
    from memcli.services.memory import Memory

    m = Memory(home, embedder=HashEmbedder())
    yield m
    m.close()


@pytest.fixture
def cli(home):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    from typer.testing import CliRunner

    from memcli.cli.main import app

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
