"""Process-wide CLI state set by the root callback (the ``--repo/-C`` option)."""

from __future__ import annotations

REPO_PATH = "."


def open_repo():
    from ptrain.repo import PromptRepo  # lazy: keeps the repo and git layer off --help

    return PromptRepo(REPO_PATH)
