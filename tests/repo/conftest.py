"""Helpers for the prompt repository tests: prompt texts and a snapshot of a repo's state."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import build_template_repo, copy_repo, git

TRIAGE = """\
# Support triage: one word out.
schema_version: 1
description: Classify a support message into one intent.
type: system
owner: support-team
labels: [support]
input_variables: [message]
messages:
  - role: system
    content: |
      You are a support triage assistant ({tag}).
      Answer with one word.
  - role: human
    content: "{{message}}"
examples:
  - inputs: {{message: "My card was charged twice"}}
    output: billing
model: {{temperature: 0.0, max_tokens: 16}}
"""


def triage(tag: str = "v1") -> str:
    """A valid chat prompt whose text differs by ``tag``."""
    return TRIAGE.format(tag=tag)


def snapshot(root: Path) -> dict:
    """Everything a failed command must leave unchanged: refs, status, index and files."""

    def run(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True).stdout

    files = {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }
    return {
        "refs": run("for-each-ref", "--format=%(refname) %(objectname)"),
        "head": run("rev-parse", "HEAD"),
        "symbolic": run("symbolic-ref", "-q", "HEAD"),
        "status": run("status", "--porcelain", "--untracked-files=all"),
        "index": run("ls-files", "-s"),
        "files": files,
    }


@pytest.fixture(scope="session")
def _triage_template(tmp_path_factory):
    """Built once per session; each test gets a copy."""
    return build_template_repo(tmp_path_factory.mktemp("template") / "repo", triage)


@pytest.fixture
def triage_repo(_triage_template, tmp_path):
    """A prompt repo with support/triage at versions 1..3 (a fresh copy per test)."""
    return copy_repo(_triage_template, tmp_path)


@pytest.fixture
def remote_pair(triage_repo, tmp_path):
    """(first clone, bare remote, second clone) sharing support/triage v1..v3."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    root = triage_repo.root
    git(root, "remote", "add", "origin", str(bare))
    git(root, "push", "-q", "origin", "HEAD:refs/heads/main")
    git(bare, "symbolic-ref", "HEAD", "refs/heads/main")
    triage_repo.deploy("support/triage", 1, reason="first")
    from ptrain import PromptRepo
    from ptrain.sync import sync

    sync(triage_repo.git, "origin")
    git(tmp_path, "clone", "-q", f"file://{bare}", "second")
    return triage_repo, bare, PromptRepo(tmp_path / "second")
