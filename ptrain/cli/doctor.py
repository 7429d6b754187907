"""``ptrain doctor [--fix]``: check a prompt repository for what crashes and races leave behind."""

from __future__ import annotations

import typer

from ptrain.cli import state
from ptrain.cli.output import emit_json, info


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    fix: bool = typer.Option(False, "--fix", help="Repair what can be repaired safely."),
    json_out: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """Find stale git locks, orphan deploy records, broken deploy chains, leaked temporary
    indexes, an index left behind HEAD and torn feedback shards; change nothing without --fix.
    Exits 1 while a problem remains."""
    from ptrain.doctor import doctor as run_doctor  # lazy: keeps ptrain.doctor off --help

    rep = run_doctor(state.REPO_PATH, fix=fix)
    if json_out:
        emit_json(rep.to_dict())
    else:
        for f in rep.findings:
            mark = "fixed" if f.fixed else ("problem" if f.problem else "note")
            info(f"{mark}: {f.kind} {f.subject}: {f.message}")
            if not f.fixed:
                info(f"  fix: {f.hint}")
        left = len(rep.problems)
        if not rep.findings:
            info(f"{rep.root}: no problems found")
        elif left:
            info(
                f"{left} problem(s) left" + ("" if fix else "; `ptrain doctor --fix` repairs them")
            )
        else:
            info("no problems left")
    if not rep.ok:
        raise typer.Exit(1)
