"""The console script: ``ptrain feedback add`` without typer or click, everything else through
the full CLI (``ptrain.cli.main``).

Applications call ``feedback add`` once per event, so its fixed cost is what a user feels; typer
and click cost ~75-80 ms to import, about a third of the command (issue 13). :func:`run`
recognises a plain ``ptrain [-C PATH] feedback add NAME [options]`` and calls the very function
the typer command calls (``ptrain.cli.feedback_add.add``). Anything else — ``--help``, an
unknown, misspelt or repeated option, a missing value, a value that looks like an option, a
rating that is not a number, a second positional — goes to the full CLI, so help and usage
errors read exactly as they always did. ``tests/feedback/test_fast_entry.py`` runs both paths side by
side.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ptrain.cli import state
from ptrain.cli.output import HANDLED, exit_code_for

# option -> (keyword of feedback_add.add, takes a value); --metric may repeat
_OPTIONS: dict[str, tuple[str, bool]] = {
    "--rating": ("rating", True),
    "-r": ("rating", True),
    "--message": ("message", True),
    "-m": ("message", True),
    "--error": ("error", True),
    "-e": ("error", True),
    "--suggestion": ("suggestion", True),
    "-s": ("suggestion", True),
    "--metric": ("metric", True),
    "--kind": ("kind", True),
    "--version": ("version", True),
    "-v": ("version", True),
    "--env": ("env", True),
    "--variant": ("variant", True),
    "--run-id": ("run_id", True),
    "--source": ("source", True),
    "--json": ("json_out", False),
}


def _looks_like_option(value: str) -> bool:
    if not value.startswith("-") or value == "-":
        return False
    try:
        float(value)  # a negative number is a value
    except ValueError:
        return True
    return False


def parse_feedback_add(argv: list[str]) -> tuple[str | None, dict[str, Any]] | None:
    """(the ``--repo`` given or None, add()'s arguments) for a plain ``feedback add`` command
    line (``argv`` without the program name); None when the full CLI should parse it."""
    repo: str | None = None
    i = 0
    while i < len(argv) and (argv[i] in ("-C", "--repo") or argv[i].startswith("--repo=")):
        if argv[i].startswith("--repo="):
            repo, i = argv[i].partition("=")[2], i + 1
        elif i + 1 < len(argv) and not _looks_like_option(argv[i + 1]):
            repo, i = argv[i + 1], i + 2
        else:
            return None
    if argv[i : i + 2] != ["feedback", "add"]:
        return None
    args: dict[str, Any] = {}
    names: list[str] = []
    rest = argv[i + 2 :]
    j = 0
    while j < len(rest):
        tok = rest[j]
        if tok == "--" or tok == "-":
            return None
        if not tok.startswith("-"):
            names.append(tok)
            j += 1
            continue
        opt, eq, attached = tok.partition("=") if tok.startswith("--") else (tok, "", "")
        spec = _OPTIONS.get(opt)
        if spec is None:
            return None  # --help, a typo, -r0.9, -mfine: the full CLI's parser decides
        key, takes = spec
        if not takes:
            if eq or key in args:
                return None
            args[key] = True
            j += 1
            continue
        if eq:
            value, j = attached, j + 1
        elif j + 1 < len(rest) and not _looks_like_option(rest[j + 1]):
            value, j = rest[j + 1], j + 2
        else:
            return None
        if key == "metric":
            args.setdefault("metric", []).append(value)
        elif key in args:
            return None
        else:
            args[key] = value
    if len(names) != 1:
        return None
    if "rating" in args:
        try:
            args["rating"] = float(args["rating"])
        except ValueError:
            return None
    return repo, {"name": names[0], **args}


def _fast_add(repo: str | None, args: dict[str, Any]) -> None:
    state.REPO_PATH = (repo if repo is not None else os.environ.get("PTRAIN_REPO")) or "."
    try:
        from ptrain.cli.feedback_add import add  # lazy: the repo layer, only when recording

        name = args.pop("name")
        add(name, **args)
    except HANDLED as exc:
        sys.exit(exit_code_for(exc))
    sys.stdout.flush()


def run() -> None:
    parsed = parse_feedback_add(sys.argv[1:])
    if parsed is not None:
        _fast_add(*parsed)
        return
    from ptrain.cli.main import run as full  # lazy: typer and click, off the fast path

    full()
