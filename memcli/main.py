"""The `memcli` script and the composition root: the typer app of memcli/cli with every command
group registered on it, plus the commands that start another front end (`memcli chat` opens the
textual app of memcli/tui). cli and tui never import each other; only this module sees both, and
it imports the TUI only when `memcli chat` runs."""

from __future__ import annotations

from typing import Optional

import typer

from memcli.cli.app import app, memory_of
from memcli.cli.commands import ask, digest, export, importing, maint, memory  # noqa: F401

__all__ = ["app", "run"]


@app.command()
def chat(
    ctx: typer.Context,
    resume: Optional[str] = typer.Option(
        None, "--resume", metavar="CHAT_ID",
        help="Continue a stored chat (its conversation id, shown by `memcli show`)."),
    title: Optional[str] = typer.Option(None, "--title", help="Title of the new chat."),
    no_llm: bool = typer.Option(
        False, "--no-llm", help="Answer with quoted passages only; load no language model."),
):
    """Chat with your memory in a terminal app; the chat itself is remembered (source `chat`)."""
    from memcli.services.chat import ChatSession
    from memcli.tui.app import MemcliApp

    mem = memory_of(ctx)
    if resume:
        session = ChatSession.resume(mem, resume, use_llm=not no_llm)
    else:
        session = ChatSession(mem, use_llm=not no_llm, title=title)
    MemcliApp(mem, session=session, use_llm=not no_llm).run()
    with session.lock:  # an answer cut off by quitting may still hold the database: wait for it
        mem.close()


def run() -> None:
    app()


if __name__ == "__main__":
    run()
