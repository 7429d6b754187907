"""``ptrain ab ...``: A/B tests of prompt versions (start, status, report, stop)."""

from __future__ import annotations

from pathlib import Path

import typer

from ptrain.cli.output import emit_json, info, table
from ptrain.cli.state import open_repo

app = typer.Typer(no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")
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
    from ptrain import ab

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


@app.command()
def status(name: str, env: str = ENV, json_out: bool = JSON) -> None:
    """The experiment and its progress towards the planned sample size."""
    from ptrain import ab

    data = ab.status(open_repo(), name, env=env)
    if json_out:
        emit_json(data)
        return
    exp = data["experiment"]
    info(
        f"A/B {exp['id']} of {name} in {env}: {exp['status']}, started {exp['started_at']} "
        f"by {exp['started_by']}"
        + (
            f"; stopped {exp['stopped_at']}, winner {exp['winner'] or 'none'}"
            if exp["stopped_at"]
            else ""
        )
    )
    table(
        ["variant", "version", "split", "records", "outcomes", "of needed"],
        [
            [
                a["variant"],
                f"v{a['version']}" if a["version"] else a["commit"][:8],
                f"{a['weight']}%",
                a["records"],
                a["outcomes"],
                f"{exp['sample_size']} ({a['progress']:.0%})",
            ]
            for a in data["arms"]
        ],
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
    from ptrain import ab

    rep = ab.report(open_repo(), name, env=env, metric=metric)
    if report_file is not None:
        from ptrain.storage.yamlio import atomic_write

        atomic_write(report_file, ab.render_markdown(rep))
    if json_out:
        emit_json(rep.to_dict())
        return
    _render(rep)
    if report_file is not None:
        info(f"[dim]Report written to {report_file}[/dim]")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _ci(c: tuple[float, float] | None) -> str:
    return "" if c is None else f" [{100 * c[0]:.1f}, {100 * c[1]:.1f}]"


def _render(rep) -> None:
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
        ],
        [
            [
                a.name,
                f"v{a.version}" if a.version else a.commit[:8],
                a.records,
                _pct(a.success_rate) + _ci(a.success_ci),
                _pct(a.error_rate),
                "-"
                if a.mean_rating is None
                else f"{a.mean_rating:.3f}"
                + (f" [{a.rating_ci[0]:.3f}, {a.rating_ci[1]:.3f}]" if a.rating_ci else ""),
                a.outcomes,
                _pct(a.outcome_rate) + _ci(a.outcome_ci),
                _pct(a.prob_best),
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
    from ptrain import ab

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
