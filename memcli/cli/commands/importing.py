"""`memcli import <format> PATH`: one command per format of ``memcli.importers.FORMATS``; each
parses, calls ``memcli.services.ingest.import_path``, reports counts."""

from __future__ import annotations

import inspect
import sys
from contextlib import contextmanager
from pathlib import Path

import typer

from memcli.cli.app import app, emit_json, memory_of
from memcli.importers import FORMATS, Format

import_app = typer.Typer(
    name="import", no_args_is_help=True,
    help="Import chats and notes: ChatGPT/Claude exports, Markdown/Obsidian vaults, JSONL.")
app.add_typer(import_app, name="import")

DRY_RUN = typer.Option(False, "--dry-run", help="Parse and count; write nothing.")
NO_DIGEST = typer.Option(False, "--no-digest", help="Skip the automatic digest of what is new "
                         "(facts, summaries, links, updates); `memcli digest` does it later.")
AS_JSON = typer.Option(False, "--json", help="Print the summary as a JSON object.")


@contextmanager
def _progress_bar(enabled: bool, label: str):
    """A rich progress bar on stderr when it is a terminal; otherwise no output at all."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update


def auto_digest(mem, enabled: bool, quiet: bool):
    """The digest of what is new after `import`/`add` (deterministic unless a capable model is
    configured: memcli.services.digest.pipeline.digest), with a progress bar on a terminal."""
    if not enabled:
        return None
    from memcli.services.digest import digest

    with _progress_bar(not quiet, "Digesting") as progress:
        return digest(mem, progress=progress)


def _digest_line(report) -> str:
    r = report
    return (f"Digested {r.messages} new messages ({r.mode}): {r.notes} facts, {r.summaries} "
            f"summaries, {r.links} links, {r.superseded} updates in {r.seconds:.1f} s")


def _run(ctx: typer.Context, fmt: Format, path: Path, dry_run: bool, as_json: bool,
         no_digest: bool = False, **options) -> None:
    from memcli.services.ingest import import_path

    mem = memory_of(ctx)
    with _progress_bar(not as_json, f"Importing {fmt.name}") as progress:
        result = import_path(mem, fmt.name, path, dry_run=dry_run, progress=progress, **options)
    report = auto_digest(mem, not (dry_run or no_digest), as_json)
    if as_json:
        out = result.to_json()
        if report is not None:
            out["digest"] = report.to_json()
        emit_json(out)
        return
    for w in result.warnings:
        typer.echo(f"warning: {w}", err=True)
    if result.failed > len(result.warnings):
        typer.echo(f"warning: … and {result.failed - len(result.warnings)} more", err=True)
    verb = "Would add" if dry_run else "Added"
    notes = fmt.records == "notes"
    unit = "notes/sections" if notes else ("items" if fmt.records == "memory" else "messages")
    seen = (f"{result.files} files" if notes
            else f"{result.conversations} conversations, {result.messages} messages"
            + (f", {result.documents} documents" if result.documents else ""))
    line = (f"{verb} {result.added} {unit} from {fmt.name} ({seen}); "
            f"skipped {result.skipped} already present, failed {result.failed}")
    if notes:
        line += (f"; {result.replaced} changed files replaced, {result.deleted_files} deleted "
                 f"files removed ({result.deleted} items), {result.links} links")
    typer.echo(f"{line} in {result.seconds:.1f} s")
    if report is not None and report.messages:
        typer.echo(_digest_line(report))


def _command(fmt: Format):
    """The typer command of one format: PATH, the format's switches, --dry-run, --json. Its
    parameters come from the registry, so they are declared through ``__signature__``."""

    def command(ctx, path, dry_run, as_json, no_digest, **switches) -> None:
        _run(ctx, fmt, path, dry_run, as_json, no_digest, **switches)

    def param(name: str, annotation, default) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                 default=default)

    command.__signature__ = inspect.Signature(
        [param("ctx", typer.Context, inspect.Parameter.empty),
         param("path", Path, typer.Argument(..., help=fmt.path_help))]
        + [param(s.name, bool, typer.Option(False, "--" + s.name.replace("_", "-"), help=s.help))
           for s in fmt.switches]
        + [param("dry_run", bool, DRY_RUN), param("as_json", bool, AS_JSON),
           param("no_digest", bool, NO_DIGEST)])
    command.__name__ = f"import_{fmt.name}"
    return command


for _fmt in FORMATS.values():
    import_app.command(_fmt.name, help=_fmt.help)(_command(_fmt))
