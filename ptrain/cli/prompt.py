"""``ptrain prompt ...``: versions are commits, deploys and rollbacks move tags."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ptrain.cli.common import JSON
from ptrain.cli.output import console, emit_json, err_console, info, table
from ptrain.cli.state import open_repo
from ptrain.errors import PtrainError

app = typer.Typer(no_args_is_help=True)

# The one rule for a command given no version (README, "Which version a command uses").
VERSION = typer.Option(
    None,
    "--version",
    "-v",
    help="Number (3, v3), sha or git rev (default: the version deployed to the default env, "
    "else the latest).",
)
ENV = typer.Option(
    None, "--env", "-e", help="Use the version this env runs (never falls back to the latest)."
)


def _which(repo, v, version: str | None, env: str | None) -> str:
    """Where a version came from, for output: the rule's choice is never silent."""
    if version is not None:
        return ""
    env = repo.default_env if env is None else env
    return f"deployed to {env}" if env in v.envs else f"latest; not deployed to {env}"


def _read_file(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise PtrainError(f"{path} does not exist", "pass the path of a prompt YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PtrainError(
            f"cannot read {path}: {exc.__class__.__name__}", "pass a readable UTF-8 YAML file"
        ) from None


@app.command()
def create(
    name: str = typer.Argument(..., help="Prompt name, e.g. support/triage."),
    file: Path = typer.Option(None, "--file", "-f", help="YAML file with the prompt."),
    template: str = typer.Option(
        None, "--template", "-t", help="A single template, e.g. 'Summarise: {text}'."
    ),
    type_: str = typer.Option(
        "system", "--type", help="system or user: the role the template plays."
    ),
    description: str = typer.Option("", "--description", "-d"),
    message: str = typer.Option(None, "-m", "--message", help="Commit message."),
    json_out: bool = JSON,
) -> None:
    """Create a prompt: one commit that adds prompts/NAME.yaml."""
    from ptrain.prompts import new_prompt_yaml  # lazy: keeps pydantic off prompt --help

    if (file is None) == (template is None):
        raise PtrainError(
            "give exactly one of --file or --template", "e.g. --template 'Summarise: {text}'"
        )
    text = _read_file(file) if file else new_prompt_yaml(template, type_, description)
    v = open_repo().create(name, text, message, str(file) if file else None)
    emit_json(v.to_dict()) if json_out else info(f"Created {name} v{v.number} ({v.short})")


@app.command()
def update(
    name: str,
    file: Path = typer.Option(
        None, "--file", "-f", help="New content; omit to commit your edit of the prompt file."
    ),
    message: str = typer.Option(None, "-m", "--message"),
    json_out: bool = JSON,
) -> None:
    """Commit a new version of a prompt (only that prompt's file)."""
    text = _read_file(file) if file else None
    v = open_repo().update(name, text, message, str(file) if file else None)
    emit_json(v.to_dict()) if json_out else info(f"Updated {name} to v{v.number} ({v.short})")


@app.command()
def versions(name: str, json_out: bool = JSON) -> None:
    """Every version of a prompt: number, sha, date, author, message, where it is deployed."""
    vs = open_repo().versions(name)
    if json_out:
        emit_json([v.to_dict() for v in vs])
        return
    table(
        ["#", "commit", "date", "author", "message", "deployed"],
        [
            [
                f"v{v.number}",
                v.short,
                v.date[:19].replace("T", " "),
                v.author.split(" <")[0],
                v.message,
                ", ".join(v.envs),
            ]
            for v in vs
        ],
        title=name,
    )


@app.command()
def show(
    name: str,
    version: str = VERSION,
    env: str = ENV,
    json_out: bool = JSON,
) -> None:
    """Print a prompt file at a version (default: the deployed one, else the latest)."""
    repo = open_repo()
    v = repo.resolve(name, version, env)
    text = repo.read_text(name, v.commit)
    which = _which(repo, v, version, env)
    if json_out:
        from ptrain.storage.yamlio import load_safe  # lazy: keeps ruamel off prompt --help

        emit_json({**v.to_dict(), "env": env, "chosen": which, "prompt": load_safe(text)})
        return
    # plain writes: the file is shown as is, and rich's import cost stays off this hot path
    sys.stdout.write(f"# {name} {v.label()} ({v.short}), {which}\n")
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


@app.command()
def diff(name: str, a: str, b: str = typer.Argument("latest"), json_out: bool = JSON) -> None:
    """Unified diff of a prompt between two versions."""
    text = open_repo().diff(name, a, b)
    if json_out:
        emit_json({"prompt": name, "a": a, "b": b, "diff": text})
        return
    console().print(text or "(no differences)", markup=False, end="" if text else "\n")


@app.command("list")
def list_(json_out: bool = JSON) -> None:
    """Every prompt with its latest version and what each env runs."""
    repo = open_repo()
    envs = repo.envs
    data = repo.listing()
    rows = [
        [d["name"], f"v{d['latest']}" if d["latest"] else "-", *[d["envs"][e] or "-" for e in envs]]
        for d in data
    ]
    if json_out:
        emit_json(data)
    elif rows:
        table(["prompt", "latest", *envs], rows)
    else:
        info("no prompts yet — create one with `ptrain prompt create NAME --template '...'`")


@app.command()
def deploy(
    name: str,
    version: str = typer.Argument(..., help="Version to deploy: number, sha or git rev."),
    env: str = typer.Option(None, "--env", "-e", help="Env to deploy to (default: the first env)."),
    reason: str = typer.Option("", "--reason", "-m", help="Why (kept in the deploy history)."),
    json_out: bool = JSON,
) -> None:
    """Move the env's deploy tag to a version (compare-and-swap; history kept as tags)."""
    rec = open_repo().deploy(name, version, env, reason)
    emit_json(rec.to_dict()) if json_out else info(_moved(rec))


@app.command()
def rollback(
    name: str,
    env: str = typer.Option(None, "--env", "-e", help="Env to roll back (default: the first env)."),
    reason: str = typer.Option("", "--reason", "-m", help="Why (kept in the deploy history)."),
    json_out: bool = JSON,
) -> None:
    """Move the env's deploy tag back to the previously deployed version."""
    rec = open_repo().rollback(name, env, reason)
    emit_json(rec.to_dict()) if json_out else info(_moved(rec))


def _moved(rec) -> str:
    def lab(n, c):
        return f"v{n}" if n else (c[:8] if c else "nothing")

    return (
        f"{rec.action}: {rec.prompt} in {rec.env} {lab(rec.from_version, rec.from_commit)} → "
        f"{lab(rec.to_version, rec.to_commit)} (tag ptrain/{rec.prompt}@{rec.env}, record {rec.tag})"
    )


@app.command()
def history(
    name: str,
    env: str = typer.Option(None, "--env", "-e", help="Only this env."),
    json_out: bool = JSON,
) -> None:
    """Deploy history: who moved which env from which version to which, when and why."""
    recs = open_repo().history(name, env)
    if json_out:
        emit_json([r.to_dict() for r in recs])
        return
    if not recs:
        where = f" to {env}" if env else ""
        info(f"{name} has never been deployed{where} (`ptrain prompt deploy {name} VERSION`)")
        return
    table(
        ["#", "env", "action", "from", "to", "by", "at", "reason"],
        [
            [
                r.seq,
                r.env,
                r.action,
                f"v{r.from_version}" if r.from_version else (r.from_commit or "-")[:8],
                f"v{r.to_version}" if r.to_version else r.to_commit[:8],
                r.by.split(" <")[0],
                r.at,
                r.reason,
            ]
            for r in recs
        ],
        title=f"{name} deploys",
    )


@app.command()
def export(
    dest: Path = typer.Argument(..., help="Folder to write into."),
    env: str = typer.Option(None, "--env", "-e", help="Env to export (default: the first env)."),
    fmt: str = typer.Option("yaml", "--format", help="yaml or json"),
    json_out: bool = JSON,
) -> None:
    """Write the deployed version of every prompt to DEST (for apps without git at runtime)."""
    written = open_repo().export(dest, env, fmt)
    emit_json([str(p) for p in written]) if json_out else info(
        f"exported {len(written)} prompts ({env or open_repo().default_env}) to {dest}"
    )


@app.command()
def validate(
    paths: list[Path] = typer.Argument(
        None, help="Files to check (default: every prompt and ptrain.yaml)."
    ),
    json_out: bool = JSON,
) -> None:
    """Check prompt files (and ptrain.yaml): schema, unknown keys, template vs. variables."""
    from ptrain.repo import validate_paths  # lazy: keeps the repo and git layer off prompt --help

    if paths:
        problems = validate_paths(list(paths))  # a non-YAML or missing path is a problem
        checked = len(paths)
    else:
        repo = open_repo()
        files = sorted((repo.root / repo.prompts_dir).rglob("*.y*ml")) + [repo.root / "ptrain.yaml"]
        problems = validate_paths(files, repo.root)
        checked = len(files)
    if json_out:
        emit_json({"checked": checked, "problems": problems})
    else:
        for p in problems:
            err_console().print(f"[red]✗[/red] {p}", markup=True, highlight=False)
        if not problems:
            info(f"{checked} file(s) OK")
    if problems:
        raise typer.Exit(1)


@app.command("run")
def run_cmd(
    name: str,
    var: list[str] = typer.Option(None, "--var", help="Input variable KEY=VALUE (repeatable)."),
    version: str = VERSION,
    env: str = ENV,
    record: bool = typer.Option(False, "--record", help="Store the call as automated feedback."),
    json_out: bool = JSON,
) -> None:
    """Call the configured task model once with a prompt (default: the deployed version, else
    the latest) and print the output."""
    from ptrain.invoke import parse_vars, run_prompt  # lazy: keeps ptrain.invoke off prompt --help

    repo = open_repo()
    res = run_prompt(repo, name, parse_vars(var), version=version, env=env, record=record)
    if json_out:
        emit_json(res.to_dict())
        return
    console().print(res.output, markup=False, highlight=False)
    label = f"v{res.version}" if res.version else res.commit[:8]
    if version is None:
        label += f" ({_which(repo, repo.resolve(name, res.commit), None, env)})"
    info(
        f"[dim]{name} {label} on {res.model}: {res.latency_ms:.0f} ms, {res.prompt_tokens} prompt + "
        f"{res.completion_tokens} completion tokens{' (cached)' if res.cached else ''}"
        f"{'; recorded ' + res.recorded if res.recorded else ''}[/dim]"
    )
