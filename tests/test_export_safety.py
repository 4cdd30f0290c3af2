"""Exports never hurt: 0600 files, no overwrite without --force, never through a symlink or onto
a device, '-' is stdout; and `export jsonl` + `import jsonl` is a real backup (notes too)."""

import json
import os
import stat

import pytest

from tests.test_digest import CONV1, add_conversation


def _stats(cli, *home):
    code, out, err = cli(*home, "stats", "--json")
    assert code == 0, err
    data = json.loads(out)
    return {k: data[k] for k in ("conversations", "messages", "notes", "items", "tags",
                                 "by_kind", "by_source")}


def _one_error(code, err, *words):
    assert code == 1, err
    assert err.startswith("Error: ") and len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, err


def _content(cli, *home):
    """What a person would check after a restore: every item's kind, text, title, tags, date,
    source, role, heading and path, plus each conversation's title."""
    from memcli.backends.fakes import HashEmbedder
    from memcli.services.memory import Memory

    with Memory(home[1] if home else None, embedder=HashEmbedder()) as m:
        rows = m.store.conn.execute(
            "SELECT i.kind, i.text, CASE WHEN i.kind = 'message' THEN NULL ELSE i.title END, "
            "i.created_at, i.source, i.role, i.heading, i.path, "
            "i.external_id, c.external_id, c.title, (SELECT group_concat(tag, ' ') FROM "
            "(SELECT tag FROM item_tags t WHERE t.item_id = i.id ORDER BY tag)) "
            "FROM items i LEFT JOIN conversations c ON c.id = i.conversation_id "
            "WHERE i.source != 'digest'").fetchall()
    return sorted(rows, key=repr)


def _fill(mem, tmp_path, cli):
    add_conversation(mem, "c1", CONV1, title="Getting to know you")
    mem.remember("Buy oat milk and coffee beans on Friday", tags=["shopping"], title="Errands",
                 created_at="2024-03-01T09:00:00Z")
    mem.remember("Passport number ends in 4471; kept in the desk drawer", tags=["travel", "docs"])
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "Recipe.md").write_text("---\ntags: [food]\n---\n# Bread\n\n" + "Knead well. " * 150
                                     + "\n\n## Baking\n\nBake at 230C for 40 minutes.\n")
    (vault / "Short.md").write_text("A short note about #garden roses.\n")
    code, _, err = cli("import", "markdown", vault)
    assert code == 0, err
    chats = tmp_path / "chatgpt.jsonl"
    chats.write_text(json.dumps({"id": "g1", "source": "chatgpt", "title": "Porto", "messages": [
        {"role": "user", "content": "Booked the train to Porto", "id": "m1",
         "created_at": "2024-05-01T10:00:00Z"}]}) + "\n")
    code, _, err = cli("import", "jsonl", chats)
    assert code == 0, err


def test_backup_restores_everything_a_person_wrote_or_imported(mem, tmp_path, cli):
    _fill(mem, tmp_path, cli)
    from memcli.services.digest.pipeline import digest

    digest(mem, use_llm=False, link_min_sim=0.2)  # derived notes exist, and stay out of it
    backup = tmp_path / "backup.jsonl"
    code, out, err = cli("export", "jsonl", backup)
    assert code == 0, err
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600
    derived = backup.with_name("backup.notes.jsonl")
    assert stat.S_IMODE(os.stat(derived).st_mode) == 0o600
    other = ("--home", tmp_path / "restored")
    code, out, err = cli(*other, "import", "jsonl", backup)
    assert code == 0, err
    before = _stats(cli)
    after = _stats(cli, *other)
    for key in ("conversations", "messages", "tags"):
        assert after[key] == before[key], key
    assert after["by_kind"].get("note") == before["by_kind"].get("note")
    assert after["by_kind"].get("section") == before["by_kind"].get("section") >= 2
    assert _content(cli, *other) == _content(cli)  # texts, titles, tags, dates, sources…
    code, out, err = cli(*other, "import", "jsonl", backup, "--json")
    assert code == 0 and json.loads(out)["added"] == 0  # re-import adds nothing
    code, out, err = cli("import", "jsonl", backup, "--json")  # nor into the original home
    assert code == 0 and json.loads(out)["added"] == 0, out
    code, out, err = cli(*other, "search", "passport drawer", "--json")
    assert json.loads(out)[0]["tags"] == ["docs", "travel"]


def test_notes_only_backup_round_trips(mem, tmp_path, cli):
    mem.remember("only a note, no chats at all", tags=["solo"])
    backup = tmp_path / "notes-only.jsonl"
    assert cli("export", "jsonl", backup)[0] == 0
    assert not backup.with_name("notes-only.notes.jsonl").exists()  # nothing derived
    other = ("--home", tmp_path / "restored")
    code, out, err = cli(*other, "import", "jsonl", backup)
    assert code == 0, err
    assert _stats(cli, *other)["notes"] == 1
    assert _content(cli, *other) == _content(cli)


def test_dash_is_stdout_and_pipes_into_import(mem, tmp_path, cli):
    mem.remember("stdout backup note", tags=["x"])
    code, out, err = cli("export", "jsonl", "-")
    assert code == 0, err
    assert not (tmp_path / "-").exists() and not list(tmp_path.glob("-*"))
    assert json.loads(out.splitlines()[0])["text"] == "stdout backup note"
    assert "Wrote" in err
    f = tmp_path / "piped.jsonl"
    f.write_text(out)
    code, _, err = cli("--home", tmp_path / "h2", "import", "jsonl", f)
    assert code == 0, err


def test_refuses_to_overwrite_without_force(mem, tmp_path, cli):
    mem.remember("first")
    target = tmp_path / "b.jsonl"
    target.write_text("precious\n")
    before = _stats(cli)
    code, out, err = cli("export", "jsonl", target)
    _one_error(code, err, str(target), "--force")
    assert target.read_text() == "precious\n" and _stats(cli) == before
    code, out, err = cli("export", "jsonl", target, "--force")
    assert code == 0, err and "first" in target.read_text()
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_refuses_symlinks_and_devices(mem, tmp_path, cli):
    mem.remember("a secret")
    real = tmp_path / "real.txt"
    real.write_text("keep me\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    for force in ((), ("--force",)):
        code, out, err = cli("export", "jsonl", link, *force)
        _one_error(code, err, "symbolic link")
        assert link.is_symlink() and real.read_text() == "keep me\n"
    dangling = tmp_path / "dangling.jsonl"
    dangling.symlink_to(tmp_path / "nowhere")
    code, out, err = cli("export", "jsonl", dangling, "--force")
    _one_error(code, err, "symbolic link")
    assert not (tmp_path / "nowhere").exists()
    if os.path.exists("/dev/null"):
        code, out, err = cli("export", "jsonl", "/dev/null", "--force")
        _one_error(code, err, "not a regular file")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, out, err = cli("export", "jsonl", fifo, "--force")
    _one_error(code, err, "not a regular file")


def test_markdown_vault_files_are_private_and_not_overwritten(mem, tmp_path, cli):
    mem.remember("vault note one", title="One")
    vault = tmp_path / "vault"
    assert cli("export", "markdown", vault)[0] == 0
    files = list(vault.rglob("*.md"))
    assert files and all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in files)
    assert stat.S_IMODE(os.stat(vault / "notes").st_mode) == 0o700
    code, out, err = cli("export", "markdown", vault)
    _one_error(code, err, "--force")
    assert cli("export", "markdown", vault, "--force")[0] == 0
    victim = files[0]
    victim.unlink()
    victim.symlink_to(tmp_path / "elsewhere.md")
    code, out, err = cli("export", "markdown", vault, "--force")
    _one_error(code, err, "symbolic link")
    assert not (tmp_path / "elsewhere.md").exists()


@pytest.mark.parametrize("line,words", [
    ({"type": "note", "id": "k"}, ['"text"']),
    ({"type": "note", "text": "x"}, ['"id"']),
    ({"type": "note", "id": "k", "text": "x", "kind": "fact"}, ["kind", "digest"]),
    ({"type": "note", "id": "k", "text": "x", "tags": "a,b"}, ["tags"]),
    ({"type": "note", "id": "k", "text": "x", "source": "digest"}, ["source"]),
    ({"type": "note", "id": "k", "text": "x", "created_at": "yesterday"}, ["ISO-8601"]),
    ({"type": "weird", "id": "k"}, ["type"]),
    ({"id": 3, "kind": "fact", "text": "derived"}, ["derived note"]),
])
def test_bad_note_lines_are_refused_with_the_line_number(mem, tmp_path, cli, line, words):
    mem.remember("already here")
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps({"type": "note", "id": "ok", "text": "fine"}) + "\n"
                 + json.dumps(line) + "\n")
    before = _stats(cli)
    code, out, err = cli("import", "jsonl", f)
    _one_error(code, err, "line 2", *words)
    assert _stats(cli) == before
