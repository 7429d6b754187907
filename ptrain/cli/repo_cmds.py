"""Top-level repository commands: init, sync."""

from __future__ import annotations

from pathlib import Path

import typer

from ptrain.cli.output import emit_json, info
from ptrain.cli.state import open_repo


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("sync")(sync)
    app.command("demo")(demo)


def init(
    path: Path = typer.Argument(
        Path("."), help="Repository to make a prompt repo (created if missing)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Make a git repository (new or existing) a prompt repository. Safe to run again."""
    from ptrain.initialize import init as do_init  # lazy: keeps pydantic off --help

    res = do_init(path)
    if json_out:
        emit_json(
            {
                "root": str(res.root),
                "created_repo": res.created_repo,
                "written": res.written,
                "commit": res.commit,
            }
        )
        return
    if res.written:
        info(
            f"Initialised prompt repo in {res.root} ({', '.join(res.written)}; commit {(res.commit or '')[:8]})"
        )
    else:
        info(f"{res.root} is already a prompt repo; nothing to do")


def sync(
    remote: str = typer.Argument("origin", help="Git remote to exchange deploy tags with."),
    no_push: bool = typer.Option(False, "--no-push", help="Only fetch."),
    theirs: bool = typer.Option(
        False, "--theirs", help="On conflicting deploy records keep the remote's (drop ours)."
    ),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Fetch and push deploy tags (moved tags included) and deploy history."""
    from ptrain.sync import sync as do_sync  # lazy: keeps pydantic off --help

    res = do_sync(open_repo().git, remote, push=not no_push, theirs_wins=theirs)
    if json_out:
        emit_json(res.__dict__)
        return
    info(f"sync with {remote}: {len(res.fetched)} fetched, {len(res.pushed)} pushed")
    for r in res.fetched:
        info(f"  ← {r}")
    for r in res.pushed:
        info(f"  → {r}")
    for r in res.deleted:
        info(f"  ✗ {r} (deleted on {remote})")
    for r in res.skipped:
        info(f"  ! not pushed: {r}")


def demo(
    dest: Path = typer.Option(
        None, "--dir", help="Where to build the demo repo (default: a new temp folder)."
    ),
    approach: str = typer.Option(
        "auto", "--approach", "-a", help="auto (the triggers choose), all, or one approach."
    ),
    budget: str = typer.Option(
        None,
        "--budget",
        "-b",
        help="Cap on the training run: calls=N,tokens=N,dollars=X (default: training.budget "
        "of the demo's ptrain.yaml).",
    ),
    no_train: bool = typer.Option(
        False, "--no-train", help="Only build the demo repo (to explore it); train nothing."
    ),
) -> None:
    """The main job: copy example-repo/ into a new git repo and train a prompt on the embedded model."""
    from ptrain.cli import state, train  # lazy: keeps the train commands off --help
    from ptrain.demo import DEMO_PROMPT, build_demo_repo  # lazy: keeps ptrain.demo off --help

    path = build_demo_repo(dest)
    info(f"Demo prompt repo: {path} (a copy of example-repo/ with its own git history)")
    if no_train:
        return
    state.REPO_PATH = str(path)
    from ptrain.training.triggers import status as trigger_status  # lazy: keeps pydantic off --help

    for st in trigger_status(state.open_repo(), [DEMO_PROMPT]):
        info(
            f"{st.prompt}: {'; '.join(st.fired) or 'no trigger fired'} → approach {st.approach or 'few_shot'}"
        )
    res = train._run(DEMO_PROMPT, approach, budget)
    train._render(res)
    info(f"Try: ptrain -C {path} prompt diff {DEMO_PROMPT} 1 {res.branch}" if res.proposed else "")
    if not res.proposed:
        raise typer.Exit(train.NOT_PROPOSED)
