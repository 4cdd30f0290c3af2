"""No network, proven at the system-call level: the one-time ONNX export (`python -m
memcli.backends.prepare`, run by `make venv`) and a bulk import with an empty model cache run under
``strace -f`` (inside a network namespace without interfaces when `unshare -n` is allowed), and
the trace must hold no AF_INET/AF_INET6 connect and no send to port 53 (a DNS query). Native code
(onnxruntime's telemetry uploader) is invisible to the socket-blocking test in test_privacy.py;
it is not invisible here.

Where strace is missing but namespaces work, the commands run in a namespace whose
/etc/resolv.conf points at a listener on its loopback that records every DNS query. Skipped only
when neither tool is usable (the skip message says so)."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.test_privacy import MEMCLI

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
INET = re.compile(r"sa_family=AF_INET6?\b")
PORT53 = re.compile(r"htons\(53\)")
LOOPBACK = re.compile(r'inet_addr\("127\.|inet_pton\(AF_INET6, "::1"')


def _works(cmd) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


HAVE_STRACE = bool(shutil.which("strace")) and _works(["strace", "-f", "-qq", "-o", os.devnull,
                                                       "true"])
HAVE_NETNS = bool(shutil.which("unshare")) and (_works(["unshare", "-n", "true"])
                                                or _works(["unshare", "-rn", "true"]))


def _netns_prefix() -> list[str]:
    if not HAVE_NETNS:
        return []
    return ["unshare", "-n"] if _works(["unshare", "-n", "true"]) else ["unshare", "-rn"]


def network_attempts(trace: str) -> list[str]:
    """Lines of an ``strace -e trace=connect,sendto,sendmsg`` log that try to reach a network:
    a connect to an IPv4/IPv6 address (loopback excepted, unless it is a DNS port) or any send to
    port 53. AF_UNIX (nscd, dbus) is local and fine."""
    out = []
    for line in trace.splitlines():
        if PORT53.search(line):
            out.append(line)
        elif "connect(" in line and INET.search(line) and not LOOPBACK.search(line):
            out.append(line)
    return out


def test_the_detector_sees_a_dns_query_and_a_connect():
    sample = textwrap.dedent('''\
        12 connect(8, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.53")}, 16) = 0
        12 sendto(8, "x", 50, MSG_NOSIGNAL, NULL, 0) = 50
        13 connect(9, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0)}, 28) = -1
        14 connect(3, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT
        15 connect(4, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
    ''')
    found = network_attempts(sample)
    assert len(found) == 2 and "htons(53)" in found[0] and "AF_INET6" in found[1]


def _bulk_file(tmp_path: Path) -> Path:
    path = tmp_path / "bulk.jsonl"
    with path.open("w") as f:
        for c in range(20):
            f.write(json.dumps({"id": f"c{c}", "title": f"Chat {c}", "messages": [
                {"role": "user" if i % 2 == 0 else "assistant",
                 "content": f"conversation {c} message {i}: trains, sourdough and the passport"}
                for i in range(10)]}) + "\n")
    return path


def _env(tmp_path: Path, cache: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "ORT_DISABLE_TELEMETRY",
                        "MEMCLI_EMBEDDER", "HF_HUB_DISABLE_TELEMETRY")}  # memcli must set them
    env.update(MEMCLI_HOME=str(tmp_path / "home"), MEMCLI_CACHE=str(cache),
               PYTHONPATH=str(ROOT))
    return env


COMMANDS = [
    ("prepare", [sys.executable, "-m", "memcli.backends.prepare"]),
    ("import", [*MEMCLI, "import", "jsonl", "{bulk}"]),
    ("add", [*MEMCLI, "add", "the passport is in the desk drawer"]),
    ("search", [*MEMCLI, "search", "where is the passport?", "--json"]),
]


def _commands(tmp_path):
    """(name, argv, cache dir): the export on its own, then a bulk import whose first step is the
    same export (an empty cache of its own), then everyday commands on the prepared cache."""
    bulk = _bulk_file(tmp_path)
    caches = {"prepare": tmp_path / "cache-prepare", "import": tmp_path / "cache-import"}
    for name, argv in COMMANDS:
        yield name, [a.format(bulk=bulk) for a in argv], caches.get(name, caches["import"])


@pytest.mark.skipif(not HAVE_STRACE, reason="strace is not available (the namespace test below "
                                            "covers DNS where unshare works)")
def test_no_connect_or_dns_from_the_first_export_and_a_bulk_import(tmp_path):
    prefix = _netns_prefix()
    probe = tmp_path / "strace-probe.txt"  # the detector sees a real lookup
    subprocess.run([*prefix, "strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o",
                    str(probe), sys.executable, "-c", "import socket\ntry: socket.getaddrinfo("
                    "'example.com', 443)\nexcept OSError: pass"], capture_output=True, timeout=60)
    assert network_attempts(probe.read_text()), probe.read_text()
    for name, argv, cache in _commands(tmp_path):
        log = tmp_path / f"strace-{name}.txt"
        proc = subprocess.run([*prefix, "strace", "-f", "-qq", "-e",
                               "trace=connect,sendto,sendmsg", "-o", str(log), *argv],
                              env=_env(tmp_path, cache), capture_output=True, text=True,
                              timeout=600, cwd=tmp_path)
        assert proc.returncode == 0, (name, proc.stderr[-2000:])
        attempts = network_attempts(log.read_text())
        assert not attempts, f"{name} tried the network:\n" + "\n".join(attempts[:10])
        if name == "import":  # the export really ran inside the import, and it imported
            assert list(cache.rglob("*.onnx")) and "Added 200 messages" in proc.stdout
        if name == "search":
            assert "desk drawer" in json.loads(proc.stdout)[0]["text"]


RESOLVER = textwrap.dedent('''\
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 53))
    open(sys.argv[2], "w").close()
    with open(sys.argv[1], "a") as log:
        while True:
            data, addr = s.recvfrom(4096)
            log.write(repr(data) + "\\n")
            log.flush()
''')


@pytest.mark.skipif(not shutil.which("unshare") or not _works(["unshare", "-n", "-m", "true"]),
                    reason="unshare -n -m not allowed here (the strace test above covers it)")
def test_no_dns_query_reaches_a_resolver_in_a_network_namespace(tmp_path):
    """A namespace with only a loopback device, /etc/resolv.conf bound to 127.0.0.1 where a
    listener records every query: the export and the bulk import must send none."""
    if HAVE_STRACE and os.environ.get("MEMCLI_NET_BOTH") != "1":
        pytest.skip("strace test ran; set MEMCLI_NET_BOTH=1 to run this one too")
    (tmp_path / "resolver.py").write_text(RESOLVER)
    (tmp_path / "resolv.conf").write_text("nameserver 127.0.0.1\n")
    queries, ready = tmp_path / "queries.txt", tmp_path / "ready"
    probe = [sys.executable, "-c", "import socket\ntry: socket.getaddrinfo('example.com', 443)\n"
                                   "except OSError: pass"]
    for name, argv, cache in [("probe", probe, tmp_path / "cache-import"), *_commands(tmp_path)]:
        ready.unlink(missing_ok=True)
        queries.unlink(missing_ok=True)
        script = (f"ip link set lo up && mount --bind {tmp_path / 'resolv.conf'} /etc/resolv.conf"
                  f" || exit 99; {sys.executable} {tmp_path / 'resolver.py'} {queries} {ready}"
                  f" >/dev/null 2>&1 & R=$!; while [ ! -e {ready} ]; do sleep 0.1; done; "
                  + shlex.join(argv) + "; rc=$?; sleep 0.5; kill $R; exit $rc")
        proc = subprocess.run(["unshare", "-n", "-m", "sh", "-c", script],
                              env=_env(tmp_path, cache), capture_output=True, text=True,
                              timeout=600, cwd=tmp_path)
        assert proc.returncode == 0, (name, proc.stderr[-2000:])
        if name == "probe":  # the listener does record a query
            assert "example" in queries.read_text(), "the resolver in the namespace saw nothing"
            continue
        got = queries.read_text() if queries.exists() else ""
        assert not got.strip(), f"{name} sent DNS queries: {got[:500]}"
