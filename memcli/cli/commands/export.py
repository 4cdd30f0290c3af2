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
    force: bool = typer.Option(False, "--force", help="Overwrite files of an earlier export."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Write an Obsidian-compatible vault: front matter, [[links]], sources, history."""
    from memcli.services.export import export_markdown as run

    report = run(memory_of(ctx), directory, force=force)
    if as_json:
        emit_json(report.to_json())
    else:
        typer.echo(f"Wrote {report.notes} notes and {report.conversations} conversations "
                   f"({report.links} links) to {report.path}")


@export_app.command("jsonl")
def export_jsonl(
    ctx: typer.Context,
    file: str = typer.Argument(..., metavar="FILE",
                               help="Backup file (JSONL import format); '-' for stdout."),
    no_notes: bool = typer.Option(False, "--no-notes", help="Conversations only."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing FILE."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Back up conversations and notes as JSONL (`memcli import jsonl FILE` restores them);
    derived notes with their provenance go to <name>.notes.jsonl."""
    import sys

    from memcli.services.export import export_jsonl as run, notes_path

    to_stdout = file == "-"
    report = run(memory_of(ctx), sys.stdout if to_stdout else Path(file), notes=not no_notes,
                 force=force)
    if as_json and not to_stdout:
        emit_json(report.to_json())
        return
    extra = (f" and {report.derived} derived notes to {notes_path(Path(report.path))}"
             if report.derived else "")
    typer.echo(f"Wrote {report.conversations} conversations ({report.messages} messages) and "
               f"{report.notes} notes to {'stdout' if to_stdout else report.path}{extra}",
               err=to_stdout)
