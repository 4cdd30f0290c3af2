import json
import os
from contextlib import contextmanager
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


@contextmanager
def serve_loopback(handler):
    """An HTTP server for ``handler`` (a BaseHTTPRequestHandler class) on a free loopback port,
    in a thread; yields its base URL (``http://127.0.0.1:PORT``)."""
    import threading
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def send_json(handler, status: int, body: bytes) -> None:
    """Write a JSON reply from a BaseHTTPRequestHandler (the loopback relays of the tests)."""
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def llama_server(log_dir: Path, *, n_ctx: int, alias: str):
    """A real ``python -m llama_cpp.server`` on loopback serving the bundled GGUF; yields its base
    URL (``http://127.0.0.1:PORT``) once it answers, and stops it afterwards."""
    import subprocess
    import sys
    import time

    import httpx

    from memcli.backends.llm import default_model_path

    port = free_port()
    log_path = log_dir / "server.log"
    log = open(log_path, "wb")  # a file, not a pipe: llama.cpp's load log would fill a pipe
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
         "--model_alias", alias, "--verbose", "false"],
        stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail("llama_cpp.server exited: " + log_path.read_text(errors="replace")[-2000:])
            try:
                if httpx.get(f"{base}/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not answer within 90 s")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
