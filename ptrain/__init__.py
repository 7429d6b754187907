"""ptrain: a git-native prompt repository that trains its own prompts.

The public Python API. Importing ``ptrain`` is cheap: nothing heavy (langchain, faiss, model
runtimes) is imported until a feature that needs it is used.
"""

from ptrain.errors import PtrainError
from ptrain.prompts import LoadedPrompt
from ptrain.repo import DeployRecord, PromptRepo, Version

__all__ = ["PromptRepo", "LoadedPrompt", "Version", "DeployRecord", "PtrainError"]
__version__ = "0.1.0"
