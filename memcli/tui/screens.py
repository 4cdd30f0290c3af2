"""Screens of the memcli app: an item (note/message) view, search, "remember this", help.

Every database call runs in a thread worker (``app.in_thread``) under the chat session's lock, so
the UI never waits on SQLite or the embedder while an answer streams in."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from memcli.core.text import one_line
from memcli.services.chat import show_in_context
from memcli.tui.forms import search_from_form, split_list

HELP = """\
memcli: chat with your memory

Chat
  Enter         send the question; the answer streams in, its
                sources are listed under it
  Tab           jump to the sources of the latest answer
  ↑ ↓  Enter    pick a source and open it (note or message,
                with its date, source and neighbours)
  PgUp PgDn     scroll the conversation
  Esc           stop the answer being written
  Ctrl+N        start a new chat (each chat is stored as memory)

Anywhere
  Ctrl+F  F2    search (keyword + semantic, with filters)
  Ctrl+R  F3    remember this: add a note (prefilled with what
                is typed in the question box)
  F1  ?         this help
  Esc           back / close
  Ctrl+Q        quit

Search filters: kind (note, message, …), source (cli, chat,
chatgpt, …), tag, since (a date: 2024-05-01, "last month").
"""


def where(source: dict) -> str:
    return source.get("title") or source.get("path") or source.get("type") or ""


def hit_label(hit) -> str:
    role = f"{hit.role}: " if getattr(hit, "role", None) else ""
    return (f"#{hit.id} {hit.kind} · {(hit.created_at or '')[:10]} · {one_line(where(hit.source), 22)}"
            f"\n  {role}{one_line(hit.text, 150)}")


class ItemScreen(Screen):
    """One item with its date, source, tags, text, neighbours, links and backlinks (followable)."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, item_id: int):
        super().__init__()
        self.item_id = item_id
        self.data: dict | None = None
        self.targets: list[int] = []

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="item-body"):
            yield Static(f"#{self.item_id} …", id="item-head", markup=False)
            yield Static("", id="item-meta", markup=False)
            yield Static("", id="item-text", markup=False)
            yield Label("Related (Enter opens)", id="item-nav-label")
            yield OptionList(id="item-nav", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        app = self.app

        def load() -> dict:
            with app.lock:
                return show_in_context(app.memory, self.item_id)

        app.in_thread(load, self.show_data, self.show_error)

    def show_error(self, message: str) -> None:
        self.query_one("#item-head", Static).update(f"#{self.item_id}: {message}")
        self.query_one("#item-head").add_class("error")

    def show_data(self, data: dict) -> None:
        self.data = data
        head = f"#{data['id']} {data['kind']}"
        if data.get("role"):
            head += f" ({data['role']})"
        if data.get("title"):
            head += f" · {data['title']}"
        self.query_one("#item-head", Static).update(head)
        src = data["source"]
        meta = [f"date: {data['created_at']}",
                "source: " + ", ".join(f"{k}={v}" for k, v in src.items() if v)]
        if data.get("tags"):
            meta.append("tags: " + " ".join("#" + t for t in data["tags"]))
        for key in ("valid_from", "valid_to", "superseded_by"):
            if data.get(key):
                meta.append(f"{key}: {data[key]}")
        self.query_one("#item-meta", Static).update("\n".join(meta))
        self.query_one("#item-text", Static).update(data["text"])
        options, self.targets = [], []

        def add(label: str, item_id) -> None:
            if item_id is None:  # an unresolved link: shown, not followable
                options.append(Option(label, disabled=True))
            else:
                options.append(Option(label, id=f"o{len(options)}"))
            self.targets.append(item_id)

        for m in data.get("previous", []):
            add(f"↑ previous #{m['id']} {m['role'] or m['kind']}: {one_line(m['text'], 70)}", m["id"])
        for m in data.get("next", []):
            add(f"↓ next #{m['id']} {m['role'] or m['kind']}: {one_line(m['text'], 70)}", m["id"])
        for link in data.get("links", []):
            label = link.get("title") or link.get("target") or ""
            add(f"→ link ({link['type']}) #{link['id']} {label}", link["id"])
        for link in data.get("backlinks", []):
            add(f"← backlink ({link['type']}) #{link['id']} {link.get('title') or ''}", link["id"])
        for sid in data.get("sources", []):
            add(f"⇐ source #{sid}", sid)
        nav = self.query_one("#item-nav", OptionList)
        nav.clear_options()
        nav.add_options(options)
        nav.display = bool(options)
        self.query_one("#item-nav-label").display = bool(options)
        if options:
            nav.highlighted = 0
            nav.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        target = self.targets[event.option_index]
        if target is not None:
            self.app.push_screen(ItemScreen(target))


class SearchScreen(Screen):
    """Hybrid search with kind/source/tag/since filters; Enter on a result opens it."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, query: str = ""):
        super().__init__()
        self.initial = query
        self.hits: list = []

    def compose(self) -> ComposeResult:
        yield Input(self.initial, placeholder="Search your memory… (Enter)", id="search-query")
        with Horizontal(id="search-filters"):
            yield Input(placeholder="kind", id="filter-kind", compact=True)
            yield Input(placeholder="source", id="filter-source", compact=True)
            yield Input(placeholder="tag", id="filter-tag", compact=True)
            yield Input(placeholder="since", id="filter-since", compact=True)
        yield Static("Type words or a question; filters are optional.", id="search-status",
                     markup=False)
        yield OptionList(id="search-results", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#search-query").focus()
        if self.initial:
            self.run_search()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.run_search()

    def run_search(self) -> None:
        app = self.app
        q = self.query_one("#search-query", Input).value
        form = {name: self.query_one(f"#filter-{name}", Input).value
                for name in ("kind", "source", "tag", "since")}
        status = self.query_one("#search-status", Static)
        status.remove_class("error")
        status.update("Searching…")

        def search() -> list:
            with app.lock:
                return search_from_form(app.memory, q, **form)

        app.in_thread(search, self.show_hits, self.show_error)

    def show_error(self, message: str) -> None:
        status = self.query_one("#search-status", Static)
        status.update(message)
        status.add_class("error")

    def show_hits(self, hits: list) -> None:
        self.hits = hits
        results = self.query_one("#search-results", OptionList)
        results.clear_options()
        results.add_options([Option(hit_label(h), id=f"h{i}") for i, h in enumerate(hits)])
        self.query_one("#search-status", Static).update(
            f"{len(hits)} result{'s' if len(hits) != 1 else ''}" + (" (Enter opens)" if hits else ""))
        if hits:
            results.highlighted = 0
            results.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.app.push_screen(ItemScreen(self.hits[event.option_index].id))


class RememberScreen(ModalScreen):
    """"Remember this": a small form that adds a note. Dismisses with the new id (or None)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, text: str = ""):
        super().__init__()
        self.initial = text
        self.saving = False

    def compose(self) -> ComposeResult:
        with Vertical(id="remember-box"):
            yield Label("Remember this (Ctrl+S saves, Esc cancels)")
            yield TextArea(self.initial, id="note-text", soft_wrap=True)
            yield Input(placeholder="title (optional)", id="note-title", compact=True)
            yield Input(placeholder="tags, comma separated (optional)", id="note-tags",
                        compact=True)
            yield Static("", id="remember-error", markup=False)
            with Horizontal(id="remember-buttons"):
                yield Button("Save", id="save", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#note-text").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_save() if event.button.id == "save" else self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        if self.saving:
            return
        app = self.app
        text = self.query_one("#note-text", TextArea).text
        title = self.query_one("#note-title", Input).value.strip() or None
        tags = split_list(self.query_one("#note-tags", Input).value)
        self.saving = True

        def save() -> int:
            with app.lock:
                return app.memory.remember(text, title=title, tags=tags, source="tui")

        app.in_thread(save, self.saved, self.failed)

    def saved(self, item_id: int) -> None:
        self.saving = False
        self.dismiss(item_id)

    def failed(self, message: str) -> None:
        self.saving = False
        error = self.query_one("#remember-error", Static)
        error.update(message)
        error.add_class("shown")


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,f1,q,question_mark", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(HELP, id="help-text", markup=False)
        yield Footer()
