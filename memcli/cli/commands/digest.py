"""`memcli digest`, `reflect` and `notes`: parse, call the library, format."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from memcli.cli.app import app, memory_of, emit_json, snippet
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


def _use_llm(mem, no_llm: bool, model: Optional[str]):
    if no_llm:
        return False, None
    if model:
        from memcli.backends.llm import make_llm

        return True, make_llm(mem.config, model)
    return True, None


@app.command()
def digest(
    ctx: typer.Context,
    no_llm: bool = typer.Option(False, "--no-llm", help="Deterministic mode: no language model."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Digest at most N conversations/notes."),
    model: Optional[str] = typer.Option(None, "--model", help="LLM to use (GGUF path or name)."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Organise new material: topic segments, summaries, atomic notes, links, updates, dedupe."""
    from memcli.services.digest.pipeline import digest as run_digest

    if limit is not None and limit < 1:
        raise MemcliError("--limit must be at least 1")
    mem = memory_of(ctx)
    use_llm, llm = _use_llm(mem, no_llm, model)
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
    from memcli.services.reflect import reflect as run_reflect
    from memcli.core.timeutil import iso, parse_user_date

    if limit < 2:
        raise MemcliError("--limit must be at least 2 (a reflection cites two notes)")
    mem = memory_of(ctx)
    use_llm, llm = _use_llm(mem, no_llm, model)
    since_iso = iso(parse_user_date(since, what="--since date")) if since else None
    report = run_reflect(mem, use_llm=use_llm, llm=llm, limit=limit, since=since_iso)
    for w in report.warnings:
        typer.echo(f"Warning: {w}", err=True)
    if as_json:
        out = report.to_json()
        out["reflections_written"] = [mem.show(i) for i in report.ids]
        emit_json(out)
        return
    if not report.ids:
        typer.echo(f"No new reflections (looked at {report.considered} notes; run `memcli digest`"
                   " first if there are none).")
        return
    typer.echo(f"{len(report.ids)} new reflections over {report.considered} notes:")
    for i in report.ids:
        item = mem.show(i)
        typer.echo(f"  [{i}] {snippet(item['text'], 150)}  (cites {item.get('sources')})")


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
    from memcli.services.digest.pipeline import DERIVED_KINDS

    if n < 1:
        raise MemcliError("-n must be at least 1")
    kinds = [k.lower() for k in kind] or list(DERIVED_KINDS)
    mem = memory_of(ctx)
    rows = mem.store.list_derived(kinds, tags=tag or None, limit=n, current_only=not all_)
    out = []
    smap = mem.store.sources_map([r["id"] for r in rows])
    for r in rows:
        meta = json.loads(r.get("meta") or "{}") or {}
        out.append({"id": r["id"], "kind": r["kind"], "text": r["text"], "title": r["title"],
                    "created_at": r["created_at"], "tags": r["tags"],
                    "keywords": meta.get("keywords") or [], "context": meta.get("context"),
                    "type": meta.get("type"), "sources": smap.get(r["id"], []),
                    "valid_to": r["valid_to"], "superseded_by": r["superseded_by"]})
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
