"""``ptrain review`` and ``ptrain deploy-merged``: the pull-request side of training.

``review`` exit codes: 0 when every changed prompt passes its gates, 3 when a gate fails (a
result, not an error), 1 on errors. ``deploy-merged`` exits 0, or 1 when a deploy failed.
"""

from __future__ import annotations

import typer

from ptrain.cli.common import JSON
from ptrain.cli.output import console, emit_json, err_console, info
from ptrain.cli.state import open_repo


def register(app: typer.Typer) -> None:
    app.command("review")(review)
    app.command("deploy-merged")(deploy_merged)


def review(
    base: str = typer.Option(
        None, "--base", help="Base branch or commit (default: the PR's base in CI, else main)."
    ),
    head: str = typer.Option(
        None, "--head", help="Head branch or commit (default: the PR's head in CI, else HEAD)."
    ),
    pr: int = typer.Option(None, "--pr", help="Pull request number (default: from the CI event)."),
    comment: bool = typer.Option(
        None,
        "--comment/--no-comment",
        help="Write the sticky PR comment (default: when GITHUB_TOKEN and a PR are known).",
    ),
    remote: str = typer.Option("origin", "--remote"),
    json_out: bool = JSON,
) -> None:
    """Evaluate the prompts a pull request changes against the base branch; one sticky comment."""
    from ptrain.review.service import review as do_review  # lazy: 3 ms off --help

    res = do_review(open_repo(), base=base, head=head, pr=pr, comment=comment, remote=remote)
    if json_out:
        emit_json({**res.to_dict(), "markdown": res.markdown})
    else:
        console().print(res.markdown, markup=False, highlight=False)
        if res.comment_url:
            verb = "created" if res.comment_created else "updated"
            info(f"[dim]review comment {verb}: {res.comment_url}[/dim]")
    if res.comment_error:
        err_console().print(f"[yellow]warning:[/yellow] comment not written: {res.comment_error}")
    raise typer.Exit(res.exit_code)


def deploy_merged(
    env: str = typer.Option(
        None, "--env", "-e", help="Env to deploy to (default: training.deploy_env)."
    ),
    base_ref: str = typer.Option(
        None,
        "--base-ref",
        help="Commit before the merge (default: the push event's `before` in CI, else HEAD~1).",
    ),
    head: str = typer.Option("HEAD", "--head", help="The merged commit."),
    deploy: bool = typer.Option(
        None,
        "--deploy/--dry-run",
        help="Deploy, or only list (default: deploy when training.auto_deploy is true).",
    ),
    push: bool = typer.Option(False, "--push", help="Push the deploy tags (`ptrain sync`)."),
    remote: str = typer.Option("origin", "--remote"),
    json_out: bool = JSON,
) -> None:
    """Deploy the prompts whose files a merge changed (ordinary deploys: rollback works)."""
    from ptrain.review.service import deploy_merged as do_deploy  # lazy: 3 ms off --help

    res = do_deploy(
        open_repo(),
        base_ref=base_ref,
        head=head,
        env_name=env,
        deploy=deploy,
        push=push,
        remote=remote,
    )
    if json_out:
        emit_json(res.to_dict())
    else:
        if not res.deploys:
            info(f"no prompt file changed in {res.base[:8]}..{res.head[:8]}")
        for d in res.deploys:
            v = f"v{d.version}" if d.version else d.commit[:8]
            line = f"{d.prompt} {v} → {res.env}: {d.status}"
            info(line + (f" ({d.tag})" if d.tag else "") + (f" — {d.detail}" if d.detail else ""))
        if res.pushed:
            info(f"[dim]pushed {len(res.pushed)} deploy tag(s)[/dim]")
    raise typer.Exit(res.exit_code)
