"""`memcli export markdown|jsonl`: an Obsidian vault or a JSONL backup."""

from __future__ import annotations

from pathlib import Path

import typer

from memcli.cli.app import app, emit_json, memory_of

export_app = typer.Typer(help="Export the memory: an Obsidian vault or a JSONL backup.",
                         no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("markdown")
def export_markdown(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., metavar="DIR", help="Vault directory (created)."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Write an Obsidian-compatible vault: front matter, [[links]], sources, history."""
    from memcli.services.export import export_markdown as run

    report = run(memory_of(ctx), directory)
    if as_json:
        emit_json(report.to_json())
    else:
        typer.echo(f"Wrote {report.notes} notes and {report.conversations} conversations "
                   f"({report.links} links) to {report.path}")


@export_app.command("jsonl")
def export_jsonl(
    ctx: typer.Context,
    file: Path = typer.Argument(..., metavar="FILE", help="Conversations file (JSONL import format)."),
    no_notes: bool = typer.Option(False, "--no-notes", help="Skip the <name>.notes.jsonl file."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Back up conversations as JSONL (re-importable) and notes as <name>.notes.jsonl."""
    from memcli.services.export import export_jsonl as run, notes_path

    report = run(memory_of(ctx), file, notes=not no_notes)
    if as_json:
        emit_json(report.to_json())
    else:
        extra = f" and {report.notes} notes to {notes_path(Path(report.path))}" if not no_notes else ""
        typer.echo(f"Wrote {report.conversations} conversations ({report.messages} messages) to "
                   f"{report.path}{extra}")
