"""Property-based fuzzing of every importer (chatgpt, claude, jsonl, markdown) with random bytes,
truncated and bit-flipped exports, wrong JSON types, other encodings and huge input.

The property: ``import_path`` either succeeds (the indexes stay consistent) or raises one
MemcliError with a one-line message and leaves the database exactly as it was. Anything else
(a traceback, a half-written database) is a bug."""

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from memcli.backends.fakes import HashEmbedder
from memcli.core.errors import MemcliError
from memcli.services.maintenance import diagnose
from memcli.services.memory import Memory

ingest = importlib.import_module("memcli.services.ingest")
FIX = Path(__file__).parent / "fixtures" / "import"
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])

# source -> (fixture, the file inside it to damage)
TARGETS = {
    "chatgpt": ("chatgpt_conversations.json", None),
    "claude": ("claude_export", "conversations.json"),
    "jsonl": ("conversations.jsonl", None),
    "markdown": ("vault", "Notes"),
}


@pytest.fixture(scope="module")
def memory(tmp_path_factory):
    m = Memory(tmp_path_factory.mktemp("fuzzhome"), embedder=HashEmbedder())
    m.remember("a note that was here before any import", tags=["seed"])
    yield m
    assert diagnose(m, embedder=m.embedder).ok  # after all the fuzzing: still consistent
    m.close()


def _fingerprint(m):
    c = m.store.conn
    return tuple(c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                 for t in ("items", "items_fts", "items_vec", "item_tags", "links",
                           "conversations", "item_sources"))


def _check_import(m, source, path):
    before = _fingerprint(m)
    try:
        result = ingest.import_path(m, source, path)
    except MemcliError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg, repr(msg)
        assert _fingerprint(m) == before, f"failed import changed the database: {msg}"
        return None
    after = _fingerprint(m)
    assert after[0] - before[0] >= -result.deleted  # only files gone from the vault go
    assert after[0] == after[1] == after[2], "items / FTS / vectors out of step"
    return result


def _copy_target(tmp_path, source, name="case"):
    """A fresh copy of the fixture; returns (path to import, file to damage)."""
    fixture, inner = TARGETS[source]
    src = FIX / fixture
    dest = tmp_path / name / fixture
    if dest.parent.exists():
        shutil.rmtree(dest.parent)
    dest.parent.mkdir(parents=True)
    if src.is_dir():
        shutil.copytree(src, dest)
        if source == "markdown":
            return dest, dest / inner / "fuzzed.md"
        return dest, dest / inner
    shutil.copy(src, dest)
    return dest, dest


sources = st.sampled_from(sorted(TARGETS))


@SETTINGS
@given(source=sources, data=st.binary(max_size=4000))
def test_random_bytes(memory, tmp_path, source, data):
    path, victim = _copy_target(tmp_path, source)
    victim.write_bytes(data)
    _check_import(memory, source, path)


@SETTINGS
@given(source=sources, cut=st.floats(0, 1), flips=st.lists(
    st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=6))
def test_truncated_and_bit_flipped_exports(memory, tmp_path, source, cut, flips):
    path, victim = _copy_target(tmp_path, source)
    if source == "markdown":
        victim = next(p for p in sorted(path.rglob("*.md")) if p.parent.name != ".trash")
    raw = bytearray(victim.read_bytes())
    for where, byte in flips:
        if raw:
            raw[int(where * (len(raw) - 1))] = byte
    victim.write_bytes(bytes(raw[: int(cut * len(raw))]))
    _check_import(memory, source, path)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _replace(node, path, value):
    if not path:
        return value
    node[path[0]] = _replace(node[path[0]], path[1:], value)
    return node


@SETTINGS
@given(source=st.sampled_from(["chatgpt", "claude", "jsonl"]), data=st.data())
def test_wrong_types_in_json_fields(memory, tmp_path, source, data):
    """Any field of a real export replaced by any JSON value (null, number, list, object…)."""
    path, victim = _copy_target(tmp_path, source)
    if source == "claude":  # any of the export's three files
        victim = victim.with_name(data.draw(st.sampled_from(
            ["conversations.json", "projects.json", "memories.json"])))
    if source == "jsonl":
        docs = [json.loads(line) for line in victim.read_text().splitlines() if line.strip()]
    else:
        docs = json.loads(victim.read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        target = data.draw(st.sampled_from(list(_paths(docs))))
        docs = _replace(docs, target, data.draw(json_values))
    if source == "jsonl":
        lines = docs if isinstance(docs, list) else [docs]
        victim.write_text("\n".join(json.dumps(d) for d in lines) + "\n")
    else:
        victim.write_text(json.dumps(docs))
    _check_import(memory, source, path)


@pytest.mark.parametrize("source", sorted(TARGETS))
@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "latin-1", "utf-8-sig", "cp1252"])
def test_other_encodings(memory, tmp_path, source, encoding):
    path, victim = _copy_target(tmp_path, source)
    if source == "markdown":
        victim.write_bytes("# Café notes\n\nnaïve façade — déjà vu\n".encode(encoding, "replace"))
    else:
        text = victim.read_text(encoding="utf-8").replace("Sourdough", "Sourdoügh café")
        victim.write_bytes(text.encode(encoding, "replace"))
    _check_import(memory, source, path)


def test_huge_and_deep_input(memory, tmp_path):
    big = "x" * 1_000_000
    (tmp_path / "big.jsonl").write_text(json.dumps(
        {"id": "huge", "messages": [{"role": "user", "content": big + " elephant"}]}) + "\n")
    assert _check_import(memory, "jsonl", tmp_path / "big.jsonl") is not None
    deep = "[" * 200_000 + "]" * 200_000
    for source, name in (("chatgpt", "deep.json"), ("jsonl", "deep.jsonl"),
                         ("claude", "conversations.json")):
        d = tmp_path / source
        d.mkdir()
        (d / name).write_text(deep if source != "jsonl" else '{"id": "d", "messages": ' + deep + "}\n")
        _check_import(memory, source, d / name if source != "claude" else d)
    long_line = tmp_path / "long.jsonl"
    long_line.write_bytes(b'{"id": "x", "messages": [' + b'{"role": "user", "content": "a"},' * 5_000
                          + b'{"role": "user", "content": "end"}]}\n')
    _check_import(memory, "jsonl", long_line)
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "huge.md").write_text("# Big\n\n" + ("word " * 200_000))
    (vault / "binary.md").write_bytes(os.urandom(5000))
    (vault / "fm.md").write_text("---\n" + "a: &a [*a, *a]\n" * 50 + "---\nbody\n")
    _check_import(memory, "markdown", vault)


def test_cli_never_prints_a_traceback_on_garbage(home, tmp_path):
    """The real executable on a few nasty files: one `Error:` line or a summary, exit 0/1."""
    script = Path(sys.executable).with_name("memcli")
    cmd = [str(script)] if script.exists() else [sys.executable, "-c",
                                                  "from memcli.main import run; run()"]
    cases = {"chatgpt": b"\x00\x01binary\xff" * 100, "claude": b'[{"uuid": 5, "chat_messages": "x"}]',
             "jsonl": b'{"id": "a", "messages": [{"role": "user", "content": "ok"}]}\n{"id": ',
             "markdown": b"\xff\xfe\x00garbage"}
    env = dict(os.environ, MEMCLI_HOME=str(home))
    for source, data in cases.items():
        p = tmp_path / f"{source}.{'md' if source == 'markdown' else 'json'}"
        p.write_bytes(data)
        target = p if source != "markdown" else tmp_path
        proc = subprocess.run([*cmd, "import", source, str(target)], env=env,
                              capture_output=True, text=True, timeout=120)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert proc.returncode in (0, 1), proc.stderr
        if proc.returncode == 1:
            assert proc.stderr.startswith("Error: ") and len(proc.stderr.strip().splitlines()) == 1


def test_hostile_vault(memory, tmp_path):
    """Regressions: a self-referencing YAML alias (was a RecursionError traceback), a file name
    that is not UTF-8 (aborted the whole import), symlink loops, broken links, a folder named
    .md, a YAML tag that would run code, a binary .md, a huge tag list."""
    vault = tmp_path / "hostile"
    vault.mkdir()
    (vault / "alias.md").write_text("---\naliases: &a [*a]\ntags: &t {x: *t}\n---\nalias body\n")
    (vault / os.fsdecode(b"bad\xffname.md")).write_text("# Fine\n\nbody of a badly named file\n")
    (vault / "pwn.md").write_text("---\nx: !!python/object/apply:os.system ['touch "
                                  f"{tmp_path}/pwned']\n---\nbody\n")
    (vault / "loop").symlink_to(vault)
    (vault / "broken.md").symlink_to(tmp_path / "nowhere.md")
    (vault / "dir.md").mkdir()
    (vault / "bin.md").write_bytes(b"\x00\x01\x02\xff" * 100)
    (vault / "tags.md").write_text("---\ntags: [" + ", ".join(f"t{i}" for i in range(5000))
                                   + "]\n---\nmany tags\n")
    result = _check_import(memory, "markdown", vault)
    assert result is not None and result.added >= 3, result
    assert not (tmp_path / "pwned").exists()
    texts = {r[0] for r in memory.store.conn.execute("SELECT text FROM items WHERE source = 'markdown'")}
    assert any("badly named" in t for t in texts) and any("alias body" in t for t in texts)
    again = _check_import(memory, "markdown", vault)
    assert again.added == 0  # re-import is a no-op, even for the odd file name


@pytest.mark.parametrize("source,file,edit", [
    # each of these was a traceback before (found by the fuzzing above)
    ("chatgpt", None, lambda d: d[0].update(current_node=[None])),
    ("chatgpt", None, lambda d: [n.update(parent={"x": 1}) for n in d[0]["mapping"].values()]),
    ("claude", "memories.json", lambda d: d[0].update(project_memories=7)),
    ("claude", "projects.json", lambda d: d[0].update(docs=5)),
])
def test_regressions_wrong_types(memory, tmp_path, source, file, edit):
    path, victim = _copy_target(tmp_path, source)
    if file:
        victim = victim.with_name(file)
    docs = json.loads(victim.read_text())
    edit(docs)
    victim.write_text(json.dumps(docs))
    result = _check_import(memory, source, path)
    assert result is not None  # the rest of the export still imports


# ---- the real CLI with random bytes: `memcli add -` and `memcli import <every format>` ---------
def _cli_stats(cli):
    code, out, err = cli("stats", "--json")
    assert code == 0, err
    data = json.loads(out)
    data.pop("size_bytes", None)
    return data


def _ok_or_one_error(cli, before, code, err):
    assert code in (0, 1), (code, err)
    if code == 1:
        assert err.startswith("Error: ") and len(err.strip().splitlines()) == 1, err
        assert _cli_stats(cli) == before, f"a refused input changed the database: {err}"


CLI_SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                        suppress_health_check=[HealthCheck.function_scoped_fixture,
                                               HealthCheck.too_slow, HealthCheck.data_too_large])
some_bytes = st.one_of(st.binary(max_size=3000),
                       st.text(max_size=2000).map(lambda t: t.encode("utf-8", "surrogatepass")))


@CLI_SETTINGS
@given(data=some_bytes)
def test_cli_add_stdin_random_bytes(cli, data):
    before = _cli_stats(cli)
    code, out, err = cli("add", "-", "--json", "--no-digest", input=data)
    _ok_or_one_error(cli, before, code, err)
    if code == 0:
        item = json.loads(cli("show", json.loads(out)["id"], "--json")[1])
        assert item["text"] and _cli_stats(cli)["items"] > before["items"]


@CLI_SETTINGS
@given(source=sources, data=some_bytes)
def test_cli_import_random_bytes_into_every_importer(cli, tmp_path, source, data):
    path, victim = _copy_target(tmp_path, source)
    victim.write_bytes(data)
    before = _cli_stats(cli)
    code, out, err = cli("import", source, path, "--no-digest")
    _ok_or_one_error(cli, before, code, err)
