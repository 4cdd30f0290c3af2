"""The `memcli` script and the composition root: the typer app of memcli/cli with every command
group registered on it, plus the commands that start another front end (`memcli chat` opens the
textual app of memcli/tui, `memcli mcp` the MCP server of memcli/mcp). cli, tui and mcp never
import each other; only this module sees them all, and it imports the TUI or the MCP server only
when its command runs."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from memcli.cli.app import app, memory_of
from memcli.cli.commands import ask, digest, export, importing, maint, memory, replica  # noqa: F401
from memcli.core.errors import MemcliError

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
    if not (sys.stdin.isatty() and sys.stdout.isatty()):  # a full-screen app needs a terminal
        raise MemcliError("memcli chat needs a terminal (its input and output are not one); "
                          "in scripts and pipes use `memcli ask QUESTION` or `memcli search`")
    MemcliApp(mem, session=session, use_llm=not no_llm).run()
    with session.lock:  # an answer cut off by quitting may still hold the database: wait for it
        mem.close()


@app.command("mcp")
def mcp_server(
    ctx: typer.Context,
    read_only: bool = typer.Option(
        False, "--read-only", help="Offer no writing tools (remember, forget)."),
    tools: Optional[str] = typer.Option(
        None, "--tools", metavar="A,B",
        help="Offer only these tools: search, recall, ask, show, recent, notes, stats, remember, "
             "forget."),
):
    """Serve the memory to other assistants (Claude Desktop, Claude Code, Cursor, VS Code) as an
    MCP server over stdio; stdout carries only the protocol."""
    from memcli.mcp.tools import choose_tools

    names = choose_tools(tools, read_only=read_only)  # a wrong name fails before anything opens
    from memcli.mcp.server import serve

    serve(memory_of(ctx), names)


def run() -> None:
    app()


if __name__ == "__main__":
    run()
