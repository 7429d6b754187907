"""Helpers for the prompt repository tests: prompt texts and a snapshot of a repo's state."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

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


@pytest.fixture
def triage_repo(prompt_repo):
    """A prompt repo with support/triage at versions 1..3."""
    for i in (1, 2, 3):
        if i == 1:
            prompt_repo.create("support/triage", triage("v1"))
        else:
            prompt_repo.update("support/triage", triage(f"v{i}"))
    return prompt_repo
