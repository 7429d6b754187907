"""``ptrain evaluate ...`` and ``ptrain evals ...``: score versions, manage eval suites.

Two typer apps: ``app`` (``ptrain evaluate version NAME V [--baseline B]``, ``ptrain evaluate
calibrate [--metric M]``) and ``evals_app``
(``ptrain evals list NAME``, ``ptrain evals from-feedback NAME``). Each command parses, calls one
service in ``ptrain.evaluation.service`` and renders. Exit codes of ``evaluate version``: 0 when
deploy is recommended, 3 when a gate fails (a result, not an error), 1 on errors.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ptrain.cli.common import GATE_FAILED, JSON, stage_progress
from ptrain.cli.output import console, emit_json, info, table
from ptrain.cli.state import open_repo
from ptrain.evaluation.calibration import calibrate
from ptrain.evaluation.compare import format_p
from ptrain.evaluation.report import METRIC_ROWS, format_delta, metric_cell, render_markdown
from ptrain.evaluation.runner import describe_calibration
from ptrain.evaluation.service import (
    add_cases,
    cases_from_feedback,
    evaluate_version,
    suite_summary,
)
from ptrain.evaluation.suite import load_suite
from ptrain.storage.yamlio import atomic_write

app = typer.Typer(no_args_is_help=True)
evals_app = typer.Typer(no_args_is_help=True)


def _candidate_path(v: str | None) -> Path | None:
    if v and v.endswith((".yaml", ".yml")) and Path(v).is_file():
        return Path(v)
    return None


@app.command("version")
def version_cmd(
    name: str = typer.Argument(..., help="Prompt name, e.g. support/triage."),
    v: str = typer.Argument(
        None,
        metavar="V",
        help="Version (3, v3, sha, git rev; default: the deployed one, else the latest) or the "
        "path of an uncommitted prompt file (*.yaml).",
    ),
    baseline: str = typer.Option(None, "--baseline", "-b", help="Version to compare with."),
    env: str = typer.Option(None, "--env", "-e", help="Evaluate what this env runs."),
    baseline_env: str = typer.Option(
        None, "--baseline-env", help="Compare with what this env runs, e.g. production."
    ),
    runs: int = typer.Option(None, "--runs", min=1, help="Runs per case (default: test_runs)."),
    report: Path = typer.Option(None, "--report", help="Write the markdown report here."),
    recompute: bool = typer.Option(
        False, "--recompute", help="Ignore stored results (model responses stay cached)."
    ),
    json_out: bool = JSON,
) -> None:
    """Evaluate a version on its eval suite; compare with a baseline; recommend deploy or not."""
    candidate = _candidate_path(v)
    with stage_progress() as progress:
        result = evaluate_version(
            open_repo(),
            name,
            None if candidate else v,
            env=env,
            candidate_file=candidate,
            baseline=baseline,
            baseline_env=baseline_env,
            runs=runs,
            progress=progress,
            use_store=not recompute,
        )
    if report is not None:
        atomic_write(report, render_markdown(result.comparison))
    if json_out:
        emit_json(result.to_dict())
    else:
        _render(result.comparison)
        if report is not None:
            info(f"[dim]Report written to {report}[/dim]")
    if not result.recommended:
        raise typer.Exit(GATE_FAILED)


def _render(comp) -> None:
    from rich.markup import escape

    cand, base = comp.candidate, comp.baseline

    def label(r) -> str:
        return escape(r.label) + (" [dim](cached)[/dim]" if r.cached else "")

    head = f"[bold]{escape(cand.prompt)}[/bold] {label(cand)}"
    if base is not None:
        head += f" vs {label(base)}"
    c = console()
    c.print(f"{head}: {len(cand.cases)} cases × {cand.runs} runs")
    rows = []
    for key, title, kind in METRIC_ROWS:
        d = comp.deltas.get(key) or {}
        b, x = d.get("baseline"), d.get("candidate", cand.metrics.get(key))
        shown = key in cand.calibration
        if (b is None and x is None and not shown) or (kind == "int" and not (b or x)):
            continue
        if base is None:
            rows.append([title, metric_cell(cand, key, kind)])
        else:
            rows.append(
                [
                    title,
                    metric_cell(base, key, kind),
                    metric_cell(cand, key, kind),
                    format_delta(key, d.get("delta"), kind),
                ]
            )
    cols = ["metric", "baseline", "candidate", "Δ"] if base is not None else ["metric", "value"]
    table(cols, rows)
    if base is not None:
        lo, hi = comp.ci or (0.0, 0.0)
        c.print(
            f"McNemar p = {format_p(comp.p_value)} ({comp.candidate_only} fixed, "
            f"{comp.baseline_only} broken of {comp.paired_cases}); bootstrap 95% CI "
            f"[{lo * 100:+.1f}, {hi * 100:+.1f}] pts"
        )
    for note in [*comp.notes, *cand.notes]:
        c.print(f"[dim]note: {escape(note)}[/dim]")
    failing = cand.failing()
    if failing:
        c.print(f"{len(failing)} failing case(s): {escape(', '.join(f.id for f in failing[:10]))}")
    verdict = (
        "[green]deploy recommended[/green]" if comp.recommended else "[red]not recommended[/red]"
    )
    c.print(f"[bold]{verdict}[/bold]")
    for g in comp.gates:
        mark = "[green]✓[/green]" if g.passed else "[red]✗[/red]"
        c.print(f"  {mark} {escape(g.detail)}")


@app.command("calibrate")
def calibrate_cmd(
    metric: list[str] = typer.Option(
        None, "--metric", "-m", help="coherence, relevance or safety (repeat; default all)."
    ),
    json_out: bool = JSON,
) -> None:
    """Measure the judge's agreement with labelled examples; only a calibrated judge gates."""
    rep = calibrate(open_repo(), metric or None)
    if json_out:
        emit_json(rep.to_dict())
        return

    rows = []
    for r in rep.records:
        st = rep.status.get(f"judge_{r.metric}", {})
        rows.append(
            [
                r.metric,
                r.set_source,
                f"{r.readable}/{r.items}",
                "" if r.accuracy is None else f"{r.accuracy:.2f}",
                describe_calibration(st),
            ]
        )
    judge = rep.records[0].judge.get("model", "?") if rep.records else "?"
    table(
        ["metric", "set", "readable", "accuracy", f"judge {judge} (bar {rep.min_agreement:g})"],
        rows,
    )
    for note in rep.notes:
        info(f"[dim]{note}[/dim]")


@evals_app.command("list")
def list_cmd(name: str, json_out: bool = JSON) -> None:
    """The cases of a prompt's eval suite (validates the file)."""
    suite = load_suite(open_repo(), name)
    rows = suite_summary(suite)
    if json_out:
        emit_json({"suite": suite.path, "prompt": suite.prompt, "cases": rows})
        return
    table(
        ["id", "split", "source", "vars", "checks"],
        [
            [
                r["id"],
                r["split"],
                r["source"],
                _short(str(r["vars"])),
                _short("; ".join(r["checks"])),
            ]
            for r in rows
        ],
        title=f"{suite.path}: {len(rows)} cases",
    )


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


@evals_app.command("from-feedback")
def from_feedback_cmd(
    name: str,
    min_rating: float = typer.Option(
        0.8, "--min-rating", min=0.0, max=1.0, help="Ratings at least this become positive cases."
    ),
    max_bad_rating: float = typer.Option(
        0.3,
        "--max-bad-rating",
        min=0.0,
        max=1.0,
        help="Ratings at most this become regression cases.",
    ),
    limit: int = typer.Option(None, "--limit", min=1, help="Add at most this many cases."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the cases; write nothing."),
    json_out: bool = JSON,
) -> None:
    """Turn feedback into eval cases: good answers to keep, failures never to repeat."""
    repo = open_repo()
    got = cases_from_feedback(
        repo, name, min_rating=min_rating, max_bad_rating=max_bad_rating, limit=limit
    )
    if got.cases and not dry_run:
        got.path = add_cases(repo, name, got.cases)
        got.written = True
    if json_out:
        emit_json(got.to_dict())
        return
    if got.cases:
        table(
            ["id", "kind", "vars", "checks"],
            [
                [
                    c.id,
                    "positive" if "positive" in c.tags else "regression",
                    _short(str(c.vars)),
                    _short("; ".join(a.describe() for a in c.assertions())),
                ]
                for c in got.cases
            ],
        )
    skipped = ", ".join(f"{n} {why}" for why, n in got.skipped.items())
    if got.written:
        info(
            f"Added {len(got.cases)} case(s) to {got.path}"
            + (f" (skipped: {skipped})" if skipped else "")
            + f" — review, then `git add {got.path} && git commit`"
        )
    else:
        verb = "Would add" if dry_run else "Added"
        info(f"{verb} {len(got.cases)} case(s)" + (f" (skipped: {skipped})" if skipped else ""))
