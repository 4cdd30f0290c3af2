"""ChatSession: the chat is stored as memory as it happens, and later questions can cite it."""

import json
import threading

import pytest
from conftest import note_id

from memcli.backends.fakes import FakeLLM
from memcli.core.errors import MemcliError, NotFound
from memcli.services.chat import ChatSession, show_in_context


@pytest.fixture
def fake():
    return FakeLLM("Your bike is a blue Brompton [1].")


@pytest.fixture
def memory(make_memory, fake):
    m = make_memory(llm=fake)
    m.remember("I bought a blue Brompton folding bike in Berlin", title="bike", tags=["bike"])
    m.remember("The dentist appointment is on Friday at 9", title="dentist")
    return m


def chat_rows(memory):
    return [r for r in memory.store.conn.execute(
        "SELECT i.id, i.role, i.text, i.position, i.external_id, i.key, i.source, i.meta, "
        "c.external_id, c.title, c.source FROM items i JOIN conversations c "
        "ON c.id = i.conversation_id ORDER BY i.position").fetchall()]


def test_each_message_is_stored_as_it_happens(memory, fake):
    session = ChatSession(memory, llm=fake)
    assert session.messages() == []  # nothing stored before the first question
    seen_in_db = []

    def on_token(token):  # while the answer streams, the question is already in the store
        seen_in_db.append(len(chat_rows(memory)))

    turn = session.ask("Which Brompton bike did I buy in Berlin?", on_token=on_token)
    assert seen_in_db and set(seen_in_db) == {1}
    rows = chat_rows(memory)
    assert [(r[1], r[2], r[3], r[4], r[6]) for r in rows] == [
        ("user", "Which Brompton bike did I buy in Berlin?", 0, "0", "chat"),
        ("assistant", turn.answer.answer, 1, "1", "chat"),
    ]
    assert rows[0][5] == f"chat:{session.external_id}:0"
    assert rows[0][8] == session.external_id and rows[0][9] == "Which Brompton bike did I buy in Berlin?"
    assert rows[0][10] == "chat"
    meta = json.loads(rows[1][7])
    assert meta["citations"] == [c.id for c in turn.answer.citations] and meta["citations"]
    assert (turn.question_id, turn.answer_id) == (rows[0][0], rows[1][0])
    # the answer streamed through the callback (a small model's text sentence by sentence)
    assert len(seen_in_db) >= 1


def test_the_question_just_asked_is_not_its_own_citation(memory, fake):
    session = ChatSession(memory, llm=fake)
    turn = session.ask("blue Brompton folding bike Berlin")  # the question matches itself best
    cited = {c.id for c in turn.answer.citations}
    assert turn.question_id not in cited
    bike = note_id(memory, "bike")
    assert bike in cited


def test_a_failing_model_keeps_the_question_and_the_chat_goes_on(memory):
    calls = []

    def flaky(messages):
        calls.append(messages)
        if len(calls) == 1:
            raise RuntimeError("model crashed")
        return "The dentist is on Friday [1]."

    llm = FakeLLM(flaky)
    session = ChatSession(memory, llm=llm)
    with pytest.raises(RuntimeError, match="model crashed"):
        session.ask("When is the dentist appointment?")
    rows = chat_rows(memory)
    assert [(r[1], r[3]) for r in rows] == [("user", 0)]  # the question survived the crash
    turn = session.ask("When is the dentist appointment?")
    assert turn.answer.answer.startswith("The dentist is on Friday")
    assert [(r[1], r[3]) for r in chat_rows(memory)] == [("user", 0), ("user", 1), ("assistant", 2)]


def test_a_later_chat_can_cite_an_earlier_one(memory):
    # the second answer cites every source it was given, so whatever retrieval offers is cited
    llm = FakeLLM(["Noted: your gym locker code is 4471 [1].",
                   "It is 4471 [1] [2] [3] [4] [5] [6] [7] [8]."])
    first = ChatSession(memory, llm=llm)
    first.ask("Remember that my locker code at the gym is 4471")
    said = first.messages()[0]["id"]
    memory.remember("unrelated note about groceries and milk")
    second = ChatSession(memory, llm=llm)
    turn = second.ask("what is my gym locker code")
    assert second.conversation_id != first.conversation_id
    cited = {c.id: c for c in turn.answer.citations}
    assert said in cited
    assert cited[said].source["type"] == "chat"
    assert cited[said].source["conversation_id"] == first.external_id
    # the model's own earlier answers are not evidence: only what the user said is cited
    answer_ids = {m["id"] for m in first.messages() if m["role"] == "assistant"}
    assert {h.id for h in memory.search("gym locker code 4471")} & answer_ids  # searchable...
    assert not set(cited) & answer_ids  # ...but not cited


def test_history_of_the_chat_reaches_the_model_and_resume_continues(memory, fake):
    session = ChatSession(memory, llm=fake)
    session.ask("Which Brompton bike did I buy in Berlin?")
    session.ask("Where did I buy it?")
    prompt = "\n".join(m["content"] for m in fake.calls[-1]["messages"])
    # the previous turn is context for the follow-up
    assert "Which Brompton bike did I buy in Berlin?" in prompt

    again = ChatSession.resume(memory, session.external_id, llm=fake)
    assert [h["content"] for h in again.history][:1] == ["Which Brompton bike did I buy in Berlin?"]
    again.ask("And when is the dentist?")
    positions = [r[3] for r in chat_rows(memory)]
    assert positions == [0, 1, 2, 3, 4, 5]
    assert memory.stats()["conversations"] == 1

    with pytest.raises(NotFound):
        ChatSession.resume(memory, "no-such-chat")


def test_empty_question_is_refused_and_nothing_is_stored(memory, fake):
    with pytest.raises(MemcliError):
        ChatSession(memory, llm=fake).ask("   ")
    assert chat_rows(memory) == []


def test_show_in_context_has_neighbours_and_links(memory, fake):
    session = ChatSession(memory, llm=fake)
    session.ask("Which Brompton bike did I buy in Berlin?")
    session.ask("When is the dentist appointment?")
    msgs = session.messages()
    view = show_in_context(memory, msgs[1]["id"])
    assert [m["id"] for m in view["previous"]] == [msgs[0]["id"]]
    assert [m["id"] for m in view["next"]] == [msgs[2]["id"], msgs[3]["id"]]
    assert view["conversation"]["source"] == "chat"

    bike, dentist = note_id(memory, "bike"), note_id(memory, "dentist")
    memory.store.add_link(bike, dentist, type="related")
    note = show_in_context(memory, bike)
    assert note["previous"] == [] and note["next"] == []
    assert [link["id"] for link in note["links"]] == [dentist]
    assert [link["id"] for link in show_in_context(memory, dentist)["backlinks"]] == [bike]


def test_ui_thread_reads_while_a_worker_chats(memory, fake):
    """One connection, two threads: the session's lock keeps them from interleaving."""
    session = ChatSession(memory, llm=fake)
    errors = []

    def chat():
        try:
            for i in range(5):
                session.ask(f"Which Brompton bike did I buy in Berlin? ({i})")
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    t = threading.Thread(target=chat)
    t.start()
    while t.is_alive():
        with session.lock:
            memory.search("dentist Friday")
            show_in_context(memory, 1)
    t.join()
    assert errors == []
    assert len(session.messages()) == 10


def test_the_chat_is_found_by_memcli_search(memory, fake, cli_json):
    session = ChatSession(memory, llm=fake)
    session.ask("Remember: the wifi password at grandma's is sunflower77")
    hits = cli_json("search", "grandma wifi password", "--source", "chat")
    assert hits[0]["source"]["type"] == "chat"
    assert hits[0]["source"]["conversation_id"] == session.external_id
    assert "sunflower77" in hits[0]["text"]


def test_without_the_model_the_chat_quotes_evidence(memory):
    def never(messages):
        raise AssertionError("the model must not be called with use_llm=False")

    session = ChatSession(memory, llm=FakeLLM(never), use_llm=False)
    turn = session.ask("Which Brompton bike did I buy in Berlin?")
    assert "Brompton" in turn.answer.answer and turn.answer.citations
    assert [m["role"] for m in session.messages()] == ["user", "assistant"]
