"""ChatGPT export import: thread selection, noise filtering, content types, idempotence."""

import json
import zipfile
from pathlib import Path

from memcli.importers import chatgpt
from memcli.services.ingest import import_path

FIX = Path(__file__).parent / "fixtures" / "import"
EXPORT = FIX / "chatgpt_conversations.json"


def _messages(mem, conv_ext_id):
    conv = mem.store.find_conversation("chatgpt", conv_ext_id)
    return mem.store.conversation_messages(conv["id"])


def test_visible_thread_only_and_noise_skipped(mem):
    r = import_path(mem, "chatgpt", EXPORT)
    assert (r.conversations, r.new_conversations, r.added, r.skipped, r.failed) == (2, 2, 6, 0, 0)
    msgs = _messages(mem, "c1")
    assert [m["external_id"] for m in msgs] == ["m1", "m2", "m3", "m4", "m6"]  # m5: a tool message
    assert [m["position"] for m in msgs] == list(range(5))
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "assistant"]
    texts = {m["external_id"]: m["text"] for m in msgs}
    # the abandoned branch, the hidden system message, image-only output and reasoning are gone
    assert not any("abandoned" in t or "internal" in t or "ImageDisplayed" in t
                   for t in texts.values())
    # citation markers stripped, the sentence kept
    assert texts["m2"] == "Feed it once a day at room temperature  and weekly in the fridge ."
    assert texts["m3"].startswith("[image]\n") and "hooch normal" in texts["m3"]
    assert texts["m4"] == "```python\nhydration = 100 * 50 / 50\nprint(hydration)\n```"
    assert "100.0" not in texts.values()  # role tool (code output, browsing) is skipped
    # null create_time falls back to the conversation's time
    assert msgs[2]["created_at"] == "2024-05-01T10:00:00Z"
    assert msgs[0]["created_at"] == "2024-05-01T10:00:01Z"
    assert all(m["title"] == "Sourdough starter" and m["source"] == "chatgpt" for m in msgs)
    assert msgs[0]["key"] == "chatgpt:c1:m1"
    assert [m["role"] for m in _messages(mem, "c2")] == ["user"]  # the browser quote is a tool's


def test_reimport_adds_nothing_and_all_branches_adds_the_rest(mem):
    import_path(mem, "chatgpt", EXPORT)
    before = mem.stats()
    again = import_path(mem, "chatgpt", EXPORT)
    assert (again.added, again.skipped, again.new_conversations) == (0, 6, 0)
    assert mem.stats()["items"] == before["items"]
    branches = import_path(mem, "chatgpt", EXPORT, all_branches=True)
    assert (branches.added, branches.skipped) == (1, 6)
    extra = [m for m in _messages(mem, "c1") if m["external_id"] == "m2b"][0]
    assert json.loads(extra["meta"])["branch"] is True


def test_incremental_export_adds_only_new_messages(mem, tmp_path):
    data = json.loads(EXPORT.read_text())
    mapping = data[0]["mapping"]
    mapping["m6"]["children"] = ["m7"]
    mapping["m7"] = {"id": "m7", "parent": "m6", "children": [], "message": {
        "id": "m7", "author": {"role": "user"}, "create_time": 1714600000,
        "content": {"content_type": "text", "parts": ["Thanks, Bubbles is bubbly again."]},
        "metadata": {}}}
    data[0]["current_node"] = "m7"
    old = tmp_path / "old.json"
    old.write_text(EXPORT.read_text())
    new = tmp_path / "conversations.json"
    new.write_text(json.dumps(data))
    import_path(mem, "chatgpt", old)
    r = import_path(mem, "chatgpt", new)
    assert (r.added, r.skipped) == (1, 6)
    last = _messages(mem, "c1")[-1]
    assert (last["external_id"], last["position"]) == ("m7", 5)


def test_zip_folder_and_split_files(mem, tmp_path):
    data = json.loads(EXPORT.read_text())
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "conversations-000.json").write_text(json.dumps(data[:1]))
    (folder / "conversations-001.json").write_text(json.dumps(data[1:]))
    (folder / "chat.html").write_text("<html></html>")
    zpath = tmp_path / "export.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.write(EXPORT, "some-export/conversations.json")
        zf.writestr("some-export/user.json", "{}")
    assert import_path(mem, "chatgpt", folder, dry_run=True).added == 6
    assert import_path(mem, "chatgpt", zpath).added == 6
    assert import_path(mem, "chatgpt", folder).added == 0


def test_dry_run_writes_nothing(mem):
    r = import_path(mem, "chatgpt", EXPORT, dry_run=True)
    assert (r.added, r.conversations, r.messages, r.dry_run) == (6, 2, 6, True)
    assert mem.stats()["items"] == 0 and mem.stats()["conversations"] == 0


def test_missing_current_node_uses_newest_leaf():
    conv = json.loads(EXPORT.read_text())[0]
    del conv["current_node"]
    rec = chatgpt.parse_conversation(conv)
    assert [m.id for m in rec.messages][-1] == "m6"  # m6 is newer than the m2b leaf


def test_strip_citations_keeps_entity_names():
    text = "Visit \ue200entity\ue202[\"city\",\"Lisbon\",\"capital\"]\ue201 soon【3:1†guide.pdf】."
    assert chatgpt.strip_citations(text) == "Visit Lisbon soon."


def test_searchable_after_import(mem):
    import_path(mem, "chatgpt", EXPORT)
    hits = mem.search("sourdough starter feeding", limit=3)
    assert hits and hits[0].source["conversation_id"] == "c1"
    assert hits[0].source["type"] == "chatgpt"


def test_cli_json_summary(cli, cli_json):
    out = cli_json("import", "chatgpt", EXPORT)
    assert (out["added"], out["skipped"], out["failed"], out["conversations"]) == (6, 0, 0, 2)
    code, text, err = cli("import", "chatgpt", EXPORT)
    assert code == 0 and "Added 0 messages" in text and "skipped 6" in text
    hits = cli_json("search", "tram Lisbon", "-n", "1")
    assert hits[0]["source"]["conversation_id"] == "c2"
    assert hits[0]["source"]["message_id"] == "q1"


def test_parsing_streams_in_constant_memory(tmp_path):
    """A 2.3 MB export is parsed with a small, bounded Python heap (json.load peaks at ~7 MB)."""
    import tracemalloc

    body = "word " * 200
    with open(tmp_path / "conversations.json", "w") as f:
        f.write("[")
        for c in range(200):
            mapping = {f"n{j}": {"id": f"n{j}", "parent": f"n{j - 1}" if j else None,
                                 "children": [f"n{j + 1}"] if j < 9 else [], "message": {
                                     "id": f"n{j}", "author": {"role": "user"}, "create_time": j,
                                     "content": {"content_type": "text", "parts": [body]}}}
                       for j in range(10)}
            f.write(("," if c else "") + json.dumps({"id": f"c{c}", "mapping": mapping,
                                                     "current_node": "n9"}))
        f.write("]")
    assert (tmp_path / "conversations.json").stat().st_size > 2_000_000
    tracemalloc.start()
    n = sum(len(r.messages) for r in chatgpt.parse(tmp_path / "conversations.json"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert n == 2000
    assert peak < 1_500_000, peak
