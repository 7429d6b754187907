"""Rendering helpers shared by the CLI commands: JSON for scripts, rich tables for people."""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

from ptrain.errors import PtrainError

_console = None
_err = None


def console():
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(highlight=False, soft_wrap=True)
    return _console


def err_console():
    global _err
    if _err is None:
        from rich.console import Console

        _err = Console(stderr=True, highlight=False, soft_wrap=True)
    return _err


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> None:
    """Rows for people: on a terminal (or a pipe given ``COLUMNS``) a table whose cells wrap at
    word boundaries to fit the width, or, when even that would split words, one block per row;
    on a plain pipe whole cells on one line each, for scripts."""
    cells = [["" if v is None else str(v) for v in r] for r in rows]
    width = _width()
    if width is None:
        _plain_table(columns, cells, title)
        return
    widths = _fit(columns, cells, width)
    if widths is None:
        _blocks(columns, cells, title, width)
        return
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title, show_edge=False, header_style="bold")
    for c, w in zip(columns, widths, strict=True):
        t.add_column(c, width=w, overflow="fold")  # never cut with "…"
    for r in cells:  # wrapped here, at spaces and after "/": rich would fold mid-word
        t.add_row(*(Text(_wrap(v, w)) for v, w in zip(r, widths, strict=True)))
    console().print(t)


def _pieces(text: str) -> list[str]:
    """What a cell may be broken into: its words, and a word's parts after each "/" (a prompt
    name breaks as ``community/`` ``support-tone``)."""
    return [p for w in text.split() for p in re.findall(r"[^/]*/|[^/]+", w)]


def _wrap(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    import textwrap

    lines = []
    for ln in textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False):
        while len(ln) > width:  # one long word: break it after a "/"
            cut = max((i + 1 for i, ch in enumerate(ln[:width]) if ch == "/"), default=width)
            lines.append(ln[:cut])
            ln = ln[cut:]
        lines.append(ln)
    return "\n".join(lines)


def _width() -> int | None:
    """The width a person reads at: the terminal's, or ``COLUMNS`` on a pipe; None on a pipe."""
    if sys.stdout.isatty():
        return int(console().width)
    cols = os.environ.get("COLUMNS", "")
    return int(cols) if cols.isdigit() and int(cols) > 0 else None


def _fit(columns: list[str], cells: list[list[str]], width: int) -> list[int] | None:
    """Column widths that fit ``width`` without splitting a word: each column at least as wide
    as its longest word (a header's too; a word may break after "/"), then the room left given
    to the columns that need the least of it to stop wrapping, so that as many as possible read
    on one line; None when the longest words alone do not fit. (rich's own shrinking narrows
    the widest column first and folds its words even where a layout without that exists.)"""
    short = [
        max(len(p) for p in [*c.split(), *(q for r in cells for q in _pieces(r[i]))])
        for i, c in enumerate(columns)
    ]
    full = [max([short[i], *(len(r[i]) for r in cells)]) for i in range(len(columns))]
    room = width - (3 * (len(columns) - 1) + 2)  # rich's " │ " between columns, a space each edge
    if sum(short) > room:
        return None
    widths, spare = list(short), room - sum(short)
    for i in sorted(range(len(columns)), key=lambda i: full[i] - short[i]):
        grow = min(full[i] - short[i], spare)
        widths[i] += grow
        spare -= grow
    return widths


def _blocks(columns: list[str], cells: list[list[str]], title: str | None, width: int) -> None:
    """One block per row: the first cell as its heading, then ``column  value`` lines, values
    wrapped at word boundaries (psql's expanded display). For a table whose longest words
    alone are wider than the screen (``train status`` at 80 columns)."""
    import textwrap

    pad = max(len(c) for c in columns[1:]) + 2 if len(columns) > 1 else 0
    out = [title, ""] if title else []
    for r in cells:
        out.append(textwrap.fill(r[0], width, break_long_words=False) if r else "")
        for c, v in zip(columns[1:], r[1:], strict=True):
            body = textwrap.wrap(v, max(width - pad - 2, 20), break_long_words=False) or [""]
            out.append(f"  {c.ljust(pad)}{body[0]}")
            out += [" " * (pad + 2) + ln for ln in body[1:]]
        out.append("")
    console().file.write("\n".join(ln.rstrip() for ln in out))


def _plain_table(columns: list[str], cells: list[list[str]], title: str | None) -> None:
    """The layout rich gives a table on a pipe, without its 80-column wrapping (scripts want
    whole cells) and its cost: ~0.3 ms a row, 60% of `prompt list` with 200 prompts."""
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = [" " + " ┃ ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("━" + "━╇━".join("━" * w for w in widths) + "━")
    lines += [" " + " │ ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    if title:
        lines.insert(0, title.center(len(lines[1])))
    sys.stdout.write("\n".join(ln.rstrip() for ln in lines) + "\n")


def info(msg: str) -> None:
    """A message for people: wrapped at word boundaries at the terminal's width (or a pipe's
    ``COLUMNS``); on a plain pipe one line per line, as written."""
    if "[/" in msg:  # rich markup: render it
        console().print(msg, soft_wrap=_text_width() is None)
        return
    width = _text_width()  # plain text: no need to import rich (~40 ms)
    if width is not None and any(len(ln) > width for ln in msg.splitlines()):
        import textwrap

        def keep(m: re.Match) -> str:  # a `command` stays on one line, to copy whole
            return m.group(0).replace(" ", "\xa0")

        msg = "\n".join(
            textwrap.fill(
                re.sub(r"`[^`]*`", keep, ln),
                width,
                subsequent_indent=ln[: len(ln) - len(ln.lstrip())] + "  ",
                break_long_words=False,
                break_on_hyphens=False,
            ).replace("\xa0", " ")
            for ln in msg.splitlines()
        )
    sys.stdout.write(msg + "\n")


def _text_width() -> int | None:
    if sys.stdout.isatty():
        import shutil

        return shutil.get_terminal_size().columns
    return _width()


def error_line(message: str, hint: str | None) -> None:
    from rich.markup import escape

    text = f"[red]error:[/red] {escape(message)}"
    if hint:
        text += f" [dim]— {escape(hint)}[/dim]"
    err_console().print(text)


# what a command may raise that the CLI answers itself, with an exit code (``exit_code_for``)
HANDLED = (PtrainError, KeyboardInterrupt, BrokenPipeError)


def exit_code_for(exc: BaseException) -> int:
    """The CLI's answer to one of ``HANDLED``: a PtrainError is one red line and its exit code;
    Ctrl-C is 130; a closed pipe (`ptrain prompt show X | head -1`) is the reader's choice, not
    an error: stop quietly with 0 (as ripgrep does), so `set -o pipefail` scripts pass."""
    if isinstance(exc, PtrainError):
        error_line(exc.message, exc.hint)
        return exc.exit_code
    if isinstance(exc, BrokenPipeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 130
