"""`memcli digest`, `reflect` and `notes`: parse, call the library, format."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from memcli.cli.app import app, emit_json, memory_of, model_choice, snippet
from memcli.core.errors import MemcliError


def _progress(label: str):
    """A one-line progress counter on stderr (only when stderr is a terminal)."""
    if not sys.stderr.isatty():
        return None

    def report(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return report


@app.command()
def digest(
    ctx: typer.Context,
    no_llm: bool = typer.Option(False, "--no-llm", help="Deterministic mode: no language model."),
    with_llm: bool = typer.Option(False, "--llm", help="Also run the LLM passes with the "
                                  "configured model, even the small bundled one."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Digest at most N conversations/notes."),
    model: Optional[str] = typer.Option(None, "--model", help="LLM to use (GGUF path or name)."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Organise new material: topic segments, summaries, atomic notes, links, updates, dedupe.
    Deterministic unless a capable model is configured, or --llm / --model is given."""
    from memcli.services.digest.pipeline import digest as run_digest

    if limit is not None and limit < 1:
        raise MemcliError("--limit must be at least 1")
    if no_llm and with_llm:
        raise MemcliError("--llm and --no-llm contradict each other")
    mem = memory_of(ctx)
    use_llm, llm = model_choice(mem, no_llm, model)
    if not no_llm and not model:
        use_llm = True if with_llm else None  # None: the model only when it is capable
    report = run_digest(mem, use_llm=use_llm, llm=llm, limit=limit,
                        progress=_progress("digest"))
    for w in report.warnings:
        typer.echo(f"Warning: {w}", err=True)
    if as_json:
        emit_json(report.to_json())
        return
    r = report
    if not (r.conversations or r.items):
        typer.echo("Nothing new to digest.")
        return
    rate = f", {r.messages / r.seconds:.0f} messages/s" if r.seconds else ""
    what = f"{r.conversations} conversations" + (f" and {r.items} standalone notes"
                                                   if r.items else "")
    typer.echo(f"Digested {what} ({r.messages} messages, {r.mode} mode, {r.seconds:.1f} s{rate}).")
    typer.echo(f"  {r.segments} segments, {r.summaries} summaries, {r.notes} new notes, "
               f"{r.merged} merged duplicates, {r.links} links, {r.superseded} superseded, "
               f"{r.evolved} evolved")
    if r.llm.calls:
        typer.echo(f"  LLM: {r.llm.calls} calls, {r.llm.accepted} accepted, "
                   f"{r.llm.rejected} fell back to rules")
    if r.remaining:
        typer.echo(f"  {r.remaining} more to digest: run `memcli digest` again.")


@app.command()
def reflect(
    ctx: typer.Context,
    no_llm: bool = typer.Option(False, "--no-llm", help="Deterministic mode: no language model."),
    limit: int = typer.Option(60, "--limit", help="How many recent notes to reflect on."),
    since: Optional[str] = typer.Option(None, "--since", help="Only notes from this date on."),
    model: Optional[str] = typer.Option(None, "--model", help="LLM to use (GGUF path or name)."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Write insights (patterns, open loops, changes) over recent notes, each citing its notes."""
    from memcli.core.timeutil import iso, parse_user_date
    from memcli.services.notes import write_reflections

    mem = memory_of(ctx)
    use_llm, llm = model_choice(mem, no_llm, model)
    since_iso = iso(parse_user_date(since, what="--since date")) if since else None
    report, written = write_reflections(mem, use_llm=use_llm, llm=llm, limit=limit,
                                        since=since_iso)
    for w in report.warnings:
        typer.echo(f"Warning: {w}", err=True)
    if as_json:
        emit_json({**report.to_json(), "reflections_written": written})
        return
    if not written:
        typer.echo(f"No new reflections (looked at {report.considered} notes; run `memcli digest`"
                   " first if there are none).")
        return
    typer.echo(f"{len(written)} new reflections over {report.considered} notes:")
    for item in written:
        typer.echo(f"  [{item['id']}] {snippet(item['text'], 150)}  (cites {item.get('sources')})")


@app.command()
def notes(
    ctx: typer.Context,
    kind: List[str] = typer.Option([], "--kind", help="fact, summary, reflection, note (repeatable)."),
    tag: List[str] = typer.Option([], "--tag", help="Only notes with this tag (repeatable)."),
    all_: bool = typer.Option(False, "--all", help="Include superseded facts."),
    n: int = typer.Option(50, "-n", "--limit", help="How many."),
    as_json: bool = typer.Option(False, "--json"),
):
    """List derived notes (facts, summaries, reflections), newest first."""
    from memcli.services.notes import list_notes

    out = list_notes(memory_of(ctx), kinds=kind, tags=tag, limit=n, include_superseded=all_)
    if as_json:
        emit_json(out)
        return
    if not out:
        typer.echo("No notes yet. Run `memcli digest` to derive them.")
    for o in out:
        flag = f" (superseded by #{o['superseded_by']})" if o["superseded_by"] else ""
        tags = " ".join("#" + t for t in o["tags"])
        typer.echo(f"[{o['id']}] {o['kind']} · {o['created_at'][:10]}{flag} {tags}")
        typer.echo(f"    {snippet(o['text'])}")
