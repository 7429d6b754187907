"""The demo: a throwaway copy of ``example-repo/`` as a real git repository, then training.

``build_demo_repo`` copies the example into a new folder and makes its history
deterministically (fixed author, committer and dates), so the commit that feedback records
point at has the same sha on every machine:

1. ``Initial prompts`` — ptrain.yaml, prompts/, evals/ (2026-10-01);
2. every prompt deployed to production (the deploy tags);
3. ``Import production feedback`` — feedback/ (2026-11-20).

The example's own repository history is never used as the prompt repository.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from ptrain.errors import PtrainError
from ptrain.repo import PromptRepo
from ptrain.storage.git import Git, init_repo

AUTHOR = ("Acme Prompt Team", "prompts@acme.example")
FIRST_DATE = "2026-10-01T09:00:00Z"
FEEDBACK_DATE = "2026-11-20T18:00:00Z"
DEMO_PROMPT = "assistant/intent"


def example_dir() -> Path:
    """``example-repo/`` of a source checkout (the demo needs the repository, not a wheel)."""
    env = os.environ.get("PTRAIN_EXAMPLE_REPO")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parent.parent / "example-repo")
    for c in candidates:
        if (c / "ptrain.yaml").exists():
            return c
    raise PtrainError(
        "example-repo/ not found",
        "run the demo from a source checkout of ptrain, or set PTRAIN_EXAMPLE_REPO",
    )


def _identity_env(date: str) -> dict[str, str]:
    name, email = AUTHOR
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_COMMITTER_DATE": date,
    }


def _files(root: Path, include_feedback: bool) -> dict[str, bytes]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if not p.is_file() or rel.startswith((".ptrain/", ".git/")) or "__pycache__" in rel:
            continue
        if rel.startswith("feedback/") != include_feedback:
            continue
        out[rel] = p.read_bytes()
    return out


def build_demo_repo(dest: Path | None = None, *, with_feedback: bool = True) -> Path:
    src = example_dir()
    dest = Path(dest) if dest else Path(tempfile.mkdtemp(prefix="ptrain-demo-")) / "prompts-repo"
    if dest.exists() and any(dest.iterdir()):
        raise PtrainError(f"{dest} is not empty", "pass an empty or new folder")
    shutil.copytree(
        src, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".ptrain", "__pycache__")
    )
    git = init_repo(dest)
    git.set_symbolic_ref("HEAD", "refs/heads/main")
    with identity(FIRST_DATE):
        _commit(git, _files(dest, include_feedback=False), "Initial prompts")
        repo = PromptRepo(dest)
        for name in repo.prompt_names():
            repo.deploy(name, 1, "production", reason="initial release")
    fb = _files(dest, include_feedback=True) if with_feedback else {}
    if fb:
        with identity(FEEDBACK_DATE):
            _commit(git, fb, "Import production feedback")
    return dest


@contextlib.contextmanager
def identity(date: str):
    """Run git with the demo's fixed identity and date (deterministic commit shas)."""
    saved = dict(os.environ)
    os.environ.update(_identity_env(date))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _commit(git, files: dict[str, bytes], message: str) -> str:
    commit = git.commit_files(files, message)
    git.sync_index(list(files))
    return commit


def first_commit(dest: Path) -> str:
    return Git.discover(dest).out("rev-list", "--max-parents=0", "HEAD").strip()
