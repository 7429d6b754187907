"""The ``ptrain`` command line: parse, call one service, render. Nothing heavy is imported here."""

from __future__ import annotations

import sys

import click
import typer
import typer.core
import typer.main
from typer.core import TyperGroup

from ptrain.cli import doctor, repo_cmds, review, state, ui
from ptrain.cli.output import HANDLED, exit_code_for
from ptrain.errors import PtrainError
from ptrain.suggest import closest

# Plain click help and usage errors: typer's rich helpers import rich.markdown & co. (~250 ms)
# and escape "[...]" for HTML export, which shows as "\\[required]" in plain help.
typer.core.HAS_RICH = False


# Command groups are imported and built only when used: building every command's click objects
# costs ~60 ms, which `ptrain prompt show` should not pay for `ptrain ab` or `ptrain evals`.
# name -> (module, attribute, one-line help)
GROUPS: dict[str, tuple[str, str, str]] = {
    "prompt": ("ptrain.cli.prompt", "app", "Create, version, deploy and roll back prompts."),
    "feedback": (
        "ptrain.cli.feedback",
        "app",
        "Record, import, summarise, prune and commit feedback.",
    ),
    "evaluate": (
        "ptrain.cli.evaluate",
        "app",
        "Score a version on its eval suite; compare; recommend.",
    ),
    "evals": (
        "ptrain.cli.evaluate",
        "evals_app",
        "Eval suites: list cases, add cases from feedback.",
    ),
    "train": ("ptrain.cli.train", "app", "Train prompts from feedback; triggers and schedules."),
    "ab": ("ptrain.cli.ab", "app", "A/B test prompt versions on live traffic; verdict."),
    "models": ("ptrain.cli.models", "app", "The embedded models: list and pull (from PyPI)."),
    "mcp": ("ptrain.cli.mcp", "app", "Serve deployed prompts to MCP hosts (Claude, IDEs, agents)."),
}


# A command's one-line help in a command list: click cuts it at 45 characters with "...";
# ptrain lets the help formatter wrap it instead, so nothing is lost at 80 columns.
SHORT_HELP_LIMIT = 300


def _tune(group: click.Group) -> None:
    """Sub-groups as the root: one "Did you mean" (click says it; typer's group would repeat
    it) and command lists that wrap rather than truncate."""
    if isinstance(group, TyperGroup):
        group.suggest_commands = False
    for cmd in getattr(group, "commands", {}).values():
        if cmd.short_help is None and cmd.help:
            cmd.short_help = cmd.get_short_help_str(SHORT_HELP_LIMIT)
        if isinstance(cmd, click.Group):
            _tune(cmd)


class _Root(TyperGroup):
    """The root command: lazy command groups, and the one place that turns PtrainError into a
    red line on stderr and exit code 1."""

    def list_commands(self, ctx):
        own = super().list_commands(ctx)
        return [*own, *(g for g in GROUPS if g not in own)]

    def get_command(self, ctx, name):
        cmd = super().get_command(ctx, name)
        if cmd is not None or name not in GROUPS:
            return cmd
        import importlib

        module, attr, help_text = GROUPS[name]
        sub = getattr(importlib.import_module(module), attr)
        sub.info.name, sub.info.help = name, help_text
        sub._add_completion = False  # built on its own, it would grow --install-completion
        group = typer.main.get_group(sub)  # a group even when it has one command
        _tune(group)
        return group

    def resolve_command(self, ctx, args):
        """An unknown command gets one "Did you mean" that knows the lazy groups too (typer's
        own would list only the commands built so far, and repeat click's)."""
        name = args[0] if args else ""
        unknown = name and not name.startswith("-") and not ctx.resilient_parsing
        if unknown and self.get_command(ctx, name) is None:
            hit = closest(name, self.list_commands(ctx))
            more = f" Did you mean {hit!r}?" if hit else ""
            raise click.UsageError(f"No such command {name!r}.{more}", ctx)
        return click.Group.resolve_command(self, ctx, args)

    def format_commands(self, ctx, formatter):
        """The command list from the table above, without building every group."""
        rows = []
        own = super().list_commands(ctx)
        for name in self.list_commands(ctx):
            if name in GROUPS and name not in own:
                rows.append((name, GROUPS[name][2]))
                continue
            cmd = super().get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(SHORT_HELP_LIMIT)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except HANDLED as exc:
            raise typer.Exit(exit_code_for(exc)) from None


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
    state.REPO_PATH = repo or "."


def _register() -> None:
    repo_cmds.register(app)
    review.register(app)
    doctor.register(app)
    ui.register(app)


_register()


def run() -> None:
    try:
        app()
    except PtrainError as exc:  # raised outside a command (e.g. while parsing)
        sys.exit(exit_code_for(exc))
