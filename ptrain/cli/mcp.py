"""``ptrain mcp ...``: serve deployed prompts to MCP hosts (Claude Desktop, Claude Code, ...)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from ptrain.cli.output import info
from ptrain.cli.state import open_repo
from ptrain.errors import PtrainError

if TYPE_CHECKING:
    from ptrain.mcp.catalog import Catalog

app = typer.Typer(no_args_is_help=True)


@app.command()
def serve(
    env: str | None = typer.Option(
        None,
        "--env",
        "-e",
        help="Environment whose deploys to serve (default: the first in ptrain.yaml).",
    ),
    transport: str = typer.Option("stdio", "--transport", "-t", help="stdio or http."),
    host: str = typer.Option("127.0.0.1", "--host", help="HTTP: address to bind."),
    port: int = typer.Option(8000, "--port", "-p", min=1, max=65535, help="HTTP: port."),
    read_only: bool = typer.Option(
        False, "--read-only", help="No record_feedback tool: nothing is ever written."
    ),
    spool: str = typer.Option(
        None,
        "--spool",
        help="Write feedback to this spool directory instead of the repo's feedback store.",
    ),
    poll: float = typer.Option(
        1.0, "--poll", min=0.05, max=3600, help="Seconds between checks for moved deploy tags."
    ),
) -> None:
    """Serve the prompts deployed to an env as MCP prompts and tools (stdio or HTTP)."""
    from ptrain.mcp.catalog import Catalog  # lazy: keeps pydantic off mcp --help

    if transport not in ("stdio", "http"):
        raise PtrainError(f"unknown transport {transport!r}", "use --transport stdio or http")
    catalog = Catalog(open_repo(), env, spool=spool, read_only=read_only)
    _warn_if_empty(catalog)
    from ptrain.mcp.server import check_listen  # lazy: keeps the mcp SDK off mcp --help
    from ptrain.mcp.server import serve as run  # lazy: keeps the mcp SDK off mcp --help

    if transport == "http":
        check_listen(host, port)
        info(f"ptrain mcp: serving {catalog.env} at http://{_url_host(host)}:{port}/mcp")
        if host not in ("127.0.0.1", "localhost", "::1"):
            info(f"ptrain mcp: {host} is not loopback: anyone who can reach it can read prompts")
    run(catalog, transport=transport, host=host, port=port, poll=poll)


def _warn_if_empty(catalog: Catalog) -> None:
    """One line on stderr (stdout is the protocol on stdio) when the env has no deploys: a
    host would list no prompts, and the default env (the first in ptrain.yaml) is often
    staging, not where the prompts are deployed."""
    if catalog.deployed_names():
        return
    others = [e for e in catalog.repo.envs if e != catalog.env and catalog.deployed_names(e)]
    fix = f"pass --env {others[0]}" if others else "deploy one with `ptrain prompt deploy`"
    sys.stderr.write(
        f"ptrain mcp: no prompt is deployed to {catalog.env}, so none is served; {fix}\n"
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
