"""A/B fixtures: a prompt repo with support/triage v1..v3, v1 deployed to production."""

from __future__ import annotations

import shutil

import pytest

PROMPT = """\
schema_version: 1
description: Classify a support message into one intent.
type: system
input_variables: [message]
messages:
  - role: system
    content: "You are a support triage assistant ({tag}). Answer with one word."
  - role: human
    content: "{{message}}"
"""


def triage(tag: str) -> str:
    return PROMPT.format(tag=tag)


@pytest.fixture(scope="session")
def _ab_template(tmp_path_factory):
    """Built once per session; each test gets a copy (a git repo is just files)."""
    from ptrain import PromptRepo
    from ptrain.initialize import init

    root = tmp_path_factory.mktemp("ab-template") / "repo"
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AUTHOR", "COMMITTER"):
            mp.setenv(f"GIT_{key}_NAME", "Test User")
            mp.setenv(f"GIT_{key}_EMAIL", "test@example.com")
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("HOME", str(root.parent))
        (root.parent / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
        init(root)
        repo = PromptRepo(root)
        repo.create("support/triage", triage("v1"))
        for i in (2, 3):
            repo.update("support/triage", triage(f"v{i}"))
        repo.deploy("support/triage", 1, reason="first")
    return root


@pytest.fixture
def repo(_ab_template, tmp_path):
    """support/triage at v1..v3, v1 deployed to production (a fresh copy per test)."""
    from ptrain import PromptRepo

    root = tmp_path / "repo"
    shutil.copytree(_ab_template, root, symlinks=True)
    return PromptRepo(root)
