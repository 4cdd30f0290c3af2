"""`memcli restore` and `memcli replicate`: thin shells over memcli.services.restore/replicate."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from memcli.cli.app import app, emit_json, memory_of, snippet
from memcli.core.errors import MemcliError


@app.command()
def restore(
    ctx: typer.Context,
    backup_file: Optional[Path] = typer.Argument(
        None, help="A backup (memcli backup) or any copy of a memcli database."),
    from_url: Optional[str] = typer.Option(
        None, "--from", metavar="URL",
        help="Restore the newest state of a Litestream replica (file:///path, s3://…) instead."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Replace the memory by a backup or a replica; the current one is kept as a dated .bak.

    The file is checked first (integrity, a memcli memory, schema, embedding model); memcli
    refuses while another process (chat, mcp, an import, replicate) has the memory open."""
    from memcli.services.restore import restore_file, restore_replica

    if (backup_file is None) == (from_url is None):
        raise MemcliError("give either a BACKUP_FILE or --from URL")
    home = ctx.obj.home
    info = restore_replica(home, from_url) if from_url else restore_file(home, backup_file)
    if as_json:
        emit_json(info)
        return
    c = info["counts"]
    typer.echo(f"Restored {info['restored_from']} into {info['database']}: "
               f"{c['conversations']} conversations, {c['messages']} messages, {c['notes']} notes")
    newest = info.get("newest")
    if newest:
        typer.echo(f"Newest item: [{newest['id']}] {newest['kind']} · {newest['created_at'][:10]}"
                   f" · {snippet(newest['text'], 100)}")
    if info.get("previous"):
        typer.echo(f"The memory it replaced is kept as {info['previous']}")


@app.command()
def replicate(
    ctx: typer.Context,
    url: Optional[str] = typer.Argument(
        None, help="Replica URL (file:///folder, s3://bucket/path, sftp://…; default: "
                   "[replica] url in config.toml, where a URL given here is recorded)."),
    once: bool = typer.Option(False, "--once", help="Sync once and exit."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Stream the memory to a replica with Litestream, in the foreground (Ctrl-C stops).

    Credentials come from the environment as Litestream expects them; memcli stores none."""
    from memcli.services.replicate import replicate as run

    mem = memory_of(ctx)
    if not once and not as_json:
        typer.echo(f"Replicating {mem.db_path} (Ctrl-C stops) …", err=True)
    info = run(mem, url, once=once)
    if as_json:
        emit_json(info)
    else:
        typer.echo(f"Replica {info['url']}: up to transaction {info['txid']} "
                   f"({info['updated_at']})")
