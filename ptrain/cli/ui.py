"""``ptrain ui``: serve the local web page over the repository (see docs/ui.md).

Registered eagerly but imports ``ptrain.ui`` only when it runs, so ``ptrain --help`` does not.
"""

from __future__ import annotations

import sys

import typer

from ptrain.cli.output import err_console, info
from ptrain.cli.state import open_repo


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)


def ui(
    port: int = typer.Option(8765, "--port", "-p", min=0, max=65535, help="Port (0: a free one)."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind; anything but loopback exposes the page."
    ),
    verbose: bool = typer.Option(False, "--verbose", help="Log every request to stderr."),
) -> None:
    """Serve a local web page: deploys, feedback charts, evals, training, annotation."""
    from ptrain.ui.server import LOOPBACK, make_server  # lazy: keeps the web UI off --help

    server = make_server(open_repo().root, host, port, quiet=not verbose)
    if host not in LOOPBACK:
        err_console().print(
            f"[yellow]warning:[/yellow] listening on {host}: anyone who can reach it can read "
            "the repository's prompts and feedback"
        )
    info(f"ptrain ui on {server.url}  (Ctrl-C to stop)")
    info(f"Open {server.url}?token={server.token}")
    info(f"Write token: {server.token}")
    sys.stdout.flush()  # a script reading the address through a pipe sees it now
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
