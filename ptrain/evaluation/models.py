"""The repository's configured models for an evaluation: the task model and the judge, sharing
the repo's response cache (``<repo>/.ptrain/cache/responses``). Nothing heavy is imported until a
model is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ptrain.llm.client import LLM

if TYPE_CHECKING:
    from ptrain.repo import PromptRepo


def response_cache_dir(repo: PromptRepo) -> Path | None:
    return Path(repo.root) / ".ptrain" / "cache" / "responses" if repo.config.models.cache else None


def models_for(repo: PromptRepo) -> tuple[LLM, LLM]:
    """(task model, judge model) as configured, sharing the repo's response cache."""
    cache = response_cache_dir(repo)
    return LLM(repo.config.task(), cache_dir=cache), LLM(repo.config.optimizer(), cache_dir=cache)
