"""Bad input: one line `Error: <file>: <what>`, exit 1, database unchanged. Interrupted imports
keep what was committed and resume."""

import json
import zipfile
from pathlib import Path

import pytest

from memcli.core.errors import ImportFailed
from memcli.services.ingest import import_path

FIX = Path(__file__).parent / "fixtures" / "import"
CHATGPT = FIX / "chatgpt_conversations.json"
CLAUDE = FIX / "claude_export" / "conversations.json"


def _db_snapshot(mem):
    s = mem.stats()
    return (s["items"], s["conversations"], s["links"], s["vectors"])


@pytest.fixture
def seeded(mem):
    import_path(mem, "jsonl", FIX / "conversations.jsonl")
    return mem


def _cases(tmp_path):
    full = CHATGPT.read_bytes()
    trunc = tmp_path / "truncated.json"
    trunc.write_bytes(full[: len(full) * 2 // 3])  # the first conversation is complete
    notzip = tmp_path / "export.zip"
    notzip.write_text("this is not a zip")
    binary = tmp_path / "blob.json"
    binary.write_bytes(bytes(range(256)) * 4)
    obj = tmp_path / "object.json"
    obj.write_text('{"conversations": []}')
    empty = tmp_path / "empty.json"
    empty.write_text("")
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    (nothing / "readme.txt").write_text("hi")
    zip_without = tmp_path / "other.zip"
    with zipfile.ZipFile(zip_without, "w") as zf:
        zf.writestr("photos/a.jpg", b"\xff\xd8")
    return [
        ("chatgpt", trunc, "truncated JSON"),
        ("chatgpt", notzip, "not a zip file"),
        ("chatgpt", binary, "not a JSON file"),
        ("chatgpt", obj, "found a JSON object"),
        ("chatgpt", empty, "the file is empty"),
        ("chatgpt", nothing, "no conversations.json"),
        ("chatgpt", zip_without, "no conversations.json"),
        ("chatgpt", tmp_path / "missing.json", "no such file or directory"),
        ("chatgpt", CLAUDE, "this is a Claude export, not ChatGPT; use `memcli import claude`"),
        ("claude", CHATGPT, "this is a ChatGPT export, not Claude; use `memcli import chatgpt`"),
        ("claude", trunc, "truncated JSON"),
        ("jsonl", CHATGPT, "a JSON document, not JSON Lines"),
        ("jsonl", binary, "binary file"),
        ("jsonl", empty, "no conversations in this file"),
        ("markdown", nothing, "no Markdown"),
    ]


def test_bad_inputs_raise_and_leave_db_unchanged(seeded, tmp_path):
    before = _db_snapshot(seeded)
    for source, path, what in _cases(tmp_path):
        with pytest.raises(ImportFailed) as exc:
            import_path(seeded, source, path)
        msg = str(exc.value)
        assert msg.startswith(str(path)) and what in msg, (source, path, msg)
        assert "\n" not in msg
        assert _db_snapshot(seeded) == before, (source, path)


def test_cli_one_line_error_exit_1(cli, tmp_path):
    code, out, err = cli("import", "jsonl", FIX / "conversations.jsonl")
    assert code == 0
    cases = _cases(tmp_path)
    for source, path, what in cases[:4] + cases[8:10]:
        code, out, err = cli("import", source, path)
        assert code == 1 and out == ""
        assert err.startswith(f"Error: {path}") and what in err and err.count("\n") == 1, err
    code, out, _ = cli("stats", "--json")
    assert json.loads(out)["messages"] == 4


def test_unreadable_file(mem, tmp_path):
    import os

    f = tmp_path / "conversations.json"
    f.write_text(CHATGPT.read_text())
    f.chmod(0)
    try:
        if os.access(f, os.R_OK):  # running as root: permissions do not apply
            pytest.skip("cannot make a file unreadable here")
        with pytest.raises(ImportFailed, match="cannot read"):
            import_path(mem, "chatgpt", f)
    finally:
        f.chmod(0o600)


def test_some_bad_conversations_are_counted_not_fatal(mem, tmp_path):
    data = json.loads(CHATGPT.read_text())
    data.insert(1, {"id": "broken", "title": "no mapping"})
    data.append("not an object")
    f = tmp_path / "conversations.json"
    f.write_text(json.dumps(data))
    r = import_path(mem, "chatgpt", f)
    assert (r.added, r.failed, r.conversations) == (6, 2, 2)
    assert any("conversation broken" in w for w in r.warnings)


def test_interrupted_import_keeps_committed_conversations_and_resumes(mem, tmp_path,
                                                                      monkeypatch):
    lines = [json.dumps({"id": f"c{i}", "messages": [
        {"role": "user", "content": f"message {j} of conversation {i}"} for j in range(3)]})
        for i in range(6)]
    f = tmp_path / "many.jsonl"
    f.write_text("\n".join(lines) + "\n")
    store = mem.store
    real = store.upsert_conversation
    calls = {"n": 0}

    def flaky(source, external_id, **kw):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # the user pressed Ctrl-C while c3 was being written
        return real(source, external_id, **kw)

    monkeypatch.setattr(store, "upsert_conversation", flaky)
    with pytest.raises(KeyboardInterrupt):
        import_path(mem, "jsonl", f, batch=2)
    monkeypatch.setattr(store, "upsert_conversation", real)
    s = mem.stats()
    assert (s["conversations"], s["messages"], s["vectors"]) == (3, 9, 9)  # c0..c2 whole
    assert store.find_conversation("jsonl", "c3") is None
    r = import_path(mem, "jsonl", f)
    assert (r.added, r.skipped) == (9, 9)
    assert mem.stats()["messages"] == 18


def test_dry_run_cli(cli, cli_json):
    out = cli_json("import", "claude", FIX / "claude_export", "--dry-run")
    assert out["dry_run"] is True and out["added"] == 7
    assert cli_json("stats")["items"] == 0
    code, text, _ = cli("import", "markdown", FIX / "vault", "--dry-run")
    assert code == 0 and text.startswith("Would add 8 notes/sections")


def test_progress_bar_only_on_a_terminal(monkeypatch):
    import io
    import sys

    from memcli.cli.commands import importing as cli_import

    class Stream(io.StringIO):
        tty = False

        def isatty(self):
            return self.tty

    pipe = Stream()
    monkeypatch.setattr(sys, "stderr", pipe)
    with cli_import._progress_bar(True, "Importing jsonl") as update:
        assert update is None
    assert pipe.getvalue() == ""
    term = Stream()
    term.tty = True
    monkeypatch.setattr(sys, "stderr", term)
    with cli_import._progress_bar(True, "Importing jsonl") as update:
        update(5, 10)
        update(10, 10)
    with cli_import._progress_bar(False, "json output") as update:  # --json: never a bar
        assert update is None


@pytest.mark.parametrize("source", ["chatgpt", "claude"])
def test_truncated_after_complete_conversations_writes_nothing(make_memory, tmp_path, source):
    """The stream is valid for two whole conversations, then cut: the validation pass finds it
    before the write pass starts (nothing embedded, nothing stored)."""
    src = CHATGPT if source == "chatgpt" else CLAUDE
    data = json.loads(src.read_text())
    text = json.dumps(data + data[:1] + data[:1], indent=1)  # duplicates are fine, the cut is not
    cut = text.rfind(data[0].get("title") or data[0]["name"])
    f = tmp_path / "conversations.json"
    f.write_text(text[:cut])

    class NoEmbedding:
        model_id, dim = "never", 8

        def embed(self, texts):
            raise AssertionError("the write pass started")

    mem = make_memory(embedder=NoEmbedding())
    with pytest.raises(ImportFailed, match="truncated JSON"):
        import_path(mem, source, f)
    assert _db_snapshot(mem) == (0, 0, 0, 0)


def test_one_format_registry_for_ingest_and_the_cli(mem, cli):
    from memcli.importers import FORMATS

    code, out, _ = cli("import", "--help")
    assert code == 0 and all(name in out for name in FORMATS)
    code, out, _ = cli("import", "chatgpt", "--help")
    assert code == 0 and "--all-branches" in out
    code, out, _ = cli("import", "claude", "--help")
    assert code == 0 and "--all-branches" not in out
    with pytest.raises(ImportFailed, match="unknown import source 'notion'; use one of chatgpt, "
                                           "claude, markdown, jsonl"):
        import_path(mem, "notion", CLAUDE)
    with pytest.raises(ImportFailed, match="the claude import takes no option all_branches"):
        import_path(mem, "claude", CLAUDE, all_branches=True)
    assert _db_snapshot(mem) == (0, 0, 0, 0)
