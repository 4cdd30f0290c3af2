"""`memcli chat`: a textual app over the memory.

The app takes its services in its constructor (``MemcliApp(memory, llm=...)``) so tests run it with
a fake LLM and the hashed embedder. Answers are produced by ``ChatSession.ask`` in a thread worker and
stream into the conversation pane token by token through ``call_from_thread``; the chat is stored as
memory (source ``chat``) as it happens. Errors from the model or the database become a message in
the pane, never a traceback."""

from __future__ import annotations

import threading

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from memcli.core.errors import MemcliError, is_database_error
from memcli.core.text import one_line
from memcli.services.chat import ChatSession
from memcli.tui.screens import HelpScreen, ItemScreen, RememberScreen, SearchScreen, where


class TokensArrived(Message):
    """Posted (thread-safe, without waiting) by the worker when new tokens wait in a view."""

    def __init__(self, view: "AnswerView") -> None:
        super().__init__()
        self.view = view


class Stopped(Exception):
    """Raised from the token callback to stop a generation the user cancelled."""


def describe(exc: BaseException) -> str:
    """One line for the user: what failed, no traceback."""
    if isinstance(exc, MemcliError):
        return str(exc)
    if is_database_error(exc):
        return f"database error: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class QuestionInput(Input):
    """The question box; Tab jumps to the sources of the latest answer."""

    BINDINGS = [Binding("tab", "app.sources", "Sources", show=False),
                Binding("pageup", "app.scroll_chat(-1)", "Scroll up", show=False),
                Binding("pagedown", "app.scroll_chat(1)", "Scroll down", show=False)]


class UserMessage(Static):
    def __init__(self, text: str):
        super().__init__(text, markup=False, classes="user-message")


class AnswerView(Vertical):
    """An answer being written, then its citations (select one to open the cited item)."""

    def __init__(self) -> None:
        super().__init__(classes="answer")
        self.text = ""
        self.citations: list = []
        self.state = "waiting"  # waiting | streaming | done | failed
        self._pending: list[str] = []  # tokens from the worker not shown yet
        self._pending_lock = threading.Lock()
        self._flush_posted = False

    def compose(self) -> ComposeResult:
        yield Static("thinking…", classes="answer-text", markup=False)
        cites = OptionList(classes="citations", markup=False)
        cites.display = False  # shown once there are citations (finish may run before on_mount)
        yield cites

    @property
    def body(self) -> Static:
        return self.query_one(".answer-text", Static)

    def put(self, token: str) -> bool:
        """Worker side: queue a token; True when the UI must be told (no flush is pending)."""
        with self._pending_lock:
            self._pending.append(token)
            if self._flush_posted:
                return False
            self._flush_posted = True
            return True

    def take_pending(self) -> str:
        with self._pending_lock:
            text, self._pending, self._flush_posted = "".join(self._pending), [], False
        return text

    def append(self, token: str) -> None:
        self.state = "streaming"
        self.text += token
        self.body.update(self.text)

    def finish(self, answer) -> None:
        self.show(answer.answer, answer.citations, answer.abstained)

    def show(self, text: str, citations: list, abstained: bool = False) -> None:
        self.state = "done"
        self.text = text
        self.body.update(self.text or "(no answer)")
        if abstained:
            self.add_class("abstained")
        seen, self.citations = set(), []
        for c in citations:
            if c.id not in seen:
                seen.add(c.id)
                self.citations.append(c)
        if self.citations:
            cites = self.query_one(".citations", OptionList)
            cites.add_options([Option(self.citation_label(c), id=f"c{c.id}")
                               for c in self.citations])
            cites.display = True
            cites.highlighted = 0

    @staticmethod
    def citation_label(c) -> str:
        date = (c.created_at or "")[:10]
        return f"[{c.n}] #{c.id} {c.kind} · {date} · {one_line(where(c.source), 24)}: " \
               f"{one_line(c.text, 90)}"

    def fail(self, message: str) -> None:
        self.state = "failed"
        self.add_class("error")
        partial = f"{self.text}\n" if self.text else ""
        self.body.update(f"{partial}⚠ {message}")


class MemcliApp(App):
    CSS_PATH = "memcli.tcss"
    TITLE = "memcli"
    SUB_TITLE = "chat with your memory"
    VERTICAL_BREAKPOINTS = [(0, "-short"), (24, "-tall")]
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f1", "help", "Help"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("ctrl+f,f2", "search", "Search"),
        Binding("ctrl+r,f3", "remember", "Remember"),
        Binding("ctrl+n", "new_chat", "New chat"),
        Binding("escape", "stop", "Stop answer"),
    ]

    def __init__(self, memory, llm=None, *, session: ChatSession | None = None,
                 use_llm: bool = True):
        super().__init__()
        self.memory = memory
        self.llm = llm
        self.use_llm = use_llm
        self.session = session or ChatSession(memory, llm=llm, use_llm=use_llm)
        self.lock = self.session.lock  # one lock for every use of the memory, whatever the chat
        self.current: AnswerView | None = None  # the answer being written
        self.turns: list = []  # finished ChatSession turns of this app run

    # ---- layout -----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="conversation", can_focus=False):
            yield Static("Ask a question about anything you have remembered. F1 for help.",
                         id="intro", markup=False)
        yield QuestionInput(placeholder="Ask your memory… (Enter sends, Tab: sources)",
                            id="question")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#question").focus()
        self.in_thread(self._stats, self._show_stats,
                       lambda message: self.query_one("#intro", Static).update(f"⚠ {message}"))
        if self.session.conversation_id is not None:  # a resumed chat shows what came before
            self.in_thread(self.session.transcript, self._show_transcript)

    def _stats(self) -> dict:
        with self.lock:
            return self.memory.stats()

    def _show_stats(self, stats: dict) -> None:
        self.query_one("#intro", Static).update(
            f"Memory: {plural(stats.get('notes', 0), 'note')}, "
            f"{plural(stats.get('messages', 0), 'message')} in "
            f"{plural(stats.get('conversations', 0), 'conversation')}. "
            "Ask a question below; F1 for help.")

    async def _show_transcript(self, messages: list[dict]) -> None:
        pane = self.query_one("#conversation")
        for m in messages:
            if m["role"] == "user":
                await pane.mount(UserMessage(m["text"]))
            else:
                view = AnswerView()
                await pane.mount(view)
                view.show(m["text"], m["citations"], m["abstained"])
        pane.scroll_end(animate=False)

    # ---- threads ----------------------------------------------------------------------------------
    @work(thread=True, exit_on_error=False, group="db")
    def in_thread(self, fn, done, fail=None) -> None:
        """Run ``fn`` off the UI thread; hand its result (or a one-line error) back to the UI."""
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - shown in the UI; the app keeps running
            callback, arg = (fail or (lambda m: self.notify(m, severity="error"))), describe(exc)
        else:
            callback, arg = done, result
        owner = getattr(callback, "__self__", None)

        def deliver():
            if owner is not None and hasattr(owner, "is_attached") and not owner.is_attached:
                return  # its screen was closed meanwhile
            return callback(arg)

        self._from_thread(deliver)

    def _from_thread(self, fn, *args) -> None:
        try:
            self.call_from_thread(fn, *args)
        except RuntimeError:  # the app is shutting down
            pass

    # ---- chat -------------------------------------------------------------------------------------
    async def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "question":
            return
        event.stop()
        question = event.value.strip()
        if not question:
            return
        if self.current is not None:
            self.notify("Still answering the last question (Esc stops it).", severity="warning")
            return
        event.input.value = ""
        pane = self.query_one("#conversation")
        view = AnswerView()
        self.current = view  # set before awaiting: a second Enter meanwhile is refused
        self.refresh_bindings()
        await pane.mount(UserMessage(question), view)  # composed before any token can arrive
        pane.scroll_end(animate=False)
        self.answer(question, view)

    @work(thread=True, exit_on_error=False, group="ask")
    def answer(self, question: str, view: AnswerView) -> None:
        worker = get_current_worker()

        def on_token(token: str) -> None:
            # Never wait for the UI here: the model generates in this thread. Tokens queue in the
            # view; one message per batch asks the UI to show them (at most one pending).
            if worker.is_cancelled:
                raise Stopped()
            if view.put(token):
                self.post_message(TokensArrived(view))

        try:
            turn = self.session.ask(question, on_token=on_token)
        except Stopped:
            self._from_thread(self._answered, view, None, "stopped")
        except Exception as exc:  # noqa: BLE001 - the model or the database failed: say so, go on
            self._from_thread(self._answered, view, None, describe(exc))
        else:
            self._from_thread(self._answered, view, turn, None)

    def on_tokens_arrived(self, message: TokensArrived) -> None:
        view = message.view
        text = view.take_pending()
        if text and view.state in ("waiting", "streaming"):
            view.append(text)
            self.query_one("#conversation").scroll_end(animate=False)

    def _answered(self, view: AnswerView, turn, error: str | None) -> None:
        rest = view.take_pending()  # tokens still queued when the worker finished
        if rest and view.state in ("waiting", "streaming"):
            view.append(rest)
        if self.current is view:
            self.current = None
            self.refresh_bindings()
        if error is not None:
            view.fail(error)
            if error != "stopped":
                self.notify(error, title="The answer failed", severity="error")
        else:
            self.turns.append(turn)
            view.finish(turn.answer)
        self.query_one("#conversation").scroll_end(animate=False)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.has_class("citations"):
            event.stop()
            self.push_screen(ItemScreen(int(event.option_id[1:])))

    # ---- actions ----------------------------------------------------------------------------------
    def check_action(self, action: str, parameters) -> bool | None:
        if action == "stop":
            return self.current is not None and self.screen is self.screen_stack[0]
        return True

    def action_sources(self) -> None:
        """Focus the citation list of the latest answer that has one (else the next widget)."""
        lists = [o for o in self.query(".citations").results(OptionList) if o.display]
        if lists:
            lists[-1].focus()
        else:
            self.screen.focus_next()

    def action_scroll_chat(self, direction: int) -> None:
        pane = self.query_one("#conversation", VerticalScroll)
        (pane.scroll_page_down if direction > 0 else pane.scroll_page_up)(animate=False)

    def action_stop(self) -> None:
        if self.current is not None:
            self.workers.cancel_group(self, "ask")
            self.current.body.update(self.current.text + " …stopping")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_search(self) -> None:
        if isinstance(self.screen, SearchScreen):
            self.screen.query_one("#search-query").focus()
            return
        typed = self.query_one("#question", Input).value.strip() if self.screen is \
            self.screen_stack[0] else ""
        self.push_screen(SearchScreen(typed))

    def action_remember(self) -> None:
        if isinstance(self.screen, RememberScreen):
            return
        text = ""
        if self.screen is self.screen_stack[0]:
            box = self.query_one("#question", Input)
            text, box.value = box.value, ""

        def done(item_id) -> None:
            if item_id is not None:
                self.notify(f"Remembered #{item_id}")

        self.push_screen(RememberScreen(text), done)

    def action_new_chat(self) -> None:
        if self.current is not None:
            self.notify("Wait for the answer (or Esc to stop it) first.", severity="warning")
            return
        if self.screen is not self.screen_stack[0]:
            return
        self.session = ChatSession(self.memory, llm=self.llm, use_llm=self.use_llm, lock=self.lock)
        pane = self.query_one("#conversation")
        for child in list(pane.children):
            if child.id != "intro":
                child.remove()
        self.notify("New chat started.")
