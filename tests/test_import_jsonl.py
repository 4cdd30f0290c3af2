"""The documented JSONL contract."""

from pathlib import Path

import pytest

from memcli.backends.fakes import HashEmbedder
from memcli.core.errors import ImportFailed
from memcli.services.ingest import import_path

FILE = Path(__file__).parent / "fixtures" / "import" / "conversations.jsonl"


def test_contract(mem):
    r = import_path(mem, "jsonl", FILE)
    assert (r.conversations, r.messages, r.added) == (2, 4, 4)
    j1 = mem.store.conversation_messages(mem.store.find_conversation("jsonl", "j1")["id"])
    # a message without an id gets its 0-based position; with an id it keeps it
    assert [m["external_id"] for m in j1] == ["0", "a1"]
    assert [m["key"] for m in j1] == ["jsonl:j1:0", "jsonl:j1:a1"]
    assert j1[0]["created_at"] == "2024-01-05T19:00:00Z" and j1[0]["title"] == "Piano practice"
    j2 = mem.store.conversation_messages(mem.store.find_conversation("jsonl", "j2")["id"])
    # the empty system message is dropped but positions of the others stay their list index
    assert [m["external_id"] for m in j2] == ["0", "2"]
    assert j2[0]["created_at"] == "2024-02-01T07:00:00Z"  # converted to UTC
    # no date on the message nor the conversation: the conversation's first dated message
    assert j2[1]["created_at"] == "2024-02-01T07:00:00Z"
    assert import_path(mem, "jsonl", FILE).added == 0


def test_search_contract_ids(cli, cli_json):
    cli_json("import", "jsonl", FILE)
    hit = cli_json("search", "Chopin nocturne", "-n", "1")[0]
    assert hit["source"]["conversation_id"] == "j1" and hit["source"]["message_id"] == "0"
    assert hit["source"]["type"] == "jsonl"


@pytest.mark.parametrize("line, what", [
    ('{"title": "x", "messages": []}', 'needs an "id"'),
    ('{"id": "a", "messages": "hi"}', '"messages" must be a list'),
    ('{"id": "a", "messages": [{"content": "hi"}]}', 'has no "role"'),
    ('{"id": "a", "messages": [{"role": "user", "content": 3}]}', '"content" must be a string'),
    ('{"id": "a", "created_at": "not a date at all zzz", "messages": []}', "cannot read"),
    ('{"id": "a", "created_at": "yesterday", "messages": []}', "use ISO-8601"),
    ('["a"]', "expected a JSON object"),
])
def test_bad_lines_fail_whole_file(mem, tmp_path, line, what):
    f = tmp_path / "x.jsonl"
    good = '{"id": "ok", "messages": [{"role": "user", "content": "fine"}]}'
    f.write_text(good + "\n" + line + "\n")
    with pytest.raises(ImportFailed) as exc:
        import_path(mem, "jsonl", f)
    assert str(exc.value).startswith(f"{f}: line 2: ") and what in str(exc.value)
    assert mem.stats()["items"] == 0  # validated before anything was written


def test_progress_and_repeated_texts_embedded_once(make_memory, tmp_path):
    seen_texts = []
    inner = HashEmbedder()

    class Counting:
        model_id, dim = inner.model_id, inner.dim

        def embed(self, texts):
            seen_texts.extend(texts)
            return inner.embed(texts)

    mem = make_memory(embedder=Counting())
    f = tmp_path / "x.jsonl"
    f.write_text("".join(
        f'{{"id": "c{i}", "messages": [{{"role": "user", "content": "thanks"}}, '
        f'{{"role": "assistant", "content": "answer number {i}"}}]}}\n' for i in range(5)))
    calls = []
    r = import_path(mem, "jsonl", f, progress=lambda done, total: calls.append((done, total)),
                    batch=4)
    assert r.added == 10
    # batches of >= 4 new texts: (c0, c1), (c2, c3), (c4); "thanks" is embedded once per batch
    assert len(seen_texts) == 8 and seen_texts.count("thanks") == 3
    assert calls[-1] == (10, 10) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    ids = [h.id for h in mem.search("thanks", limit=10) if h.text == "thanks"]
    assert len(ids) == 5 and mem.stats()["vectors"] == 10
