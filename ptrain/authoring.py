"""Writing prompt files: create, update, validate and export (the service behind PromptRepo).

Every write is one transaction: the work-tree file and a commit of exactly that file, or
neither. Files are only read and written inside the repository: a prompt file (or a folder on
its way) that is a symbolic link is refused, so a link to ``/etc/...`` can neither be committed
nor overwritten. Pause points for crash tests: ``<verb>.file-written`` (work file written, no
commit yet), ``commit.temp-index`` (a temporary index exists), ``<verb>.staged`` (index
updated, HEAD not yet moved) and ``<verb>.committed`` (done).
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ptrain import faults
from ptrain.errors import (
    GitStateError,
    NotAPromptRepo,
    PromptNotFound,
    PtrainError,
    ValidationError,
    VersionNotFound,
)
from ptrain.layout import CONFIG_FILE
from ptrain.storage.git import DEPLOY_TAG_PREFIX, Git
from ptrain.storage.yamlio import YamlLimits, atomic_write, dump_roundtrip, load_roundtrip
from ptrain.suggest import hint

if TYPE_CHECKING:
    from ptrain.versions import PromptStore, Version


def writable(repo: PromptStore) -> None:
    if repo.git.bare:
        raise GitStateError(
            "this is a bare repository", "run the command in a clone with a work tree"
        )
    if repo.git.current_branch() is None:
        raise GitStateError(
            "HEAD is detached, so a new version would be on no branch",
            "check out a branch first (`git switch main`)",
        )


def safe_path(root: Path, rel: str) -> Path:
    """``root/rel``, refused when any part of it is a symbolic link or it leaves ``root``."""
    parts = PurePosixPath(rel).parts
    if PurePosixPath(rel).is_absolute() or ".." in parts:
        raise PtrainError(f"{rel} is outside the repository", "use a path inside the repository")
    cur = Path(root)
    for part in parts:
        cur = cur / part
        if cur.is_symlink():
            raise PtrainError(
                f"{cur.relative_to(root)} is a symbolic link (to {os.readlink(cur)}); ptrain does not "
                "read or write prompt files through links",
                f"replace it with a regular file (`git checkout -- {rel}` restores the committed one)",
            )
    return cur


def commit_and_write(
    repo: PromptStore, files: dict[str, bytes | None], message: str, verb: str
) -> str:
    """One transaction: write the work-tree files and commit exactly them, or neither."""
    writable(repo)
    paths = {rel: safe_path(repo.root, rel) for rel in files}
    with repo.git.lock():
        repo.git.require_index_unlocked()  # before anything is written: nothing to undo
        old = {rel: p.read_bytes() if p.exists() else None for rel, p in paths.items()}
        try:
            for rel, data in files.items():
                _put(paths[rel], data)
            faults.step(f"{verb}.file-written")
            commit = repo.git.commit_files(files, message, step=verb)
        except BaseException:
            for rel, data in old.items():
                _put(paths[rel], data)
            raise
        faults.step(f"{verb}.committed")
        repo.git.write_commit_graph()
        return commit


def _put(path: Path, data: bytes | None) -> None:
    if data is None:
        path.unlink(missing_ok=True)
    else:
        atomic_write(path, data)


def _check_size(text: str, source: str) -> None:
    limit = YamlLimits.from_env().max_bytes
    if len(text.encode()) > limit:
        raise ValidationError(
            f"{source}: prompt file too large ({len(text.encode()):,} bytes, limit {limit:,})",
            "shorten it; if it is genuine, raise PTRAIN_YAML_MAX_BYTES",
        )


def create(
    repo: PromptStore, name: str, text: str, message: str | None, source: str | None
) -> Version:
    path = repo.prompt_path(name)
    writable(repo)
    _check_size(text, source or path)
    if safe_path(repo.root, path).exists() or repo.git.show_file("HEAD", path) is not None:
        raise PtrainError(
            f"prompt {name} already exists", f"use `ptrain prompt update {name} --file F`"
        )
    for other in repo.prompt_names():
        if other.startswith(name + "/") or name.startswith(other + "/"):
            raise PtrainError(
                f"prompt {name} would clash with {other} (a prompt cannot also be a folder)",
                "choose another name",
            )
    repo._check_content(name, text, source)
    commit_and_write(repo, {path: text.encode()}, message or f"Create prompt {name}", "create")
    return repo.versions(name)[-1]


def update(
    repo: PromptStore, name: str, text: str | None, message: str | None, source: str | None
) -> Version:
    path = repo.prompt_path(name)
    writable(repo)
    head = repo.git.show_file("HEAD", path)
    if head is None:
        raise PromptNotFound(
            f"no prompt named {name!r}",
            hint(name, repo.prompt_names(), f"create it with `ptrain prompt create {name}`"),
        )
    work = safe_path(repo.root, path)
    current = work.read_bytes() if work.exists() else None
    if text is None:
        if current is None or current == head:
            raise PtrainError(
                f"{path} has no uncommitted changes",
                f"edit it or pass --file to `ptrain prompt update {name}`",
            )
        text = current.decode()
    elif current is not None and current != head and current != text.encode():
        raise GitStateError(
            f"{path} has uncommitted changes that this update would overwrite",
            f"commit them (`ptrain prompt update {name}`) or discard them (`git checkout -- {path}`)",
        )
    if text.encode() == head:
        raise PtrainError(
            f"the new content of {name} is identical to its latest version",
            "change something first",
        )
    _check_size(text, source or path)
    repo._check_content(name, text, source)
    commit_and_write(repo, {path: text.encode()}, message or f"Update prompt {name}", "update")
    return repo.versions(name)[-1]


def export(repo: PromptStore, dest: Path, env: str, fmt: str) -> list[Path]:
    """Write the deployed version of every prompt to ``dest`` (plus an index.json)."""
    repo.check_env(env)
    if fmt not in ("yaml", "json"):
        raise PtrainError(f"unknown format {fmt!r}", "use --format yaml or --format json")
    deployed = {n: c for (n, e), c in repo._deployed_commits().items() if e == env}
    if not deployed:
        raise VersionNotFound(f"nothing is deployed to {env}", "deploy a prompt first")
    dest = Path(dest)
    written, index = [], {}
    for name in sorted(deployed):
        prompt = repo.get(name, env)
        payload = {
            "name": name,
            "env": env,
            "version": prompt.version,
            "commit": prompt.commit,
            "prompt": prompt.spec.model_dump(exclude_none=True),
        }
        out = dest / f"{name}.{fmt}"
        if fmt == "json":
            atomic_write(out, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        else:
            atomic_write(out, dump_roundtrip(payload))
        written.append(out)
        index[name] = {"version": prompt.version, "commit": prompt.commit, "file": f"{name}.{fmt}"}
    atomic_write(dest / "index.json", json.dumps({"env": env, "prompts": index}, indent=2) + "\n")
    return written


# -- validation ------------------------------------------------------------------------------
def _read_checked(p: Path, shown: str) -> str:
    """The text of a file to validate; ValidationError (one line) when it is not one."""
    if p.is_symlink():
        raise ValidationError(f"{shown}: is a symbolic link", "validate the file itself")
    if not p.exists():
        raise ValidationError(f"{shown}: does not exist", "pass the path of a prompt YAML file")
    if not p.is_file():
        raise ValidationError(f"{shown}: is not a regular file", "pass a prompt YAML file")
    if p.suffix not in (".yaml", ".yml"):
        raise ValidationError(
            f"{shown}: is not a YAML file (.yaml/.yml)", "pass a prompt YAML file"
        )
    limit = YamlLimits.from_env().max_bytes
    if p.stat().st_size > limit:
        raise ValidationError(
            f"{shown}: file too large ({p.stat().st_size:,} bytes, limit {limit:,})",
            "shorten it; if it is genuine, raise PTRAIN_YAML_MAX_BYTES",
        )
    try:
        return p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(
            f"{shown}: cannot read ({exc.__class__.__name__})", "pass a UTF-8 file"
        ) from None


def validate_paths(paths: list[Path], root: Path | None = None) -> list[str]:
    """One problem line per issue in the given prompt files (and ``ptrain.yaml``)."""
    problems: list[str] = []
    for p in paths:
        p = Path(p)
        shown = (
            str(p.relative_to(root))
            if root and p.is_absolute() and p.is_relative_to(root)
            else str(p)
        )
        try:
            doc = load_roundtrip(_read_checked(p, shown), shown)
            if p.name == CONFIG_FILE:
                from ptrain.config import Config  # lazy: keeps pydantic off prompt show
                from ptrain.schema import errors_of  # lazy: keeps pydantic off prompt show

                problems += errors_of(Config, doc, shown)
                continue
        except ValidationError as exc:
            problems.append(exc.message)
            continue
        from ptrain.prompts import prompt_problems  # lazy: keeps pydantic off prompt show

        problems += prompt_problems(doc, shown)
    return problems


def bare_without_config(git: Git, root: Path) -> NotAPromptRepo:
    """Why a bare repository is no prompt repo: an empty HEAD (tags pushed, branch not) or a
    branch without ptrain.yaml."""
    if git.head_commit() is None:
        tags = len(git.for_each_ref(DEPLOY_TAG_PREFIX, "%(refname)"))
        branch = git.current_branch() or "HEAD"
        return NotAPromptRepo(
            f"{root} has {tags} deploy tag(s) but no branch {branch!r} (HEAD), so no ptrain.yaml",
            f"push the branch with ptrain.yaml there as {branch!r}: "
            f"`git push {root} <your-branch>:{branch}` (`ptrain sync` pushes only tags)",
        )
    return NotAPromptRepo(
        f"{root} has no {CONFIG_FILE} on HEAD", "run `ptrain init` in a clone and push"
    )
