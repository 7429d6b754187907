"""ptrain's error types. Nothing heavy is imported here.

Every user-facing failure is a :class:`PtrainError` with a one-line message that names the
problem and a hint that names the fix (usually the next command to run). The CLI's single error
handler prints them as one red line and exits 1; no traceback reaches the user.
"""

from __future__ import annotations


class PtrainError(Exception):
    """A failure the user can act on: ``message`` says what is wrong, ``hint`` what to do."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class NotAPromptRepo(PtrainError):
    pass


class PromptNotFound(PtrainError):
    pass


class VersionNotFound(PtrainError):
    pass


class ValidationError(PtrainError):
    """A prompt, config or record that does not match its schema (file:line in the message)."""


class GitStateError(PtrainError):
    """The repository is in a state where the operation would be unsafe (dirty, detached, shallow)."""


class ConcurrentUpdate(PtrainError):
    """A compare-and-swap on a ref failed: somebody else moved it first."""


class GitError(PtrainError):
    """A git command failed. Raised once, in :mod:`ptrain.storage.git`, with git's own reason in
    the message and the fix in the hint (never empty)."""

    def __init__(self, message: str, hint: str, *, stderr: str = "", returncode: int = 0):
        super().__init__(message, hint or "run the git command by hand to see git's message")
        self.stderr = stderr
        self.returncode = returncode


class GitLocked(GitError):
    """A git lock file (``index.lock``, ``refs/...lock``) is in the way: another git command is
    running, or one crashed and left it behind (``ptrain doctor --fix`` removes stale ones)."""

    def __init__(self, message: str, hint: str, *, path: str = "", age_s: float | None = None):
        super().__init__(message, hint)
        self.path = path
        self.age_s = age_s


class RemoteError(GitError):
    """A fetch or push failed on the remote's side (missing, unreachable, rejected by a hook)."""


class ModelError(PtrainError):
    """A model could not be reached, loaded or verified."""


class BudgetExceeded(PtrainError):
    """A run hit its call/token/dollar budget; the spend so far is in the message."""
