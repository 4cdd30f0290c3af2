"""`memcli import chatgpt|claude|markdown|jsonl PATH`: parse, call memcli.ingest, report counts."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import typer

from memcli.cli.app import app, emit_json, memory_of

import_app = typer.Typer(
    name="import", no_args_is_help=True,
    help="Import chats and notes: ChatGPT/Claude exports, Markdown/Obsidian vaults, JSONL.")
app.add_typer(import_app, name="import")

DRY_RUN = typer.Option(False, "--dry-run", help="Parse and count; write nothing.")
AS_JSON = typer.Option(False, "--json", help="Print the summary as a JSON object.")


@contextmanager
def _progress_bar(enabled: bool, label: str):
    """A rich progress bar on stderr when it is a terminal; otherwise no output at all."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeRemainingColumn)

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update


def _run(ctx: typer.Context, source: str, path: Path, dry_run: bool, as_json: bool,
         **opts) -> None:
    from memcli.services.ingest import import_path

    mem = memory_of(ctx)
    with _progress_bar(not as_json, f"Importing {source}") as progress:
        result = import_path(mem, source, path, dry_run=dry_run, progress=progress, **opts)
    if as_json:
        emit_json(result.to_json())
        return
    for w in result.warnings:
        typer.echo(f"warning: {w}", err=True)
    if result.failed > len(result.warnings):
        typer.echo(f"warning: … and {result.failed - len(result.warnings)} more", err=True)
    verb = "Would add" if dry_run else "Added"
    unit = "messages" if source in ("chatgpt", "claude", "jsonl") else "notes/sections"
    seen = (f"{result.files} files" if source == "markdown"
            else f"{result.conversations} conversations, {result.messages} messages"
            + (f", {result.documents} documents" if result.documents else ""))
    line = (f"{verb} {result.added} {unit} from {source} ({seen}); "
            f"skipped {result.skipped} already present, failed {result.failed}")
    if source == "markdown":
        line += f"; {result.replaced} changed files replaced, {result.links} links"
    typer.echo(f"{line} in {result.seconds:.1f} s")


@import_app.command("chatgpt")
def import_chatgpt(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="The export zip, its folder, or conversations.json."),
    all_branches: bool = typer.Option(
        False, "--all-branches", help="Also keep edited/regenerated branches, not only the "
        "visible thread."),
    dry_run: bool = DRY_RUN,
    as_json: bool = AS_JSON,
):
    """Import a ChatGPT data export (Settings → Data controls → Export)."""
    _run(ctx, "chatgpt", path, dry_run, as_json, all_branches=all_branches)


@import_app.command("claude")
def import_claude(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="The export zip, its folder, or conversations.json."),
    dry_run: bool = DRY_RUN,
    as_json: bool = AS_JSON,
):
    """Import a Claude data export (conversations, project docs, memories)."""
    _run(ctx, "claude", path, dry_run, as_json)


@import_app.command("markdown")
def import_markdown(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="A Markdown file or a folder (an Obsidian vault)."),
    dry_run: bool = DRY_RUN,
    as_json: bool = AS_JSON,
):
    """Import Markdown notes or an Obsidian vault, with tags and wikilinks.

    Long notes are split at headings; a changed file replaces its old items on re-import."""
    _run(ctx, "markdown", path, dry_run, as_json)


@import_app.command("jsonl")
def import_jsonl(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="A .jsonl file: one conversation per line."),
    dry_run: bool = DRY_RUN,
    as_json: bool = AS_JSON,
):
    """Import conversations in the documented JSON Lines format (see the README)."""
    _run(ctx, "jsonl", path, dry_run, as_json)
