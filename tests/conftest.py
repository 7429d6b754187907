"""Shared fixtures: real git repos in temporary directories, the CLI in-process and as a process.

Keep this file small and generic; fixtures used by one test folder belong in that folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# The model cache is resolved now, before tests move HOME, so weights are pulled once per machine.
MODEL_CACHE = os.environ.get("PTRAIN_CACHE_DIR") or str(Path.home() / ".cache" / "ptrain")
PTRAIN_BIN = shutil.which("ptrain", path=str(Path(sys.executable).parent)) or "ptrain"


@pytest.fixture(autouse=True)
def git_env(tmp_path_factory, monkeypatch):
    """A fixed git identity, a private HOME and only local (file://) remotes for every test."""
    home = tmp_path_factory.mktemp("home")
    for key in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{key}_NAME", "Test User")
        monkeypatch.setenv(f"GIT_{key}_EMAIL", "test@example.com")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PTRAIN_CACHE_DIR", MODEL_CACHE)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file")
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    monkeypatch.delenv("PTRAIN_REPO", raising=False)
    # a default branch name that does not depend on the machine's git config
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    return home


def git(cwd: Path, *args: str, check: bool = True) -> str:
    """Run plain git in ``cwd`` and return its stdout."""
    p = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {p.stderr}")
    return p.stdout


@pytest.fixture
def prompt_repo(tmp_path):
    """A fresh prompt repository made by ``ptrain init``, as a PromptRepo."""
    from ptrain import PromptRepo
    from ptrain.initialize import init

    root = tmp_path / "repo"
    init(root)
    return PromptRepo(root)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


class Cli:
    """Runs ptrain in-process (``invoke``) or as the real console script (``run``)."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path

    @property
    def cwd(self) -> Path:
        repo = self.tmp_path / "repo"
        return repo if repo.exists() else self.tmp_path

    def invoke(self, *args: str, cwd: Path | None = None) -> Result:
        from typer.testing import CliRunner

        from ptrain.cli.main import app

        old = Path.cwd()
        os.chdir(cwd or self.cwd)
        try:
            r = CliRunner().invoke(app, list(args), catch_exceptions=False)
        finally:
            os.chdir(old)
        return Result(r.exit_code, r.stdout, r.stderr)

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 60) -> Result:
        p = subprocess.run(
            [PTRAIN_BIN, *args],
            cwd=cwd or self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Result(p.returncode, p.stdout, p.stderr)


@pytest.fixture
def cli(tmp_path):
    """CLI helper working in the ``prompt_repo`` root if one exists, else in tmp_path."""
    return Cli(tmp_path)


def build_template_repo(root: Path, text_for, versions: int = 3, deploy: int | None = None) -> Path:
    """A prompt repo with support/triage at v1..v``versions`` (``text_for(tag)`` gives each
    version's YAML), optionally one version deployed to production. Built with a fixed
    identity, for session-scoped templates that tests copy (a git repo is just files)."""
    from ptrain import PromptRepo
    from ptrain.initialize import init

    with pytest.MonkeyPatch.context() as mp:
        for key in ("AUTHOR", "COMMITTER"):
            mp.setenv(f"GIT_{key}_NAME", "Test User")
            mp.setenv(f"GIT_{key}_EMAIL", "test@example.com")
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("HOME", str(root.parent))
        (root.parent / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
        init(root)
        repo = PromptRepo(root)
        repo.create("support/triage", text_for("v1"))
        for i in range(2, versions + 1):
            repo.update("support/triage", text_for(f"v{i}"))
        if deploy is not None:
            repo.deploy("support/triage", deploy, reason="first")
    return root


def copy_repo(template: Path, tmp_path: Path):
    """A fresh PromptRepo copied from a session template."""
    from ptrain import PromptRepo

    root = tmp_path / "repo"
    shutil.copytree(template, root, symlinks=True)
    return PromptRepo(root)
