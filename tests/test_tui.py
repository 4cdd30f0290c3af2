"""Pilot tests: the real app with the fake LLM and the hashed embedder.

Harlequin style: wait for workers (``app.workers.wait_for_complete()``) and assert on widget state;
never sleep."""

import asyncio
import threading

import pytest
from conftest import note_id

from memcli.backends.fakes import FakeLLM
from memcli.core.errors import MemcliError
from memcli.tui.forms import search_from_form, split_list

pytest.importorskip("textual")

from textual.widgets import Footer, Input, OptionList, Static, TextArea

from memcli.tui.app import AnswerView, MemcliApp, UserMessage
from memcli.tui.screens import HelpScreen, ItemScreen, RememberScreen, SearchScreen

ANSWER = "You bought a blue Brompton folding bike in Berlin [1]."


@pytest.fixture
def memory(make_memory):
    m = make_memory(llm=FakeLLM(ANSWER))
    m.remember("I bought a blue Brompton folding bike in Berlin", title="bike", tags=["bike"])
    m.remember("The dentist appointment is on Friday at 9", title="dentist", tags=["health"])
    m.remember("Grandma's wifi password is sunflower77", title="wifi")
    return m


def run(app, scenario, size=(100, 32)):
    async def main():
        async with app.run_test(size=size) as pilot:
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            await scenario(pilot)

    asyncio.run(main())


async def settle(pilot):
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def ask(pilot, question):
    box = pilot.app.query_one("#question", Input)
    box.focus()
    box.value = question
    await pilot.press("enter")
    await settle(pilot)


def answers(app):
    return list(app.query(AnswerView))


def test_question_streams_an_answer_with_citations_and_stores_the_chat(memory, monkeypatch):
    tokens = []
    real_append = AnswerView.append

    def spy(self, token):
        tokens.append(token)
        real_append(self, token)

    monkeypatch.setattr(AnswerView, "append", spy)
    app = MemcliApp(memory, llm=memory.llm)

    async def scenario(pilot):
        assert "3 notes" in str(app.query_one("#intro", Static).render())
        await ask(pilot, "Which Brompton bike did I buy in Berlin?")
        [user] = app.query(UserMessage)
        assert str(user.render()) == "Which Brompton bike did I buy in Berlin?"
        [view] = answers(app)
        assert view.state == "done"
        assert str(view.body.render()) == ANSWER
        cites = view.query_one(".citations", OptionList)
        assert cites.display and cites.option_count == len(view.citations) >= 1
        bike = note_id(memory, "bike")
        assert view.citations[0].id == bike
        assert f"#{bike}" in str(cites.get_option_at_index(0).prompt)
        assert app.query_one("#question", Input).value == ""

    run(app, scenario)
    assert tokens and "".join(tokens) == ANSWER  # streamed into the view, nothing lost or doubled
    stored = [(m["role"], m["text"]) for m in app.session.messages()]
    assert stored == [("user", "Which Brompton bike did I buy in Berlin?"), ("assistant", ANSWER)]
    hits = memory.search("bike Brompton", filters=memory.make_filters(sources=["chat"]))
    assert {h.source["type"] for h in hits} == {"chat"} and len(hits) == 2


def test_opening_a_citation_shows_the_item_and_its_neighbours(memory):
    from memcli.services.chat import ChatSession

    earlier = ChatSession(memory, llm=FakeLLM("You bought a Brompton bike in Berlin [1]."))
    earlier.ask("my bike is in the cellar of the Berlin flat")
    # the second answer cites every source it was given
    app = MemcliApp(memory, llm=FakeLLM([ANSWER, "In the cellar [1] [2] [3] [4] [5] [6] [7]."]))

    async def scenario(pilot):
        await ask(pilot, "Which Brompton bike did I buy in Berlin?")
        await ask(pilot, "where is my Brompton bike kept?")
        view = answers(app)[-1]
        cites = view.query_one(".citations", OptionList)
        chat_cite = next(i for i, c in enumerate(view.citations) if c.source["type"] == "chat")
        # the earlier chat's question is evidence; this chat's own turns and answers are not
        assert {c.source["conversation_id"] for c in view.citations
                if c.source["type"] == "chat"} == {earlier.external_id}
        earlier_answers = {m["id"] for m in earlier.messages() if m["role"] == "assistant"}
        assert not {c.id for c in view.citations} & earlier_answers
        app.query_one("#question", Input).focus()
        await pilot.press("tab")  # Tab jumps from the question box to the latest sources
        assert app.focused is cites and cites.highlighted == 0
        for _ in range(chat_cite):
            await pilot.press("down")
        assert cites.highlighted == chat_cite
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ItemScreen)
        first_question = earlier.messages()[0]
        assert screen.item_id == view.citations[chat_cite].id == first_question["id"]
        assert str(screen.query_one("#item-text", Static).render()) == first_question["text"]
        meta = str(screen.query_one("#item-meta", Static).render())
        assert f"date: {first_question['created_at']}" in meta and "type=chat" in meta
        nav = screen.query_one("#item-nav", OptionList)
        labels = [str(nav.get_option_at_index(i).prompt) for i in range(nav.option_count)]
        assert labels and labels[0].startswith("↓ next") and "Brompton bike" in labels[0]
        # follow the neighbour, then come back twice to the chat
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ItemScreen) and app.screen.item_id == screen.targets[0]
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert app.screen is app.screen_stack[0]

    run(app, scenario)


def test_note_view_follows_links_and_backlinks(memory):
    bike, dentist = note_id(memory, "bike"), note_id(memory, "dentist")
    memory.store.add_link(bike, dentist, type="related", reason="both errands")
    memory.store.add_link(bike, None, target="Unwritten note", type="wikilink")
    app = MemcliApp(memory, llm=memory.llm)

    async def scenario(pilot):
        app.push_screen(ItemScreen(bike))
        await settle(pilot)
        screen = app.screen
        assert "#bike" in str(screen.query_one("#item-meta", Static).render())
        nav = screen.query_one("#item-nav", OptionList)
        labels = [str(nav.get_option_at_index(i).prompt) for i in range(nav.option_count)]
        assert labels[0].startswith("→ link (related)") and "dentist" in labels[0]
        assert "Unwritten note" in labels[1] and nav.get_option_at_index(1).disabled
        nav.highlighted = 0
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.item_id == dentist
        back = app.screen.query_one("#item-nav", OptionList)
        assert "← backlink" in str(back.get_option_at_index(0).prompt)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.item_id == bike
        app.push_screen(ItemScreen(99999))  # e.g. forgotten meanwhile: a message, no crash
        await settle(pilot)
        head = app.screen.query_one("#item-head", Static)
        assert head.has_class("error") and "no item with id 99999" in str(head.render())

    run(app, scenario)


def test_search_screen_with_filters_opens_a_result(memory):
    app = MemcliApp(memory, llm=memory.llm)

    async def scenario(pilot):
        await pilot.press("ctrl+f")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        screen.query_one("#search-query", Input).value = "dentist Friday"
        screen.query_one("#filter-tag", Input).value = "health"
        screen.query_one("#search-query", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert [h.title for h in screen.hits] == ["dentist"]
        assert str(screen.query_one("#search-status", Static).render()).startswith("1 result")
        await pilot.press("enter")  # the results list has focus, first hit highlighted
        await settle(pilot)
        assert isinstance(app.screen, ItemScreen)
        assert "Friday at 9" in str(app.screen.query_one("#item-text", Static).render())
        await pilot.press("escape")
        # a bad filter is a message on the screen, not a crash
        screen.query_one("#filter-tag", Input).value = ""
        screen.query_one("#filter-since", Input).value = "the day the moon fell"
        screen.query_one("#search-query", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        status = screen.query_one("#search-status", Static)
        assert status.has_class("error") and "since" in str(status.render())

    run(app, scenario)


def test_form_fields_become_filters(memory):
    from memcli.services.chat import ChatSession

    assert split_list(" house, boiler  cellar,,") == ["house", "boiler", "cellar"]
    assert split_list("") == []
    ChatSession(memory, llm=memory.llm).ask("Which Brompton bike did I buy in Berlin?")
    hits = search_from_form(memory, "bike", source="chat")
    assert hits and {h.source["type"] for h in hits} == {"chat"}
    hits = search_from_form(memory, "bike", kind="note", tag="bike")
    assert [h.title for h in hits] == ["bike"]
    with pytest.raises(MemcliError):
        search_from_form(memory, "bike", since="not a date at all xyz")


def test_remember_this_adds_a_note_with_tags(memory):
    app = MemcliApp(memory, llm=memory.llm)

    async def scenario(pilot):
        app.query_one("#question", Input).value = "The boiler was serviced in March"
        await pilot.press("ctrl+r")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, RememberScreen)
        assert modal.query_one("#note-text", TextArea).text == "The boiler was serviced in March"
        modal.query_one("#note-tags", Input).value = "house, boiler"
        modal.query_one("#note-title", Input).value = "boiler"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is app.screen_stack[0]
        # an empty note is refused inside the modal
        await pilot.press("ctrl+r")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, RememberScreen)
        assert "empty" in str(app.screen.query_one("#remember-error", Static).render())
        await pilot.press("escape")

    run(app, scenario)
    [hit] = memory.search("boiler serviced", limit=1)
    assert hit.text == "The boiler was serviced in March" and hit.title == "boiler"
    assert hit.tags == ["boiler", "house"] and hit.source["type"] == "tui"


def test_a_failing_model_is_a_message_not_a_traceback(memory):
    def broken(messages):
        raise RuntimeError("llama exploded")

    app = MemcliApp(memory, llm=FakeLLM(broken))

    async def scenario(pilot):
        await ask(pilot, "Which Brompton bike did I buy in Berlin?")
        [view] = answers(app)
        assert view.state == "failed" and view.has_class("error")
        assert "RuntimeError: llama exploded" in str(view.body.render())
        assert app.is_running and app.current is None
        # the app goes on: the next question is answered once the model works again
        app.session.llm = FakeLLM(ANSWER)
        await ask(pilot, "Which Brompton bike did I buy in Berlin?")
        assert answers(app)[-1].state == "done"

    run(app, scenario)
    assert [m["role"] for m in app.session.messages()] == ["user", "user", "assistant"]


def test_a_database_failure_is_a_message_too(memory):
    app = MemcliApp(memory, llm=memory.llm)

    async def scenario(pilot):
        memory.store.conn.close()  # the database goes away under the app
        await ask(pilot, "Which Brompton bike did I buy in Berlin?")
        [view] = answers(app)
        assert view.state == "failed"
        assert "database error" in str(view.body.render())
        await pilot.press("ctrl+f")
        await settle(pilot)
        app.screen.query_one("#search-query", Input).value = "bike"
        await pilot.press("enter")
        await settle(pilot)
        assert "database error" in str(app.screen.query_one("#search-status", Static).render())

    run(app, scenario)


class SlowLLM:
    """Streams one checked sentence, then waits for the test to let it go on."""

    def __init__(self):
        self.go = threading.Event()

    def stream(self, messages, **kw):
        # a sentence is shown once checked, i.e. when the next one begins
        yield from ["You bought a blue Brompton folding bike in Berlin [1]. ", "It "]
        self.go.wait(10)
        yield from ["is ", "blue ", "[1]."]


def test_escape_stops_an_answer_and_the_ui_stays_responsive(memory):
    llm = SlowLLM()
    app = MemcliApp(memory, llm=llm)

    async def scenario(pilot):
        box = app.query_one("#question", Input)
        box.value = "Which Brompton bike did I buy in Berlin?"
        await pilot.press("enter")
        [view] = answers(app)
        for _ in range(500):  # wait for the first token (bounded; no sleeping)
            if view.text:
                break
            await pilot.pause()
        assert view.text.strip() == "You bought a blue Brompton folding bike in Berlin [1]." \
            and view.state == "streaming"
        # while the model works the UI answers: a second question is politely refused,
        # the help screen opens and closes
        box.value = "another question"
        await pilot.press("enter")
        assert len(answers(app)) == 1 and box.value == "another question"
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        # ...and the memory can be searched while the model is mid-answer (the DB lock is not
        # held during generation)
        app.push_screen(SearchScreen("dentist Friday"))
        search = app.screen
        for _ in range(500):
            if search.hits:
                break
            await pilot.pause()
        assert search.hits and search.hits[0].title == "dentist" and view.state == "streaming"
        await pilot.press("escape")
        await pilot.press("escape")  # stop the answer
        llm.go.set()
        await settle(pilot)
        assert view.state == "failed" and "stopped" in str(view.body.render())
        assert app.current is None

    run(app, scenario)
    assert [m["role"] for m in app.session.messages()] == ["user"]


def test_help_screen_and_question_marks(memory):
    app = MemcliApp(memory, llm=memory.llm)

    async def scenario(pilot):
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        assert "Ctrl+F" in str(app.screen.query_one("#help-text", Static).render())
        await pilot.press("escape")
        assert app.screen is app.screen_stack[0]
        await pilot.press("w", "h", "y", "?")  # typing a '?' into the question is not "help"
        assert app.query_one("#question", Input).value == "why?"
        assert app.screen is app.screen_stack[0]
        app.set_focus(None)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)

    run(app, scenario)


def test_small_terminal_keeps_the_essentials_visible(memory):
    app = MemcliApp(memory, llm=memory.llm)

    async def scenario(pilot):
        assert app.screen.has_class("-short")
        box = app.query_one("#question", Input)
        assert box.region.height == 1 and box.region.bottom <= 14  # above the footer
        footer = app.query_one(Footer)
        assert footer.region.y == 14 and footer.region.height == 1
        await ask(pilot, "Which Brompton bike did I buy in Berlin?")
        [view] = answers(app)
        assert view.state == "done" and view.citations
        pane = app.query_one("#conversation")
        assert pane.region.height >= 8
        await pilot.press("ctrl+f")
        await settle(pilot)
        results = app.screen.query_one("#search-results")
        assert app.screen.query_one("#search-query").region.height == 1
        assert results.region.height >= 8
        await pilot.press("escape", "ctrl+r")
        await settle(pilot)
        box = app.screen.query_one("#remember-box")
        assert box.region.bottom <= 15 and app.screen.query_one("#save").region.height == 1

    run(app, scenario, size=(60, 15))


def test_new_chat_starts_a_second_conversation(memory):
    app = MemcliApp(memory, llm=memory.llm)

    async def scenario(pilot):
        await ask(pilot, "Which Brompton bike did I buy in Berlin?")
        first = app.session.external_id
        await pilot.press("ctrl+n")
        assert not answers(app) and app.session.external_id != first
        await ask(pilot, "When is the dentist appointment?")

    run(app, scenario)
    assert memory.stats()["conversations"] == 2


def test_chat_then_memcli_search_finds_it(memory, cli_json):
    app = MemcliApp(memory, llm=FakeLLM("Noted [1]."))

    async def scenario(pilot):
        await ask(pilot, "My passport expires in October 2031")

    run(app, scenario)
    hits = cli_json("search", "passport expires", "--source", "chat")
    assert hits and hits[0]["source"]["type"] == "chat"
    assert hits[0]["source"]["conversation_id"] == app.session.external_id
    assert hits[0]["text"] == "My passport expires in October 2031"


def test_memcli_chat_command_is_registered(cli):
    code, out, err = cli("chat", "--help")
    assert code == 0 and "--resume" in out and "--no-llm" in out
    code, out, err = cli("chat", "--resume", "nope")
    assert code == 1 and "no chat with id 'nope'" in err


def test_a_resumed_chat_shows_its_messages_and_their_sources(memory):
    from memcli.services.chat import ChatSession

    first = ChatSession(memory, llm=memory.llm)
    turn = first.ask("Which Brompton bike did I buy in Berlin?")
    session = ChatSession.resume(memory, first.external_id, llm=memory.llm)
    app = MemcliApp(memory, session=session)

    async def scenario(pilot):
        [user] = app.query(UserMessage)
        assert str(user.render()) == "Which Brompton bike did I buy in Berlin?"
        [view] = answers(app)
        assert str(view.body.render()) == ANSWER
        assert [c.id for c in view.citations] == [c.id for c in turn.answer.citations]
        assert [c.n for c in view.citations] == [c.n for c in turn.answer.citations]
        await ask(pilot, "When is the dentist appointment?")
        assert len(answers(app)) == 2

    run(app, scenario)
    assert len(session.messages()) == 4 and session.messages()[2]["position"] == 2
