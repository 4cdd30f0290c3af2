"""`memcli mcp` on a 10,000-message store: start-up to first answer, and warm `search` per call.

start-up: a fresh `memcli mcp` process per run, spoken to in raw JSON-RPC over its pipes (no client
          library in the way): time from spawn to the `initialize` result, and to the result of a
          first `search` (the server's first useful answer: SDK import, database open, embedder
          load, query). Target ≤ 1 s.
warm:     one server, driven through the MCP SDK's own stdio client (`ClientSession.call_tool`),
          round trip per `search` call after a few warm-up calls; queries cycle through the store's
          needle questions and topic phrases. Target p50 ≤ 50 ms.
The store is benchmarks/bench_cold_search.py's (synthetic chats plus 3 needle notes), built with the
default embedder unless --home already holds one. Usage:
    .venv/bin/python benchmarks/bench_mcp.py [--messages 10000] [--runs 7] [--calls 200] [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cold_search import MEMCLI, NEEDLES, build_store
from common import header, table, timing_summary

QUERIES = [q for _, q in NEEDLES] + [
    "train to Porto", "what did Ana say about the billing roadmap", "spicy ramen recipe",
    "dentist appointment", "how many km did I run", "hotel in Osaka", "Chen's birthday",
    "packing list for Lima", "data pipeline deadline", "slept badly"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc): unlike wall time, it
    barely grows when other processes compete for the cores."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids() -> list[int]:
    out = []
    for children in Path("/proc/self/task").glob("*/children"):
        out += [int(p) for p in children.read_text().split()]
    return out


def server_env(home: Path) -> dict:
    env = dict(os.environ, MEMCLI_HOME=str(home), HF_HUB_OFFLINE="1")
    env.pop("MEMCLI_EMBEDDER", None)  # the product default
    return env


def start_up(home: Path, query: str) -> tuple[float, float, float]:
    """(seconds to the initialize result, seconds to the first search result, CPU seconds the
    server used until then) of a new server."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([MEMCLI, "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=server_env(home))

    def send(msg: dict) -> None:
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", **msg}) + "\n")
        proc.stdin.flush()

    try:
        send({"id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "0"}}})
        assert json.loads(proc.stdout.readline())["id"] == 1
        t_init = time.perf_counter() - t0
        send({"method": "notifications/initialized"})
        send({"id": 2, "method": "tools/call",
              "params": {"name": "search", "arguments": {"query": query, "limit": 10}}})
        reply = json.loads(proc.stdout.readline())
        t_first = time.perf_counter() - t0
        cpu = cpu_seconds(proc.pid)
        assert reply["id"] == 2 and not reply["result"].get("isError"), reply
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    return t_init, t_first, cpu


def warm_search(home: Path, calls: int, warmup: int = 5) -> tuple[list[float], int, int, float]:
    """Seconds per `search` round trip through the SDK client; of the needle questions asked,
    how many put the needle note first, and how many there were; the server's CPU seconds per
    call."""
    import anyio
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    async def main():
        params = StdioServerParameters(command=MEMCLI, args=["mcp"], env=server_env(home))
        times, found, asked = [], 0, 0
        before = set(child_pids())
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                [server] = set(child_pids()) - before
                for i in range(warmup + calls):
                    query = QUERIES[i % len(QUERIES)]
                    t = time.perf_counter()
                    res = await session.call_tool("search", {"query": query, "limit": 10})
                    dt = time.perf_counter() - t
                    assert not res.is_error, res.content
                    if i == warmup - 1:
                        cpu0 = cpu_seconds(server)
                    if i >= warmup:
                        times.append(dt)
                        needle = next((n for n, q in NEEDLES if q == query), None)
                        if needle is not None:
                            asked += 1
                            found += json.loads(res.content[0].text)[0]["text"] == needle
                cpu = (cpu_seconds(server) - cpu0) / calls
        return times, found, asked, cpu

    return anyio.run(main)


def in_process(home: Path, calls: int, warmup: int = 5) -> list[float]:
    """The same searches without the protocol: the tool body (``MemoryTools.search``) called
    directly in this process, for the server's own overhead under the same load."""
    os.environ.pop("MEMCLI_EMBEDDER", None)
    from memcli.mcp.tools import MemoryTools
    from memcli.services.memory import Memory

    with Memory(home) as mem:
        tools = MemoryTools(mem)
        times = []
        for i in range(warmup + calls):
            t = time.perf_counter()
            tools.search(QUERIES[i % len(QUERIES)], limit=10)
            if i >= warmup:
                times.append(time.perf_counter() - t)
    return times


def sdk_import() -> float:
    """Seconds for a fresh interpreter to import the SDK's server (the largest part of start-up)."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import mcp.server.mcpserver"], check=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=7, help="fresh servers for the start-up figure")
    ap.add_argument("--calls", type=int, default=200, help="warm search calls")
    ap.add_argument("--home", type=Path, default=None, help="reuse/keep the store here")
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="memcli-bench-")) / "home"
    if not (home / "memcli.db").exists():
        t = time.perf_counter()
        os.environ.pop("MEMCLI_EMBEDDER", None)
        os.environ["MEMCLI_HOME"] = str(home)
        build_store(home, args.messages)
        print(f"built {args.messages} items in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    start_up(home, "warm the OS file cache")
    starts = [start_up(home, QUERIES[i % len(QUERIES)]) for i in range(args.runs)]
    times, found, needles, warm_cpu = warm_search(home, args.calls)
    direct = timing_summary(in_process(home, args.calls))
    imports = timing_summary([sdk_import() for _ in range(args.runs)])
    init = timing_summary([s[0] for s in starts])
    first = timing_summary([s[1] for s in starts])
    warm = timing_summary(times)
    print(header(f"`memcli mcp`, {args.messages:,} stored messages", extra={
        "store": "benchmarks/bench_cold_search.py's synthetic chats + 3 needle notes, default "
                 "embedder (numpy MiniLM)"}))
    print()
    print(table(["measure", "n", "p50 ms", "p95 ms", "max ms", "target"], [
        ["start-up: spawn → initialize result", init["n"], f"{init['p50_ms']:.0f}",
         f"{init['p95_ms']:.0f}", f"{init['max_ms']:.0f}", ""],
        ["start-up: spawn → first search result", first["n"], f"{first['p50_ms']:.0f}",
         f"{first['p95_ms']:.0f}", f"{first['max_ms']:.0f}", "≤ 1000"],
        ["warm search round trip (SDK client)", warm["n"], f"{warm['p50_ms']:.1f}",
         f"{warm['p95_ms']:.1f}", f"{warm['max_ms']:.1f}", "p50 ≤ 50"],
        ["reference: the same searches in-process, no protocol", direct["n"],
         f"{direct['p50_ms']:.1f}", f"{direct['p95_ms']:.1f}", f"{direct['max_ms']:.1f}", ""],
        ["reference: fresh `python -c 'import mcp.server.mcpserver'`", imports["n"],
         f"{imports['p50_ms']:.0f}", f"{imports['p95_ms']:.0f}", f"{imports['max_ms']:.0f}", ""],
    ]))
    print()
    cpus = sorted(s[2] for s in starts)
    print(f"server CPU time (user + system, barely affected by load): start-up to first search "
          f"result median {cpus[len(cpus) // 2] * 1000:.0f} ms (min {cpus[0] * 1000:.0f}); warm "
          f"search {warm_cpu * 1000:.1f} ms per call")
    print()
    print(f"needle note ranked first in {found}/{needles} warm needle queries; "
          f"start-up p50 ≤ 1 s: {first['p50_ms'] <= 1000}; warm p50 ≤ 50 ms: {warm['p50_ms'] <= 50}")


if __name__ == "__main__":
    main()
