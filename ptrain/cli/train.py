"""``ptrain train ...``: train prompts, see what the triggers say, run on a schedule."""

from __future__ import annotations

import time

import typer

from ptrain.cli.common import JSON, stage_progress
from ptrain.cli.output import console, emit_json, info, table
from ptrain.cli.state import open_repo
from ptrain.errors import PtrainError
from ptrain.llm.budget import Budget
from ptrain.training.auto import parse_interval, run_auto
from ptrain.training.effect import trained_effects
from ptrain.training.run import train
from ptrain.training.triggers import due as due_prompts
from ptrain.training.triggers import status as trigger_status

app = typer.Typer(no_args_is_help=True)
NOT_PROPOSED = 3  # a result, not an error: training ran but no candidate passed the gates


def parse_budget(text: str | None, default):
    """'200' (calls) or 'calls=200,tokens=100000,dollars=1.5' -> Budget."""
    if not text:
        return Budget.from_config(default)
    limits: dict = {"calls": default.calls, "tokens": default.tokens, "dollars": default.dollars}
    for part in text.split(","):
        key, sep, val = part.strip().partition("=")
        if not sep:
            key, val = "calls", key
        if key not in limits:
            raise PtrainError(f"unknown budget limit {key!r}", "use calls=N,tokens=N,dollars=X")
        try:
            limits[key] = float(val) if key == "dollars" else int(val)
        except ValueError:
            raise PtrainError(
                f"budget {key}={val!r} is not a number", "e.g. --budget calls=200,tokens=200000"
            ) from None
    return Budget(**limits)


def _run(
    name: str,
    approach: str,
    budget: str | None,
    *,
    candidates: int | None = None,
    runs: int | None = None,
    push: bool = False,
    remote: str = "origin",
    deploy: bool | None = None,
    json_out: bool = False,
):
    repo = open_repo()
    kwargs = dict(
        budget=parse_budget(budget, repo.config.training.budget),
        candidates=candidates,
        runs=runs,
        push=push,
        remote=remote,
        deploy=deploy,
    )
    with stage_progress(not json_out) as tick:
        return train(repo, name, approach, progress=tick, **kwargs)


def _render(res) -> None:
    console().print(res.report, markup=False, highlight=False)
    if res.proposed:
        info(
            f"[green]Proposed[/green] {res.prompt}: branch [bold]{res.branch}[/bold] ({res.commit[:8]})"
        )
    else:
        info(f"[yellow]No candidate proposed[/yellow] for {res.prompt}")
    info(f"Report: {res.report_path}")


@app.command("run")
def run_(
    name: str,
    approach: str = typer.Option(
        "auto",
        "--approach",
        "-a",
        help="Restrict the search to one operator (few_shot, reinforcement, meta_prompt, "
        "adversarial, reflective), or auto (every operator, the trigger's choice first) or all.",
    ),
    budget: str = typer.Option(
        None, "--budget", "-b", help="calls=N,tokens=N,dollars=X (default: training.budget)."
    ),
    candidates: int = typer.Option(
        None, "--candidates", "-n", help="Candidates per operator and round."
    ),
    runs: int = typer.Option(
        None, "--runs", help="Runs per eval case (default: evaluation.test_runs)."
    ),
    push: bool = typer.Option(False, "--push", help="Push the branch to the remote."),
    remote: str = typer.Option("origin", "--remote", help="Git remote that --push pushes to."),
    deploy: bool = typer.Option(
        None, "--deploy/--no-deploy", help="Deploy the winner (default: training.auto_deploy)."
    ),
    json_out: bool = JSON,
) -> None:
    """Train a prompt now: search on selection cases → confirm on unseen cases → a new branch."""
    res = _run(
        name,
        approach,
        budget,
        candidates=candidates,
        runs=runs,
        push=push,
        remote=remote,
        deploy=deploy,
        json_out=json_out,
    )
    emit_json(res.to_dict()) if json_out else _render(res)
    if not res.proposed:
        raise typer.Exit(NOT_PROPOSED)


@app.command()
def trigger(
    name: str,
    approach: str = typer.Option(..., "--approach", "-a"),
    budget: str = typer.Option(None, "--budget", "-b"),
    push: bool = typer.Option(False, "--push"),
    json_out: bool = JSON,
) -> None:
    """Train one prompt with a given approach, whatever the triggers say."""
    res = _run(name, approach, budget, push=push, json_out=json_out)
    emit_json(res.to_dict()) if json_out else _render(res)
    if not res.proposed:
        raise typer.Exit(NOT_PROPOSED)


@app.command()
def status(json_out: bool = JSON) -> None:
    """Per prompt: feedback since the last training, which trigger fires, the approach, eligibility."""
    repo = open_repo()
    rows = trigger_status(repo)
    effects = [e for r in rows for e in trained_effects(repo, r.prompt)[-1:]]
    if json_out:
        emit_json([r.to_dict() for r in rows])
        return
    out = []
    for r in rows:
        s = r.stats
        out.append(
            [
                r.prompt,
                s["count"],
                "-" if s["error_rate"] is None else f"{s['error_rate']:.0%}",
                "-" if s["avg_rating"] is None else f"{s['avg_rating']:.2f}",
                s["suggestions"],
                "; ".join(r.fired) or "-",
                r.approach or "-",
                "yes"
                if r.should_train
                else ("no: " + "; ".join(r.blocked_by) if r.blocked_by else "no"),
                r.next_eligible or "",
            ]
        )
    table(
        [
            "prompt",
            "new",
            "errors",
            "rating",
            "sugg.",
            "fires",
            "approach",
            "train now",
            "next eligible",
        ],
        out,
    )
    if effects:
        info("Deployed trained versions (newest per prompt; `ptrain train effect NAME`):")
        table(EFFECT_HEAD, _effect_rows(effects))


def _ci(ci) -> str:
    return "" if not ci else f" [{ci[0]:.2f}, {ci[1]:.2f}]"


def _effect_rows(effects) -> list[list]:
    rows = []
    for e in effects:
        for side, label in ((e.before, "before"), (e.trained, "trained")):
            m = side.metrics()
            rows.append(
                [
                    e.prompt,
                    f"{label} {side.version}",
                    e.env,
                    m["feedback"],
                    "-"
                    if m["avg_rating"] is None
                    else f"{m['avg_rating']:.2f}{_ci(m['avg_rating_ci'])}",
                    "-"
                    if m["error_rate"] is None
                    else f"{m['error_rate']:.0%}{_ci(m['error_rate_ci'])}",
                    "-"
                    if m["good_rating_share"] is None
                    else f"{m['good_rating_share']:.0%}{_ci(m['good_rating_share_ci'])}",
                    "" if label == "before" else e.verdict + (" → roll back" if e.rollback else ""),
                ]
            )
    return rows


EFFECT_HEAD = [
    "prompt",
    "version",
    "env",
    "feedback",
    "rating",
    "error rate",
    "good ratings",
    "verdict",
]


@app.command()
def effect(
    name: str,
    env: str = typer.Option(None, "--env", "-e", help="Only deploys to this env."),
    json_out: bool = JSON,
) -> None:
    """Per deployed trained version: production feedback before vs after, with intervals."""
    repo = open_repo()
    effects = trained_effects(repo, name, env)
    if not effects:
        repo.check_prompt(name)  # a typo'd name says "did you mean", not "none deployed yet"
    if json_out:
        emit_json([e.to_dict() for e in effects])
        return
    if not effects:
        info(f"no trained version of {name} has been deployed yet")
        return
    table(EFFECT_HEAD, _effect_rows(effects))
    for e in effects:
        info(f"{e.trained.version} in {e.env}: {e.verdict} — " + "; ".join(e.reasons))
        if e.rollback:
            info(f"[red]Recommended:[/red] ptrain prompt rollback {name} --env {e.env}")


@app.command()
def auto(
    budget: str = typer.Option(None, "--budget", "-b", help="Budget per prompt."),
    push: bool = typer.Option(False, "--push", help="Push each branch."),
    open_pr: bool = typer.Option(
        False, "--open-pr", help="Open/update a pull request per trained prompt (GitHub)."
    ),
    remote: str = typer.Option("origin", "--remote", help="Git remote that --push pushes to."),
    prompts: list[str] = typer.Option(
        None, "--prompt", "-p", help="Only these prompts (repeatable; default: all)."
    ),
    approach: str = typer.Option(
        "auto", "--approach", "-a", help="auto (the triggers choose) or an approach, or all."
    ),
    json_out: bool = JSON,
) -> None:
    """Train every prompt whose triggers fire and that is eligible (the scheduled job)."""
    repo = open_repo()
    results = run_auto(
        repo,
        budget=lambda: parse_budget(budget, repo.config.training.budget),
        push=push or open_pr,
        open_pr=open_pr,
        remote=remote,
        names=prompts or None,
        approach=approach,
    )
    if json_out:
        emit_json([r for r in results])
        if any(r.get("pr_error") for r in results):
            raise typer.Exit(1)
        return
    if not results:
        info("no prompt is due for training (see `ptrain train status`)")
    for r in results:
        info(
            f"{r['prompt']}: {r['outcome']}"
            + (f" → {r['branch']}" if r.get("branch") else "")
            + (f" ({r['pr_url']})" if r.get("pr_url") else "")
        )
        if r.get("review"):
            info(r["review"])
    if any(r.get("pr_error") for r in results):
        raise typer.Exit(1)  # printed above; CI should notice the pull request is missing


@app.command()
def watch(
    interval: str = typer.Option("1h", "--interval", help="How often to check: 30m, 1h, 6h."),
    once: bool = typer.Option(False, "--once", help="Check once and exit (for cron)."),
    push: bool = typer.Option(False, "--push"),
) -> None:
    """Check the triggers every INTERVAL and train what is due (for teams without CI)."""
    seconds = parse_interval(interval)
    repo = open_repo()
    while True:
        for r in run_auto(
            repo, budget=lambda: parse_budget(None, repo.config.training.budget), push=push
        ):
            info(
                f"{time.strftime('%H:%M:%S')} {r['prompt']}: {r['outcome']}"
                + (f" → {r['branch']}" if r.get("branch") else "")
            )
        if once:
            return
        time.sleep(seconds)


@app.command()
def due(
    json_out: bool = JSON,
    names_only: bool = typer.Option(
        False, "--names", help="One JSON line of the names only (a CI matrix's input)."
    ),
    prompts: list[str] = typer.Option(
        None, "--prompt", "-p", help="Only these prompts (repeatable; default: all)."
    ),
    limit: int = typer.Option(
        None, "--limit", min=1, help="At most N prompts (a CI matrix takes at most 256 jobs)."
    ),
) -> None:
    """The prompts whose triggers fire and that are eligible: what `train auto` would train now."""
    import json

    rows = due_prompts(open_repo(), prompts or None)[:limit]
    if names_only:
        typer.echo(json.dumps([r["prompt"] for r in rows]))
        return
    if json_out:
        emit_json(rows)
        return
    if not rows:
        info("no prompt is due for training (see `ptrain train status`)")
        return
    out = []
    for r in rows:
        s = r["stats"]
        rate, rating = s["error_rate"], s["avg_rating"]
        out.append(
            [
                r["prompt"],
                "; ".join(r["fired"]),
                r["approach"],
                s["count"],
                "-" if rate is None else f"{rate:.0%}",
                "-" if rating is None else f"{rating:.2f}",
                s["suggestions"],
            ]
        )
    table(["prompt", "fires", "approach", "new", "errors", "rating", "sugg."], out)
