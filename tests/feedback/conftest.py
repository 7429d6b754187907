"""Fixtures for the feedback tests: a prompt repo with a deployed prompt, and a spool dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from ptrain.prompts import new_prompt_yaml


@pytest.fixture
def repo(prompt_repo):
    """A prompt repo with support/triage at v1 (deployed to production) and v2 (not deployed)."""
    prompt_repo.create("support/triage", new_prompt_yaml("Classify: {message}"))
    prompt_repo.deploy("support/triage", 1, "production")
    prompt_repo.update("support/triage", new_prompt_yaml("Classify into one word: {message}"))
    return prompt_repo


@pytest.fixture
def spool(tmp_path) -> Path:
    d = tmp_path / "spool"
    d.mkdir()
    return d


@pytest.fixture
def fb_cli(cli):
    """The ``cli`` helper with ``feedback`` mounted (until ptrain.cli.main registers it)."""
    from ptrain.cli import feedback, main

    if not any(g.name == "feedback" for g in main.app.registered_groups):
        main.app.add_typer(feedback.app, name="feedback")
    return cli


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")
