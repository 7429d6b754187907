"""ptrain: a git-native prompt repository that trains its own prompts.

The public Python API. Importing ``ptrain`` is cheap: nothing heavy (langchain, faiss, model
runtimes) is imported until a feature that needs it is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ptrain.errors import PtrainError

if TYPE_CHECKING:
    from ptrain.prompts import LoadedPrompt
    from ptrain.repo import DeployRecord, PromptRepo, Version

__all__ = ["PromptRepo", "LoadedPrompt", "Version", "DeployRecord", "PtrainError"]
__version__ = "0.1.0"

# Loaded on first use (PEP 562): `ptrain --help` and every `ptrain.<submodule>` import go through
# this package, and should not pay for pydantic and the repository code they do not use.
_LAZY = {
    "PromptRepo": "ptrain.repo",
    "Version": "ptrain.repo",
    "DeployRecord": "ptrain.repo",
    "LoadedPrompt": "ptrain.prompts",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ptrain' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
