"""`memcli backup PATH` and `memcli doctor [--fix]`: thin shells over memcli.maintenance."""

from __future__ import annotations

from pathlib import Path

import typer

from memcli.cli.app import app, emit_json, memory_of


@app.command()
def backup(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="Backup file (or a directory to put a dated file in)."),
    force: bool = typer.Option(False, "--force", help="Overwrite PATH if it exists."),
    salvage: bool = typer.Option(
        False, "--salvage", help="The memory is damaged: copy what can still be read into a new "
        "memory file at PATH (a directory: PATH/memcli.db)."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Copy the memory to PATH (SQLite online backup: consistent while others write; 0600)."""
    from memcli.services.maintenance import backup as do_backup, salvage as do_salvage

    if salvage:  # never opens the damaged memory for writing
        info = do_salvage(ctx.obj.home, path)
        if as_json:
            emit_json(info)
        else:
            lost = (f"; {info['damaged_reads']} damaged pages skipped"
                    if info["damaged_reads"] else "")
            typer.echo(f"Salvaged {info['items']} items and {info['vectors']} vectors into "
                       f"{info['path']}{lost}. Use it as memcli.db of a data directory, then run "
                       "`memcli doctor --fix`.")
        return

    info = do_backup(memory_of(ctx), path, force=force)
    if as_json:
        emit_json(info)
    else:
        typer.echo(f"Backed up {info['items']} items to {info['path']} "
                   f"({info['size_bytes']} bytes, integrity ok)")


@app.command()
def doctor(
    ctx: typer.Context,
    fix: bool = typer.Option(False, "--fix", help="Repair what is inconsistent."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Check the database: integrity, FTS/vector index consistency, model, orphans, permissions.

    Prints one problem per line; exit 0 when healthy, 1 when problems remain."""
    from memcli.services.maintenance import doctor as run_doctor

    report = run_doctor(memory_of(ctx), fix=fix)
    if as_json:
        emit_json(report.to_json())
    else:
        for line in report.fixed:
            typer.echo(f"fixed {line}")
        for p in report.problems:
            hint = "" if fix or not p.fixable else " (fixable: memcli doctor --fix)"
            typer.echo(f"{p.line()}{hint}")
        if report.ok:
            typer.echo(f"ok: {report.checked.get('items', 0)} items, full-text and vector "
                       "indexes consistent, integrity_check ok")
        replica = report.checked.get("replica")
        if replica:
            typer.echo(f"replica: {replica['url']} up to transaction {replica['txid']} "
                       f"({replica['updated_at']}); memcli replicate "
                       f"{'is running' if replica['running'] else 'is not running'}")
    if not report.ok:
        raise typer.Exit(1)
