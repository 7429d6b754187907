"""Options, exit codes and formatting shared by the CLI command modules."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import typer

from ptrain.cli.output import err_console

JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")
# a gate that fails (evaluation, training) is a result with its own exit code, not an error
GATE_FAILED = 3

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


def pct(x: float | None) -> str:
    """``0.4567`` -> ``45.7%``; None -> ``-``."""
    return "-" if x is None else f"{100 * x:.1f}%"


def pct_interval(c: tuple[float, float] | None) -> str:
    """A 95% interval after a rate: `` [40.1, 51.3]``; None -> ``""``."""
    return "" if c is None else f" [{100 * c[0]:.1f}, {100 * c[1]:.1f}]"


@contextlib.contextmanager
def stage_progress(enabled: bool = True) -> Iterator[ProgressFn | None]:
    """A rich progress bar per stage on stderr, when ``enabled`` and stderr is a terminal.

    Yields the callback to hand to a service's ``progress=`` parameter, or None (no bars)."""
    if not (enabled and err_console().is_terminal):
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console(),
        transient=True,
    ) as bars:

        def tick(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total or 1)
            bars.update(tasks[stage], completed=done, total=total or 1)

        yield tick
