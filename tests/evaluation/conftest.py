"""Fixtures for evaluation: a clean scripted-model registry, scripted LLM clients, a prompt
repository whose ptrain.yaml points the task model and the judge at scripted models."""

from __future__ import annotations

from pathlib import Path

import pytest

from ptrain.config import ModelSettings
from ptrain.llm import weights
from ptrain.llm.client import LLM
from ptrain.llm.scripted import clear_scripted

# The shared conftest gives every test a private HOME; the embedded model's weights stay in the
# real user cache (resolved here, at import, before HOME moves).
MODEL_CACHE = str(weights.cache_root())

CLASSIFIER = """\
schema_version: 1
description: Classify a support message.
input_variables: [message]
messages:
  - role: system
    content: |
      {instruction}
  - role: human
    content: "{{message}}"
model: {{temperature: 0.0, max_tokens: 8}}
"""


@pytest.fixture(autouse=True)
def _clean_scripted(monkeypatch):
    monkeypatch.setenv("PTRAIN_CACHE_DIR", MODEL_CACHE)
    for var in ("PTRAIN_TASK_MODEL", "PTRAIN_OPTIMIZER_MODEL"):
        monkeypatch.delenv(var, raising=False)
    clear_scripted()
    yield
    clear_scripted()


def scripted_llm(name: str, cache_dir: Path | None = None, **settings) -> LLM:
    return LLM(ModelSettings(provider="scripted", model=name, **settings), cache_dir=cache_dir)


def classifier_yaml(instruction: str) -> str:
    return CLASSIFIER.format(instruction=instruction)


@pytest.fixture
def eval_repo(prompt_repo):
    """A prompt repo with models.task = scripted 'task' and training.model = scripted 'judge'."""
    root = Path(prompt_repo.root)
    cfg = (root / "ptrain.yaml").read_text()
    cfg = cfg.replace(
        "  task:\n    provider: local\n    model: smollm2-135m",
        "  task:\n    provider: scripted\n    model: task",
    ).replace(
        "  model:                          # the optimizer/judge: writes candidates, scores outputs\n"
        "    provider: local\n    model: smollm2-135m",
        "  model:\n    provider: scripted\n    model: judge",
    )
    assert "model: task" in cfg and "model: judge" in cfg
    (root / "ptrain.yaml").write_text(cfg)
    from ptrain.repo import PromptRepo

    return PromptRepo(root)
