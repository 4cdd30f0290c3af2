"""Claude export import: content blocks, attachments, projects and memories."""

import json
import zipfile
from pathlib import Path

from memcli.services.ingest import import_path

EXPORT = Path(__file__).parent / "fixtures" / "import" / "claude_export"


def test_folder_import_with_projects_and_memories(mem):
    r = import_path(mem, "claude", EXPORT)
    # 3 messages (the blank one is dropped) + project description + 1 doc + 2 memories
    assert (r.conversations, r.messages, r.documents, r.added, r.failed) == (2, 3, 4, 7, 0)
    conv = mem.store.find_conversation("claude", "k1")
    msgs = mem.store.conversation_messages(conv["id"])
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    user, bot = msgs[0]["text"], msgs[1]["text"]
    assert user.startswith("Which tomatoes grow well on a windy balcony?")
    assert "[attachment: balcony.txt]\nThe balcony faces south-west" in user
    assert "SECRET-SCRATCHPAD" not in bot  # thinking blocks are not conversation
    assert bot.startswith("Try dwarf cherry tomatoes such as Tiny Tim.")
    assert "[tool: artifacts Planting calendar]\nMarch: sow indoors." in bot
    assert "[tool result]\nOK" in bot
    assert msgs[1]["key"] == "claude:k1:k1m2"
    # text-only message with a null date takes the conversation's date
    k2 = mem.store.conversation_messages(mem.store.find_conversation("claude", "k2")["id"])
    assert k2[0]["created_at"] == "2024-04-01T18:00:00Z"
    docs = mem.store.list_derived(["note"])
    titles = sorted(d["title"] for d in docs)
    assert titles == ["Allotment: soil.md", "Claude memory", "Claude project memory p1",
                      "Project: Allotment"]
    assert import_path(mem, "claude", EXPORT).added == 0


def test_zip_and_search(mem, tmp_path):
    z = tmp_path / "data-2024.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for name in ("conversations.json", "projects.json", "memories.json"):
            zf.write(EXPORT / name, name)
        zf.writestr("users.json", "[]")
    r = import_path(mem, "claude", z)
    assert (r.added, r.documents) == (7, 4)
    hit = mem.search("bike chain slipping", limit=1)[0]
    assert hit.source == {"type": "claude", "conversation_id": "k2", "message_id": "k2m1",
                          "path": None, "title": "Cycling"}


def test_conversations_file_alone(mem, tmp_path):
    f = tmp_path / "conversations.json"
    f.write_text((EXPORT / "conversations.json").read_text())
    r = import_path(mem, "claude", f)
    assert (r.added, r.documents) == (3, 0)


def test_incremental(mem, tmp_path):
    data = json.loads((EXPORT / "conversations.json").read_text())
    f = tmp_path / "conversations.json"
    f.write_text(json.dumps(data))
    import_path(mem, "claude", f)
    data[1]["chat_messages"].append({"uuid": "k2m2", "sender": "assistant",
                                     "created_at": "2024-04-01T18:02:00Z",
                                     "text": "Replace the chain and the cassette."})
    f.write_text(json.dumps(data))
    r = import_path(mem, "claude", f)
    assert (r.added, r.skipped) == (1, 3)
