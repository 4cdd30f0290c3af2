"""The real, MIT-licensed exports in ../shared/samples (read at run time, never copied): the
expected counts are computed here from the files with plain json/regex, independently of the
importers. Plus one integration test with the real embedder."""

import json
import re

import pytest
from conftest import shared_path

from memcli.services.ingest import import_path

SAMPLES = shared_path("samples")
pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is absent")


def _chatgpt_expected(conv) -> list[str]:
    """Message ids of the visible thread that carry text (hidden/weight-0/image-only dropped)."""
    mapping = conv["mapping"]
    node = conv.get("current_node")
    if node is None:  # newest leaf
        leaves = [k for k, v in mapping.items() if not v.get("children")]
        node = max(leaves, key=lambda k: (mapping[k].get("message") or {}).get("create_time") or 0)
    chain = []
    while node:
        chain.append(node)
        node = mapping[node].get("parent")
    ids = []
    for k in reversed(chain):
        m = mapping[k].get("message")
        if not m or m.get("weight") == 0 or \
                (m.get("metadata") or {}).get("is_visually_hidden_from_conversation") or \
                (m.get("author") or {}).get("role") in ("tool", "system"):  # README: skipped
            continue
        c = m["content"]
        text = "".join(p for p in c.get("parts") or [] if isinstance(p, str)) + c.get("text", "")
        if text.replace("<<ImageDisplayed>>", "").strip():
            ids.append(m["id"])
    return ids


@pytest.mark.parametrize("name", ["chatgpt2graph.json", "context-carry_branching.json"])
def test_chatgpt_samples(mem, name):
    path = SAMPLES / "chatgpt" / name
    data = json.loads(path.read_text())
    expected = {c.get("conversation_id") or c["id"]: _chatgpt_expected(c) for c in data}
    r = import_path(mem, "chatgpt", path)
    assert (r.conversations, r.failed) == (len(data), 0)
    assert r.added == sum(len(v) for v in expected.values())
    for conv_id, ids in expected.items():
        stored = mem.store.conversation_messages(mem.store.find_conversation("chatgpt", conv_id)["id"])
        assert [m["external_id"] for m in stored] == ids
    assert import_path(mem, "chatgpt", path).added == 0


def test_chatgpt_samples_searchable(mem):
    import_path(mem, "chatgpt", SAMPLES / "chatgpt" / "chatgpt2graph.json")
    import_path(mem, "chatgpt", SAMPLES / "chatgpt" / "context-carry_branching.json")
    assert "Average Distance" in mem.search("monte carlo simulation", limit=1)[0].source["title"]
    mqtt = mem.search("MQTT protocol", limit=3)
    assert any("lightweight messaging protocol" in h.text for h in mqtt)  # the current branch
    assert not any("first branch response" in h.text for h in mqtt)


def test_claude_sample(mem):
    path = SAMPLES / "claude" / "context-carry_conversations.json"
    data = json.loads(path.read_text())
    n = sum(1 for c in data for m in c["chat_messages"]
            if any(b.get("type") == "text" and b["text"].strip() for b in m.get("content") or [])
            or (m.get("text") or "").strip())
    r = import_path(mem, "claude", path)
    assert (r.conversations, r.added, r.failed) == (len(data), n, 0)
    assert mem.search("async await javascript", limit=1)[0].source["type"] == "claude"
    assert import_path(mem, "claude", path).added == 0


def _vault_expected(root):
    """Items per file: 1 note, or one per heading chunk with text for long files."""
    heading = re.compile(r"^#{1,6}[ \t]+\S")
    out = {}
    for p in root.rglob("*.md"):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        text = p.read_text(encoding="utf-8")
        body = re.sub(r"\A---\n.*?\n---\n?", "", text, flags=re.S).strip()
        has_fm = body != text.strip()
        lines, fence = [], False
        for ln in body.split("\n"):
            if ln.lstrip().startswith(("```", "~~~")):
                fence = not fence
            lines.append((ln, fence))
        heads = [i for i, (ln, f) in enumerate(lines) if not f and heading.match(ln)]
        if len(body) > 1500 and heads:
            bounds = [0] + heads + [len(lines)]
            chunks = [lines[a:b] for a, b in zip(bounds, bounds[1:])]
            out[rel.as_posix()] = sum(
                1 for c in chunks
                if any(ln.strip() for ln, _ in (c[1:] if c and heading.match(c[0][0]) else c)))
        elif len(body) > 4000:
            out[rel.as_posix()] = PARTS  # a long note without headings: cut in parts
        elif body or has_fm:
            out[rel.as_posix()] = 1
    return out


PARTS = -1  # "split in parts citing their lines"; checked against the file's text below


def _check_parts(mem, root, expected):
    """Files cut in parts: more than one item each, titled by their place, the text all there."""
    for rel, n in list(expected.items()):
        if n != PARTS:
            continue
        rows = mem.store.conn.execute("SELECT heading, text FROM items WHERE path = ? ORDER BY id",
                                      (rel,)).fetchall()
        assert len(rows) > 1 and all(h.startswith("part ") and ", line" in h for h, _ in rows)
        body = re.sub(r"\A---\n.*?\n---\n?", "", (root / rel).read_text(), flags=re.S)
        assert " ".join(" ".join(t for _, t in rows).split()) == " ".join(body.split())
        expected[rel] = len(rows)


def test_obsidian_vault_sample(mem):
    root = SAMPLES / "obsidian-kepano"
    expected = _vault_expected(root)
    r = import_path(mem, "markdown", root)
    assert (r.files, r.failed) == (len(expected), 0)
    _check_parts(mem, root, expected)
    assert r.added == sum(expected.values())
    for rel, n in expected.items():
        assert len(mem.store.items_by_path("markdown", rel)) == n, rel
    assert mem.stats()["by_kind"] == {
        "note": sum(1 for n in expected.values() if n == 1),
        "section": sum(n for n in expected.values() if n > 1)}
    blade = mem.store.items_by_path("markdown", "References/Blade Runner.md")[0]["id"]
    scifi = mem.store.items_by_path("markdown", "References/Sci-fi.md")[0]["id"]
    assert scifi in [l["id"] for l in mem.store.links_of(blade)]
    hit = mem.search("brown butter nectarine tart pastry", limit=1)[0]
    assert hit.source["path"] == "References/Brown butter nectarine tart.md"
    again = import_path(mem, "markdown", root)
    assert (again.added, again.skipped) == (0, r.added)


@pytest.mark.integration
def test_real_embedder_import_and_semantic_search(home):
    """The default ONNX MiniLM embeds an import; a paraphrase (no shared keywords) finds it."""
    from pathlib import Path

    from memcli.backends.embedders import OnnxEmbedder
    from memcli.services.memory import Memory

    fix = Path(__file__).parent / "fixtures" / "import"
    with Memory(home, embedder=OnnxEmbedder()) as mem:
        r = import_path(mem, "chatgpt", fix / "chatgpt_conversations.json")
        import_path(mem, "markdown", fix / "vault")
        assert r.added == 6  # tool messages are skipped
        assert mem.stats()["vectors"] == mem.stats()["items"] == 14
        hits = mem.search("keeping a bread yeast culture alive", limit=3)
        assert hits[0].source["conversation_id"] == "c1"
        hits = mem.search("coffee brewing ratio", limit=3)
        assert hits[0].source["path"] == "Notes/Espresso.md"
