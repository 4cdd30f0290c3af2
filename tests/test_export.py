"""export markdown (Obsidian vault) and export jsonl (backup), with round trips through import."""

import json
import re

import frontmatter

from memcli.services.digest.pipeline import digest
from memcli.services.export import export_jsonl, export_markdown, notes_path
from tests.test_digest import CONV1, add_conversation


def _digested(mem):
    add_conversation(mem, "c1", CONV1, title="Getting to know you")
    add_conversation(mem, "c2", [("user", "Big news: I moved to Berlin last month for work.")],
                     day="2024-06-01", title="News")
    mem.remember("Buy oat milk and coffee beans on Friday", tags=["shopping"])
    digest(mem, use_llm=False, link_min_sim=0.2)


def test_markdown_vault_has_front_matter_links_and_sources(mem, tmp_path):
    _digested(mem)
    vault = tmp_path / "vault"
    report = export_markdown(mem, vault)
    files = sorted((vault / "notes").glob("*.md"))
    convs = sorted((vault / "conversations").glob("*.md"))
    assert report.notes == len(files) >= 5 and report.conversations == len(convs) == 2
    stems = {f.stem for f in files} | {f.stem for f in convs}
    kinds = set()
    for f in files:
        post = frontmatter.load(f)
        assert post["title"] == f.stem
        for key in ("id", "kind", "created"):
            assert key in post.metadata
        kinds.add(post["kind"])
        item = mem.show(post["id"])
        assert item["kind"] == post["kind"] and item["text"] in post.content
        assert sorted(post.get("tags", [])) == sorted(item["tags"])
        if post["kind"] in ("fact", "summary"):
            assert post["sources"] == item["sources"]
            assert "## Sources" in post.content
        for target in re.findall(r"\[\[([^\]|#]+)", post.content):
            assert target in stems, target  # every [[link]] resolves to a file in the vault
    assert {"fact", "summary", "note"} <= kinds
    berlin = next(f for f in files if f.stem.startswith("Fact") and "Big news" in f.stem)
    lisbon = next(f for f in files if f.stem.startswith("Fact") and "Lisbon" in f.stem)
    assert frontmatter.load(lisbon)["superseded_by"] == frontmatter.load(berlin)["id"]
    assert f"[[{berlin.stem}]]" in lisbon.read_text() and "## History" in lisbon.read_text()
    conv = convs[0].read_text()
    assert "^m-2" in conv and "I live in Lisbon" in conv


def test_markdown_vault_imports_back(mem, tmp_path, cli, monkeypatch):
    _digested(mem)
    vault = tmp_path / "vault"
    export_markdown(mem, vault)
    n_files = len(list(vault.rglob("*.md")))
    other = tmp_path / "other-home"
    code, out, err = cli("--home", other, "import", "markdown", vault)
    assert code == 0, err
    from memcli.backends.fakes import HashEmbedder
    from memcli.services.memory import Memory

    with Memory(other, embedder=HashEmbedder()) as back:
        items = back.store.standalone_items(["note", "section"])
        assert len({i["title"] for i in items}) == n_files
        fact = next(i for i in items if i["title"].startswith("Fact") and "Big news" in i["title"])
        original = next(n for n in mem.store.list_derived(["fact"]) if n["text"].startswith("Big"))
        assert fact["tags"] == original["tags"] and fact["tags"]
        resolved = [link for i in items for link in back.store.links_of(i["id"]) if link["id"]]
        assert resolved  # [[wikilinks]] between exported notes resolve after import


def test_jsonl_backup_round_trip(mem, tmp_path, cli):
    _digested(mem)
    path = tmp_path / "backup.jsonl"
    report = export_jsonl(mem, path)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert report.conversations == len([c for c in lines if "messages" in c]) == 2
    assert [n["text"] for n in lines if n.get("type") == "note"] == [
        "Buy oat milk and coffee beans on Friday"]
    c1 = next(c for c in lines if c.get("id") == "c1")
    assert [m["content"] for m in c1["messages"]] == [t for _, t in CONV1]
    assert c1["messages"][2] == {"role": "user", "content": CONV1[2][1],
                                 "created_at": "2024-01-05T10:02:00Z", "id": "2"}
    notes = [json.loads(x) for x in notes_path(path).read_text().splitlines()]
    assert {n["kind"] for n in notes} >= {"fact", "summary"} and "note" not in {
        n["kind"] for n in notes}  # derived notes only; the person's notes are in the backup
    fact = next(n for n in notes if n["kind"] == "fact" and "Lisbon" in n["text"])
    assert fact["sources"] == [{"conversation_id": "c1", "message_id": "2"}]
    other = tmp_path / "restored"
    code, out, err = cli("--home", other, "import", "jsonl", path)
    assert code == 0, err
    code, out, err = cli("--home", other, "stats", "--json")
    stats = json.loads(out)
    assert stats["conversations"] == 2 and stats["messages"] == len(CONV1) + 1
    code, out, err = cli("--home", other, "import", "jsonl", path)  # idempotent
    assert json.loads(cli("--home", other, "stats", "--json")[1])["messages"] == len(CONV1) + 1


def test_cli_export_errors(cli, tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    code, out, err = cli("export", "markdown", f)
    assert code == 1 and err.startswith("Error:") and "not a directory" in err
    code, out, err = cli("export", "jsonl", tmp_path)
    assert code == 1 and "is a directory" in err
