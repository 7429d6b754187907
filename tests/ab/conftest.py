"""A/B fixtures: a prompt repo with support/triage v1..v3, v1 deployed to production."""

from __future__ import annotations

import pytest

from tests.conftest import build_template_repo, copy_repo

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
    """Built once per session; each test gets a copy."""
    return build_template_repo(tmp_path_factory.mktemp("ab-template") / "repo", triage, deploy=1)


@pytest.fixture
def repo(_ab_template, tmp_path):
    """support/triage at v1..v3, v1 deployed to production (a fresh copy per test)."""
    return copy_repo(_ab_template, tmp_path)
