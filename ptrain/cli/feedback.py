"""``ptrain feedback ...``: record, import, list, summarise, query, prune and commit feedback.

Each command parses its options, calls one service in ``ptrain.feedback`` and renders the result
(rich for people, ``--json`` for scripts). Nothing here imports langchain or a model runtime, so
``feedback add`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ptrain.cli import feedback_add
from ptrain.cli.common import JSON, pct
from ptrain.cli.feedback_add import redacted_note
from ptrain.cli.output import console, emit_json, err_console, info, table
from ptrain.cli.state import open_repo
from ptrain.errors import PtrainError
from ptrain.repo import PromptRepo

app = typer.Typer(no_args_is_help=True)


def _root() -> Path:
    return open_repo().root


def _resolve_version(
    root: Path, name: str, version: str | None, env: str | None
) -> tuple[str, int | None]:
    """The commit and number feedback is for: --version, else what is deployed to the env
    (default: the first of ptrain.yaml's envs), else the latest version."""

    repo = PromptRepo(root)
    if version is not None:
        v = repo.resolve(name, version)
    else:
        v = (repo.deployed(name, repo.check_env(env)) if env else None) or repo.resolve(name)
    return v.commit, v.number


@app.command()
def add(
    name: str = typer.Argument(..., help="Prompt name, e.g. support/triage."),
    rating: float = typer.Option(None, "--rating", "-r", help="0.0 (bad) to 1.0 (good)."),
    message: str = typer.Option(None, "--message", "-m", help="Free text, stored verbatim."),
    error: str = typer.Option(None, "--error", "-e", help="TYPE:MESSAGE or MESSAGE."),
    suggestion: str = typer.Option(
        None, "--suggestion", "-s", help="How the prompt should change."
    ),
    metric: list[str] = typer.Option(
        [], "--metric", help="NAME=NUMBER, repeatable (latency_ms=123)."
    ),
    kind: str = typer.Option(
        None, "--kind", help="Override: rating|error|success|suggestion|metric."
    ),
    version: str = typer.Option(
        None, "--version", "-v", help="Version (3, v3 or sha); default: deployed."
    ),
    env: str = typer.Option(
        None, "--env", help="Environment (and where to look up the deployed version)."
    ),
    variant: str = typer.Option(None, "--variant", help="A/B variant label."),
    run_id: str = typer.Option(None, "--run-id", help="Attach to an earlier automated run."),
    source: str = typer.Option("user", "--source", help="user or automated."),
    json_out: bool = JSON,
) -> None:
    """Record one piece of feedback for the deployed (or given) version of a prompt."""
    feedback_add.add(name, rating=rating, message=message, error=error, suggestion=suggestion,
                     metric=metric, kind=kind, version=version, env=env, variant=variant,
                     run_id=run_id, source=source, json_out=json_out)  # fmt: skip


@app.command("import")
def import_(
    file: Path = typer.Argument(None, help="JSONL or CSV file (one record per line/row)."),
    fmt: str = typer.Option(None, "--format", help="jsonl or csv (default: from the extension)."),
    prompt: str = typer.Option(None, "--prompt", "-p", help="Prompt for lines that name none."),
    version: str = typer.Option(None, "--version", "-v", help="Version for lines that name none."),
    env: str = typer.Option(None, "--env", help="Env for lines that name none."),
    source: str = typer.Option(None, "--source", help="Source for lines that name none."),
    spool: Path = typer.Option(None, "--spool", help="Drain a spool directory instead of a file."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and report; write nothing."),
    json_out: bool = JSON,
) -> None:
    """Import production logs: every line is checked; valid lines are written in one append."""
    from ptrain import feedback as fb  # lazy: import machinery off feedback add

    if (file is None) == (spool is None):
        raise PtrainError(
            "give a FILE or --spool DIR (one of them)", "e.g. ptrain feedback import logs.jsonl"
        )
    root = _root()
    if spool is not None:
        report = fb.import_spool(root, spool, dry_run=dry_run)
    else:
        defaults: dict[str, Any] = {"prompt": prompt, "env": env, "source": source}
        if version is not None:
            if prompt is None:
                raise PtrainError("--version needs --prompt", "add --prompt NAME")
            defaults["version"], defaults["version_number"] = _resolve_version(
                root, prompt, version, None
            )
        if fmt is not None and fmt not in ("jsonl", "csv"):
            raise PtrainError(f"unknown format {fmt!r}", "use --format jsonl or --format csv")
        report = fb.import_file(root, file, fmt=fmt, defaults=defaults, dry_run=dry_run)
    failed = report.accepted == 0 and bool(report.rejected)
    if json_out:
        emit_json(report.to_dict())
    elif not failed:
        _render_import(report)
    if failed:
        first, n = report.rejected[0], len(report.rejected)
        raise PtrainError(
            f"no valid records in {report.source}; nothing written ({n} line(s) rejected, "
            f"first: line {first.line}: {first.reason})",
            "fix the lines and import again (--json lists every rejected line)",
        )


def _render_import(report) -> None:
    if report.already_imported:
        info(f"{report.source}: already imported (import {report.import_id}); nothing to do")
        return
    verb = "would write" if report.dry_run else "wrote"
    count = report.accepted if report.dry_run else report.written
    dup = f", {report.duplicates} already present" if report.duplicates else ""
    info(
        f"{report.source}: {report.accepted} accepted, {len(report.rejected)} rejected{dup}; {verb} {count}"
        + redacted_note(report.redacted)
    )
    by_time = report.versions_from_deploys + report.versions_from_commits
    if by_time:
        info(
            f"  {by_time} without a version: {report.versions_from_deploys} filed under the "
            f"version deployed at their ts, {report.versions_from_commits} (before the first "
            "deploy) under the newest version committed by then"
        )
    if report.unversioned:
        err_console().print(
            f"  warning: {report.unversioned} record(s) older than their prompt's first version:"
            " filed under version unknown (give --version, or a version column)",
            markup=False,
        )
    for r in report.rejected:
        err_console().print(f"  line {r.line}: {r.reason}", markup=False)
    for w in report.warnings:
        err_console().print(f"  warning: {w}", markup=False)


@app.command("list")
def list_(
    name: str = typer.Argument(..., help="Prompt name."),
    kind: list[str] = typer.Option([], "--kind", "-k", help="Only these kinds (repeatable)."),
    since: str = typer.Option(None, "--since", help="7d, 12h, 2w or a date (2026-11-01)."),
    version: str = typer.Option(
        None, "--version", "-v", help="Version number (3, v3) or sha prefix."
    ),
    env: str = typer.Option(None, "--env"),
    variant: str = typer.Option(None, "--variant"),
    limit: int = typer.Option(20, "--limit", "-n", min=0, help="Newest N records (0 = all)."),
    json_out: bool = JSON,
) -> None:
    """Show the newest feedback records of a prompt."""
    from ptrain.feedback import KINDS, list_feedback  # lazy: the reader off feedback add

    bad = [k for k in kind if k not in KINDS]
    if bad:
        raise PtrainError(f"unknown kind {bad[0]!r}", f"use one of {', '.join(KINDS)}")
    res = list_feedback(_root(), name, limit=limit or None, kinds=kind or None, since=since,
                        version=version, env=env, variant=variant)  # fmt: skip
    if not res.total_matched:
        open_repo().check_prompt(name)  # a typo'd name says "did you mean", not "0 of 0"
    if json_out:
        emit_json({"records": res.records, "total": res.total_matched, "warnings": res.warnings})
        return
    rows = []
    for r in res.records:
        detail = r.get("error_type") or ""
        if r.get("error_message"):
            detail = f"{detail}: {r['error_message']}" if detail else r["error_message"]
        text = r.get("suggestion") or r.get("message") or detail or r.get("output") or ""
        ver = f"v{r['version_number']}" if r.get("version_number") else (r.get("version") or "")[:8]
        lat = r.get("latency_ms")
        rows.append([r["ts"][:19].replace("T", " "), ver, r.get("kind"), r.get("rating"),
                     None if lat is None else f"{lat:.0f}", text[:60].replace("\n", " ")])  # fmt: skip
    table(["time (UTC)", "version", "kind", "rating", "ms", "text"], rows,
          title=f"{name}: {len(res.records)} of {res.total_matched}")  # fmt: skip
    _warn(res.warnings)


def _warn(warnings: list[str]) -> None:
    for w in warnings[:10]:
        err_console().print(f"warning: {w}", markup=False, style="yellow")
    if len(warnings) > 10:
        err_console().print(f"warning: ... and {len(warnings) - 10} more", style="yellow")


@app.command()
def summary(
    name: str = typer.Argument(None, help="Prompt name (default: all prompts)."),
    by: str = typer.Option("prompt", "--by", help="prompt, version, env or variant."),
    since: str = typer.Option(None, "--since", help="7d, 12h, 2w or a date (2026-11-01)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Re-read every shard."),
    json_out: bool = JSON,
) -> None:
    """Counts, error/success rates, average rating, suggestions, latency p50/p95, tokens."""
    from ptrain.feedback import summarize  # lazy: DuckDB analytics off feedback add

    s = summarize(_root(), name, by=by, since=since, use_cache=not no_cache)
    if name and not s.rows:
        open_repo().check_prompt(name)  # a typo'd name says "did you mean"
    if json_out:
        emit_json(s.to_dict())
        return
    if not s.rows:
        info("No feedback yet." + (" (try without --since)" if since else ""))
        _warn(s.warnings)
        return
    extra = [] if by == "prompt" else [by]
    rows = []
    for r in s.rows:
        label = []
        if by == "version":
            label = [
                f"v{r['version_number']}"
                if r["version_number"]
                else (r["version"] or "unknown")[:8]
            ]
        elif extra:
            label = [r[by] or "-"]
        rt = r["avg_rating"]
        p50, p95 = r["latency_p50_ms"], r["latency_p95_ms"]
        pt, ct = r["avg_prompt_tokens"], r["avg_completion_tokens"]
        rows.append([r["prompt"], *label, r["count"], pct(r["error_rate"]), pct(r["success_rate"]),
                     None if rt is None else f"{rt:.2f}/{r['ratings']}", r["suggestions"],
                     None if p50 is None else f"{p50:.0f}/{p95:.0f}",
                     None if pt is None and ct is None else f"{pt or 0:.0f}/{ct or 0:.0f}"])  # fmt: skip
    table(
        ["prompt", *extra, "n", "err", "ok", "rating/n", "sugg", "p50/p95 ms", "tok in/out"], rows
    )
    _warn(s.warnings)


@app.command()
def prune(
    older_than_days: int = typer.Option(None, "--older-than-days", help="Default: retention_days."),
    dry_run: bool = typer.Option(False, "--dry-run"),
    json_out: bool = JSON,
) -> None:
    """Delete old shards, keeping their aggregates in feedback/_compacted.json."""
    from ptrain.feedback import prune as prune_feedback  # lazy: retention off feedback add

    rep = prune_feedback(_root(), older_than_days, dry_run=dry_run)
    if json_out:
        emit_json(rep.to_dict())
        return
    verb = "Would remove" if dry_run else "Removed"
    info(f"{verb} {len(rep.shards_removed)} shard(s) before {rep.cutoff_day} "
         f"({rep.records_removed} records; totals kept in _compacted.json)")  # fmt: skip
    if not dry_run and rep.shards_removed:
        console().print("Run `ptrain feedback commit` to record the compaction.", style="dim")


@app.command()
def commit(
    message: str = typer.Option(None, "-m", "--message", help="Commit message."),
    json_out: bool = JSON,
) -> None:
    """Commit new feedback (complete lines only) in one commit that touches only feedback/."""
    from ptrain.feedback import commit_feedback  # lazy: git commit path off feedback add

    res = commit_feedback(_root(), message)
    if json_out:
        emit_json(res)
    elif res["commit"] is None:
        info("No new feedback to commit.")
    else:
        info(
            f"Committed {res['records']} record(s) in {len(res['files'])} file(s) as {res['commit'][:8]}"
        )


@app.command()
def query(
    sql: str = typer.Argument(
        ..., help="One SELECT over the table `feedback` (one row per record)."
    ),
    json_out: bool = JSON,
    csv_out: bool = typer.Option(False, "--csv", help="Print CSV (header + rows)."),
    max_rows: int = typer.Option(10_000, "--max-rows", min=1, help="Stop after this many rows."),
    timeout: float = typer.Option(
        60.0, "--timeout", min=0.1, help="Seconds before the query is stopped."
    ),
) -> None:
    """Run read-only SQL (DuckDB) over the feedback records, e.g.
    ptrain feedback query "SELECT kind, count(*) FROM feedback GROUP BY kind"."""
    from ptrain.feedback import query as run_query  # lazy: DuckDB off feedback add

    if json_out and csv_out:
        raise PtrainError("--json and --csv exclude each other", "pick one output format")
    res = run_query(_root(), sql, max_rows=max_rows, timeout_s=timeout)
    if json_out:
        emit_json({"columns": res.columns, "rows": res.to_dicts(), "truncated": res.truncated,
                   "warnings": res.warnings})  # fmt: skip
        return
    if csv_out:
        import csv
        import sys

        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(res.columns)
        w.writerows(res.rows)
    else:
        table(res.columns, [list(r) for r in res.rows])
    if res.truncated:
        err_console().print(f"warning: stopped after {max_rows} rows (--max-rows)", style="yellow")
    _warn(res.warnings)
