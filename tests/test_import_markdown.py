"""Markdown / Obsidian vault import: notes vs sections, tags, wikilinks, changed files."""

import shutil
from pathlib import Path

import pytest

from memcli.core.errors import ImportFailed
from memcli.importers import markdown
from memcli.services.ingest import import_path

VAULT = Path(__file__).parent / "fixtures" / "import" / "vault"


@pytest.fixture
def vault(tmp_path):
    dest = tmp_path / "vault"
    shutil.copytree(VAULT, dest)
    return dest


def _by_path(mem, rel):
    rows = mem.store.items_by_path("markdown", rel)
    return [mem.store.get_item(r["id"]) for r in rows]


def test_vault_import(mem, vault):
    r = import_path(mem, "markdown", vault)
    assert (r.files, r.added, r.failed) == (5, 8, 0)  # .obsidian, .trash and the .png are skipped
    assert not mem.store.items_by_path("markdown", ".trash/Old.md")
    esp = _by_path(mem, "Notes/Espresso.md")
    assert len(esp) == 1 and esp[0]["kind"] == "note" and esp[0]["title"] == "Espresso"
    assert esp[0]["key"] == "markdown:Notes/Espresso.md#0"
    assert esp[0]["tags"] == ["breakfast/weekend", "coffee", "recipes"]
    assert esp[0]["created_at"] == "2024-05-03T00:00:00Z"
    assert _by_path(mem, "Daily/2024-05-04.md")[0]["created_at"] == "2024-05-04T00:00:00Z"
    long = _by_path(mem, "Notes/Long Note.md")
    assert [s["kind"] for s in long] == ["section"] * 4
    assert [s["heading"] for s in long] == [None, "First part", "Second part", "Third part"]
    assert long[2]["text"].startswith("## Empty heading\n### Second part\nThe second part")
    assert "# not a heading inside code" in long[2]["text"]  # code fences are not split
    props = _by_path(mem, "Notes/Props.md")[0]
    assert props["text"].startswith("categories: Places\nrating: 4")


def test_wikilinks_resolve_now_and_later(mem, vault):
    r = import_path(mem, "markdown", vault)
    assert r.links == 7
    esp = _by_path(mem, "Notes/Espresso.md")[0]["id"]
    grinder = _by_path(mem, "Notes/Grinder.md")[0]["id"]
    second = _by_path(mem, "Notes/Long Note.md")[2]["id"]
    links = {l["target"]: l["id"] for l in mem.store.links_of(esp)}
    assert links == {"Grinder": grinder, "Long Note": second}  # [[Long Note#Second part]]
    assert {b["id"] for b in mem.store.backlinks_of(esp)} == {
        grinder, _by_path(mem, "Daily/2024-05-04.md")[0]["id"]}
    unresolved = sorted(l["target"] for l in mem.store.unresolved_links())
    assert unresolved == ["Places", "Roastery Unknown"]
    # a link by a front-matter alias (Espresso has `aliases: [Coffee]`) resolves to that note
    (vault / "Cafe.md").write_text("Morning [[coffee]] at the corner cafe.")
    r_alias = import_path(mem, "markdown", vault)
    cafe = _by_path(mem, "Cafe.md")[0]["id"]
    assert r_alias.resolved_links == 1 and [l["id"] for l in mem.store.links_of(cafe)] == [esp]
    (vault / "Cafe.md").unlink()
    (vault / "Roastery Unknown.md").write_text("A small roastery by the station.")
    r2 = import_path(mem, "markdown", vault)
    assert (r2.added, r2.resolved_links) == (1, 1)  # the note arrived: its link resolves
    assert [l["target"] for l in mem.store.unresolved_links()] == ["Places"]


def test_changed_file_replaces_only_its_items(mem, vault):
    import_path(mem, "markdown", vault)
    before = {r["id"] for r in mem.store.items_by_path("markdown", "Notes/Grinder.md")}
    others = {i for rel in ("Notes/Espresso.md", "Notes/Long Note.md")
              for i in (r["id"] for r in mem.store.items_by_path("markdown", rel))}
    assert import_path(mem, "markdown", vault).added == 0  # unchanged: nothing happens
    (vault / "Notes" / "Grinder.md").write_text("Now set to 10 clicks. Back to [[Espresso]].")
    r = import_path(mem, "markdown", vault)
    assert (r.added, r.replaced, r.skipped) == (1, 1, 7)
    after = mem.store.items_by_path("markdown", "Notes/Grinder.md")
    assert len(after) == 1 and after[0]["id"] not in before
    assert mem.store.get_item(after[0]["id"])["text"].startswith("Now set to 10 clicks")
    assert others == {i for rel in ("Notes/Espresso.md", "Notes/Long Note.md")
                      for i in (r["id"] for r in mem.store.items_by_path("markdown", rel))}
    # Espresso's link to the grinder follows the new item; the new item links back
    esp = mem.store.items_by_path("markdown", "Notes/Espresso.md")[0]["id"]
    assert {l["target"]: l["id"] for l in mem.store.links_of(esp)}["Grinder"] == after[0]["id"]
    assert [l["id"] for l in mem.store.links_of(after[0]["id"])] == [esp]
    assert mem.stats()["items"] == 8
    assert all("12 clicks" not in h.text for h in mem.search("12 clicks hand grinder", limit=10))


def test_single_file_and_dry_run(mem, vault):
    r = import_path(mem, "markdown", vault / "Notes" / "Grinder.md", dry_run=True)
    assert (r.added, r.links) == (1, 1) and mem.stats()["items"] == 0
    r = import_path(mem, "markdown", vault / "Notes" / "Grinder.md")
    assert r.added == 1  # inside a vault (it has .obsidian/): the vault-relative path is kept
    assert mem.store.items_by_path("markdown", "Notes/Grinder.md")
    assert import_path(mem, "markdown", vault).added == 7
    loose = vault.parent / "loose.md"
    loose.write_text("A note outside any vault.")
    import_path(mem, "markdown", loose)
    assert mem.store.items_by_path("markdown", "loose.md")


def test_bad_markdown_inputs(mem, tmp_path, vault):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.txt").write_text("text")
    with pytest.raises(ImportFailed, match="no Markdown"):
        import_path(mem, "markdown", empty)
    with pytest.raises(ImportFailed, match="not a Markdown file"):
        import_path(mem, "markdown", vault / "Notes" / "picture.png")
    (vault / "Notes" / "binary.md").write_bytes(b"\x00\x01\x02binary")
    r = import_path(mem, "markdown", vault)  # one bad file in a vault: counted, the rest imports
    assert (r.failed, r.added) == (1, 8)
    assert "binary.md: a binary file" in r.warnings[0]


def test_tags_and_links_parsing():
    assert markdown.find_tags("a #one and #two/three, `#code` x#no #123 [[#Head]] #") == [
        "one", "two/three"]
    assert markdown.find_links("[[A|alias]] [[Dir/B#H]] ![[pic.png]] [[#Self]] [[C.md]]") == [
        ("A", None, "alias"), ("B", "H", None), ("C", None, None)]
