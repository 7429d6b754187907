"""``ptrain ab ...``: A/B tests of prompt versions (start, status, report, stop)."""

from __future__ import annotations

from pathlib import Path

import typer

from ptrain import ab
from ptrain.ab.markdown import rating_text
from ptrain.cli.common import JSON, pct, pct_interval
from ptrain.cli.output import emit_json, info, table
from ptrain.cli.state import open_repo
from ptrain.storage.yamlio import atomic_write

app = typer.Typer(no_args_is_help=True)

ENV = typer.Option("production", "--env", "-e", help="Environment the experiment runs in.")


@app.command()
def start(
    name: str = typer.Argument(..., help="Prompt name, e.g. support/triage."),
    variant: list[str] = typer.Option(
        ...,
        "--variant",
        "-v",
        help="NAME=VERSION (number, sha or git rev); repeat; the first is the control.",
    ),
    split: str = typer.Option(None, "--split", help="Percentages per variant, e.g. 50/50."),
    env: str = ENV,
    reason: str = typer.Option("", "--reason", "-m", help="Why (kept in the experiment tag)."),
    metric: str = typer.Option("success", "--metric", help="success, calls or rating."),
    mde: float = typer.Option(
        0.05, "--mde", help="Smallest difference worth detecting (absolute, e.g. 0.05)."
    ),
    alpha: float = typer.Option(0.05, "--alpha", help="False-positive rate of the verdict."),
    json_out: bool = JSON,
) -> None:
    """Start an A/B test: runtimes calling get(name, unit_id=...) get a sticky variant."""
    exp = ab.start(
        open_repo(),
        name,
        variant,
        split=split,
        env=env,
        reason=reason,
        metric=metric,
        mde=mde,
        alpha=alpha,
    )
    if json_out:
        emit_json(exp.to_dict())
        return
    arms = ", ".join(f"{v.name}={v.label()} ({v.weight}%)" for v in exp.variants)
    info(f"Started A/B {exp.id} for {name} in {env}: {arms}")
    info(
        f"Verdict after {exp.sample_size} {exp.metric} outcomes per variant "
        f"(baseline {exp.baseline:.3f}, MDE {exp.mde}, alpha {exp.alpha}); "
        f"tag ptrain-ab/{name}@{env}"
    )


def _headline(exp: ab.Experiment) -> str:
    arms = " ".join(f"{v.name}={v.label()}" for v in exp.variants)
    stopped = f"; stopped {exp.stopped_at}, winner {exp.winner or 'none'}" if exp.stopped_at else ""
    return (
        f"A/B {exp.id} of {exp.prompt} in {exp.env}: {arms} ({exp.split()}), {exp.status}; "
        f"started {exp.started_at} by {exp.started_by}{stopped}"
    )


@app.command()
def status(name: str, env: str = ENV, json_out: bool = JSON) -> None:
    """Per variant: success rate (Wilson 95%), mean rating, P(best), outcomes and how many are
    still needed for the verdict."""
    st = ab.status(open_repo(), name, env=env)
    if json_out:
        emit_json(st.to_dict())
        return
    exp = st.experiment
    info(_headline(exp))
    table(
        ["variant", "records", "success (95% CI)", "rating", "P(best)", "outcomes", "needed"],
        [
            [
                f"{a.name} {'v' + str(a.version) if a.version else a.commit[:8]}",
                a.records,
                pct(a.success_rate) + pct_interval(a.success_ci),
                "-" if a.mean_rating is None else f"{a.mean_rating:.3f}",
                pct(a.prob_best),
                f"{a.outcomes}/{exp.sample_size}",
                st.needed(a),
            ]
            for a in st.arms
        ],
    )
    info(
        f"Metric {exp.metric}: {ab.METRICS[exp.metric]}. P(best) is for information; the "
        f"verdict is taken at {exp.sample_size} outcomes per variant: "
        f"`ptrain ab report {name} --env {env}`."
    )


@app.command()
def report(
    name: str,
    env: str = ENV,
    metric: str = typer.Option(
        None, "--metric", help="success, calls or rating (default: the pre-registered one)."
    ),
    report_file: Path = typer.Option(None, "--report", help="Write a markdown report here."),
    json_out: bool = JSON,
) -> None:
    """Per-variant rates with intervals, P(best), tests, sample size still needed, verdict."""
    rep = ab.report(open_repo(), name, env=env, metric=metric)
    if report_file is not None:
        atomic_write(report_file, ab.render_markdown(rep))
    if json_out:
        emit_json(rep.to_dict())
        return
    _render(rep)
    if report_file is not None:
        info(f"[dim]Report written to {report_file}[/dim]")


def _render(rep: ab.Report) -> None:
    exp, v = rep.experiment, rep.verdict
    info(f"A/B {exp.id} of {exp.prompt} in {exp.env} ({exp.status}); metric {rep.metric}")
    table(
        [
            "variant",
            "version",
            "records",
            "success",
            "error",
            "rating",
            "outcomes",
            "rate",
            "P(best)",
        ],  # fmt: skip
        [
            [
                a.name,
                f"v{a.version}" if a.version else a.commit[:8],
                a.records,
                pct(a.success_rate) + pct_interval(a.success_ci),
                pct(a.error_rate),
                rating_text(a.mean_rating, a.rating_ci),
                a.outcomes,
                pct(a.outcome_rate) + pct_interval(a.outcome_ci),
                pct(a.prob_best),
            ]
            for a in rep.arms
        ],
    )
    if v.rates:
        rates = ", ".join(f"{n} {100 * r:.1f}%" for n, r in v.rates.items())
        info(f"At the horizon (first {v.horizon} outcomes each): {rates}")
    tests = v.tests or rep.interim
    for t in tests:
        kind = "at horizon" if v.tests else "interim, not a decision"
        info(f"{t['variant']} vs {t['vs']} ({kind}): z = {t['z']:.2f}, p = {t['p_value']:.3g}")
    needed = f"; {v.needed} more outcomes per variant needed" if v.needed else ""
    info(f"Plan: {v.horizon} outcomes per variant{needed}")
    info(f"[bold]Verdict: {v.label}[/bold]")


@app.command()
def stop(
    name: str,
    winner: str = typer.Option(
        None, "--winner", "-w", help="Variant to deploy; omit to stop and keep the current deploy."
    ),
    env: str = ENV,
    reason: str = typer.Option("", "--reason", "-m", help="Why (kept in tag and deploy record)."),
    json_out: bool = JSON,
) -> None:
    """End the experiment; with --winner, deploy that variant (a normal deploy: rollback works)."""
    res = ab.stop(open_repo(), name, env=env, winner=winner, reason=reason)
    if json_out:
        emit_json(res.to_dict())
        return
    exp = res.experiment
    info(f"Stopped A/B {exp.id} of {name} in {env}")
    if res.deploy is not None:
        d = res.deploy
        info(f"Deployed winner {exp.winner} (v{d.to_version}) to {env}; record {d.tag}")
    elif exp.winner:
        info(f"Winner {exp.winner} is already what {env} runs; no deploy needed")
