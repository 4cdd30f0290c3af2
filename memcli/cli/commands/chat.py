"""`memcli chat`: open the terminal chat (textual is imported only when the command runs)."""

from __future__ import annotations

from typing import Optional

import typer

from memcli.cli.app import app, memory_of


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
