"""Answers a person can use: memcli's own output is never evidence, generated sentences are shown
only when grounded, the extractive answer quotes the best sentence, profiles size the context."""

import json
from datetime import datetime, timezone

import pytest

from memcli.backends.fakes import FakeLLM
from memcli.core.config import Config
from memcli.core.errors import MemcliError
from memcli.core.models import NewItem
from memcli.services.answer_context import is_own_output, profile_for
from memcli.services.ask import ask, recall
from memcli.services.chat import ChatSession
from memcli.services.grounding import sentence_ok

NOW = datetime(2024, 7, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def memory(make_memory):
    m = make_memory()
    m.remember("I am training for the Rotterdam marathon on 14 April, target time 3 hours 45",
               title="marathon", created_at="2024-02-10T09:00:00Z")
    m.remember("The wifi password at the cabin is blue-heron-42", created_at="2024-03-01T09:00:00Z")
    m.config.ask_abstain_threshold = 0.0  # the hashed test embedder's similarities are low
    return m


def old_chat(memory, question: str, answer: str) -> None:
    """A chat stored the way memcli stored them before: the answer text holds the evidence."""
    store = memory.store
    with store.transaction():
        cid = store.upsert_conversation("chat", "old-chat", title=question,
                                        created_at="2024-06-01T10:00:00Z")
        memory.add_items([
            NewItem(text=question, kind="message", source="chat", role="user",
                    created_at="2024-06-01T10:00:00Z", external_id="0", position=0,
                    key="chat:old-chat:0"),
            NewItem(text=answer, kind="message", source="chat", role="assistant",
                    created_at="2024-06-01T10:00:01Z", external_id="1", position=1,
                    key="chat:old-chat:1", meta={"citations": [1], "numbers": [1]})],
            conversation_id=cid)


def test_old_chats_are_never_cited_through_ask_json_and_chat(memory, cli_json):
    q = "What marathon am I training for and what is my target time?"
    old_chat(memory, q, "Evidence from your memory:\n[1] 2024-02-10: I am training for the "
             "Rotterdam marathon on 14 April, target time 3 hours 45")
    chat_ids = {h.id for h in memory.search("marathon training target time", limit=20)
                if h.source["type"] == "chat"}
    assert len(chat_ids) == 2  # both are searchable...
    everything = FakeLLM(lambda m: "See [1] [2] [3] [4] [5] [6] [7] [8].")
    for use_llm in (True, False):
        ans = ask(memory, q, llm=everything, use_llm=use_llm, now=NOW)
        assert not {h.id for h in ans.hits} & chat_ids  # ...but never context
        assert not {c.id for c in ans.citations} & chat_ids
    found = recall(memory, q, now=NOW)
    assert not {h.id for h in found.context} & chat_ids
    memory.close()
    data = cli_json("ask", q, "--as-of", "2024-07-01")
    assert not {c["id"] for c in data["citations"]} & chat_ids
    assert not {c["id"] for c in data["context"]} & chat_ids
    assert {"n", "id", "source", "created_at"} <= set(data["context"][0])


def test_a_chat_stores_the_answer_without_the_evidence_and_keeps_its_sources(memory):
    session = ChatSession(memory, llm=FakeLLM("I don't remember [1]."))  # not grounded
    turn = session.ask("What marathon am I training for?")
    assert turn.answer.used_evidence and "Rotterdam" in turn.answer.answer
    [_, stored] = session.messages()
    assert "Rotterdam" not in stored["text"]  # the quote is not stored again as new text
    assert stored["text"].startswith("Quoted from your memory: [1] #")
    assert memory.store.sources_of(stored["id"]) == sorted(c.id for c in turn.answer.citations)
    meta = json.loads(stored["meta"])
    assert meta["quoted"] and meta["citations"] == [c.id for c in turn.answer.citations]
    shown = session.transcript()[1]
    assert shown["text"] == turn.answer.answer  # the person sees the same after a resume
    again = ChatSession(memory, llm=FakeLLM("x")).ask("What marathon am I training for?")
    assert not {c.id for c in again.answer.citations} & {m["id"] for m in session.messages()}


def test_the_question_itself_is_not_evidence(memory):
    hit = type("H", (), {"source": {"type": "chat", "conversation_id": "c"}, "role": "user",
                         "text": "  Where is the WIFI password? "})()
    assert is_own_output(hit, "where is the wifi password")
    assert is_own_output(hit, "anything", chat="c")
    hit.text = "the wifi password is on the fridge"
    assert not is_own_output(hit, "where is the wifi password")


@pytest.mark.parametrize("reply", [
    'Today is 2026-12-01. [1] (2026-12-01) "memcli keeps my notes in one SQLite file"',
    "The marathon am I training for is the 2024-02-10 [1].",
    "You are training for the Berlin marathon [1].",
    "Rotterdam, 14 April.",  # no citation
])
def test_ungrounded_or_echoed_sentences_become_the_extractive_answer(memory, reply):
    ans = ask(memory, "What marathon am I training for and what is my target time?",
              llm=FakeLLM(reply), now=NOW)
    assert ans.used_evidence and ans.model is None and "Today is" not in ans.answer
    first = ans.answer.splitlines()[0]
    assert first == ('2024-02-10, marathon: "I am training for the Rotterdam marathon on 14 '
                     'April, target time 3 hours 45" [1]')


def test_a_grounded_sentence_is_shown_and_an_echo_beside_it_dropped(memory):
    reply = "Today is 2024-07-01. The Rotterdam marathon on 14 April, target 3 hours 45 [1]."
    streamed = []
    ans = ask(memory, "What marathon am I training for?", llm=FakeLLM(reply), now=NOW,
              on_token=streamed.append)
    assert ans.answer == "The Rotterdam marathon on 14 April, target 3 hours 45 [1]."
    assert ans.own_text == ans.answer and not ans.used_evidence and ans.model == "fake"
    assert "".join(streamed) == ans.answer
    assert [c.n for c in ans.citations] == [1]


def test_sentence_checks():
    from memcli.core.models import Hit

    hits = [Hit(1, "note", "Ana moved to Porto in May", 1.0, "2024-05-02T00:00:00Z", {})]
    q = "Where does Ana live?"
    assert sentence_ok("Ana lives in Porto [1].", hits, q, strict=True)
    assert not sentence_ok("Ana lives in Porto.", hits, q, strict=True)
    assert not sentence_ok("Ana lives in Madrid [1].", hits, q, strict=True)
    assert not sentence_ok("Where does Ana live [1]?", hits, q, strict=True)
    assert sentence_ok("Ana lives in Madrid.", hits, q, strict=False)  # capable: echoes only
    assert not sentence_ok("Question: where does Ana live", hits, q, strict=False)


def test_extractive_answer_quotes_the_best_sentence_and_the_latest_fact(make_memory):
    mem = make_memory()
    mem.config.ask_abstain_threshold = 0.0
    mem.remember("Long day. The spare key is under the blue flower pot by the shed. Rain later.",
                 created_at="2024-03-01T09:00:00Z")
    ans = ask(mem, "where is the spare key?", use_llm=False, now=NOW)
    assert ans.answer.startswith('2024-03-01: "The spare key is under the blue flower pot by the '
                                 'shed. Rain later." [1]')
    old = mem.remember("I live in Lisbon", created_at="2023-01-01T09:00:00Z", kind="fact")
    new = mem.remember("I live in Porto now", created_at="2024-06-01T09:00:00Z", kind="fact")
    mem.store.conn.execute("UPDATE items SET valid_to = ? WHERE id = ?", ("2024-06-01", old))
    ans = ask(mem, "where do I live?", use_llm=False, now=NOW)
    lines = ans.answer.splitlines()
    cited = [c.id for c in ans.citations]
    assert cited.index(new) < cited.index(old)  # the current value first, both cited
    assert lines[cited.index(old)].startswith("earlier, 2023-01-01")


def test_profiles_by_backend_and_size(tmp_path):
    from memcli.backends.llama import LlamaLLM
    from memcli.backends.openai import OpenAILLM

    cfg = Config()
    assert profile_for(cfg, FakeLLM()).name == "small"
    bundled = profile_for(cfg, LlamaLLM())
    assert (bundled.name, bundled.prompt, bundled.answer) == ("small", "ask", "extractive")
    assert profile_for(cfg, FakeLLM()).answer == "generate"
    big = tmp_path / "big.gguf"
    with open(big, "wb") as f:
        f.truncate(2_000_000_000)  # sparse: a "2 GB" GGUF
    capable = profile_for(cfg, LlamaLLM(big, n_ctx=16384))
    assert (capable.name, capable.prompt, capable.answer) == ("capable", "ask_capable", "generate")
    assert capable.context_chars > 40_000 and capable.items == 60
    http = profile_for(cfg, OpenAILLM("http://127.0.0.1:1/v1", "m"))
    assert http.name == "capable" and 8_000 < http.context_chars < 12_000  # 4096-token window
    cfg.ask_profile = "small"
    assert profile_for(cfg, OpenAILLM("http://127.0.0.1:1/v1", "m")).name == "small"
    cfg.ask_profile = "huge"
    with pytest.raises(MemcliError, match="profile"):
        profile_for(cfg, None)


def test_profile_settings_in_config_toml(home, monkeypatch):
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text('[ask]\nprofile = "capable"\nanswer = "generate"\n'
                    '[ask.capable]\nitems = 60\ncontext_chars = 30000\nprompt = "mine"\n'
                    '[ask.small]\nsource_chars = 200\n')
    cfg = Config.load(home)
    p = profile_for(cfg, None)
    assert (p.name, p.items, p.context_chars, p.prompt) == ("capable", 60, 30000, "mine")
    assert cfg.ask_small_source_chars == 200
    for bad in ('[ask.capable]\nwindow = 3\n', '[ask.large]\nitems = 3\n',
                '[ask.capable]\nitems = "many"\n'):
        path.write_text(bad)
        with pytest.raises(MemcliError, match="config"):
            Config.load(home)


def test_capable_sources_show_a_long_text_around_the_question():
    from memcli.core.models import Hit
    from memcli.services.answer_context import format_source

    text = ("I went to the shop. It was raining all day and the bus was late again as usual. "
            "Then I bought a red Brompton bike for 900 euros at the Berlin store. "
            + "Nothing else happened. " * 40)
    hit = Hit(1, "message", text, 1.0, "2024-05-02T10:00:00Z", {"title": "shopping"},
              role="user")
    line = format_source(3, hit, 120, capable=True, qwords=["brompton", "bike"])
    assert line.startswith('[3] (2024-05-02 (Thu), shopping, you) "I went to the shop. … Then I '
                           'bought a red Brompton bike for 900 euros')
    assert len(line) < 260
