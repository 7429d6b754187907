"""What a failed git command means, said once: git's stderr -> a :class:`GitError` with a hint.

:mod:`ptrain.storage.git` runs git and calls :func:`diagnose` on every failure, so services never
look at return codes or stderr themselves. Pure text handling: nothing here runs git.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from ptrain.errors import ConcurrentUpdate, GitError, GitLocked, RemoteError

DOCTOR_FIX = "if no git or ptrain command is still running, run `ptrain doctor --fix`"

_LOCK_RE = re.compile(r"Unable to create '([^']+\.lock)': File exists")
_REMOTE_LINE = re.compile(r"^remote: ?(.*)$")


def lock_age(path: str | Path) -> float | None:
    """Seconds since the lock file was created, or None when it is gone."""
    try:
        return max(0.0, time.time() - Path(path).stat().st_mtime)
    except OSError:
        return None


def locked(path: str | Path, what: str) -> GitLocked:
    """The error for a lock file that is in the way, with its age and the fix."""
    age = lock_age(path)
    when = f"created {age:.0f} s ago" if age is not None else "now gone"
    return GitLocked(
        f"{what} is locked: {path} exists ({when}); another git command is running or one crashed",
        f"wait for it to finish; {DOCTOR_FIX} (or delete the file)",
        path=str(path),
        age_s=age,
    )


def _last(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    fatal = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
    pick = (fatal or lines or ["(no message)"])[0 if fatal else -1]
    return pick.removeprefix("fatal: ").removeprefix("error: ")


def _remote_said(stderr: str) -> str:
    said = [m.group(1).strip() for ln in stderr.splitlines() if (m := _REMOTE_LINE.match(ln))]
    return " / ".join(s for s in said if s)


def diagnose(args: tuple[str, ...], stderr: str, returncode: int, remote: str = "") -> GitError:
    """Map one failed ``git <args>`` to the error a user can act on."""
    verb = args[0] if args else "?"
    m = _LOCK_RE.search(stderr)
    if m:
        path = m.group(1)
        what = "the git index" if path.endswith("index.lock") else f"ref {_ref_of(path)}"
        return locked(path, what)
    if verb == "update-ref" and (
        "but expected" in stderr or "already exists" in stderr or "reference already" in stderr
    ):
        return _concurrent(stderr)
    if verb in ("push", "fetch", "ls-remote"):
        return _remote_failure(verb, stderr, returncode, remote)
    return GitError(
        f"git {verb} failed: {_last(stderr) if stderr.strip() else f'exit {returncode}'}",
        f"run `git {' '.join(args[:3])}` in the repository to see git's full message",
        stderr=stderr,
        returncode=returncode,
    )


class RefConflict(ConcurrentUpdate, GitError):
    """A ref compare-and-swap lost: the ref was not where the caller last saw it."""

    def __init__(self, message: str, hint: str, *, stderr: str = ""):
        GitError.__init__(self, message, hint, stderr=stderr)


def _concurrent(stderr: str) -> RefConflict:
    m = re.search(r"cannot lock ref '([^']+)'", stderr)
    ref = (m.group(1) if m else "a ref").removeprefix("refs/tags/")
    return RefConflict(
        f"{ref} was changed by someone else meanwhile",
        "look at the new state and re-run the command",
        stderr=stderr,
    )


def _ref_of(lock_path: str) -> str:
    p = lock_path.removesuffix(".lock")
    i = p.find("/refs/")
    return p[i + 1 :] if i >= 0 else Path(p).name


def _remote_failure(verb: str, stderr: str, returncode: int, remote: str) -> RemoteError:
    name = remote or "the remote"
    low = stderr.lower()
    if "does not appear to be a git repository" in low or "repository not found" in low:
        m = re.search(r"'([^']+)' does not appear to be a git repository", stderr)
        where = f" ({m.group(1)})" if m else ""
        return RemoteError(
            f"git {verb} failed: {name}{where} is not a git repository or does not exist",
            f"check the address with `git remote -v`; fix it with `git remote set-url {remote or 'origin'} URL`",
            stderr=stderr,
            returncode=returncode,
        )
    said = _remote_said(stderr)
    if "hook declined" in low or ("remote rejected" in low and said):
        return RemoteError(
            f"{name} refused the {verb}: {said or _last(stderr)}",
            "the remote's hook said why; fix that (or ask the remote's owner), then run `ptrain sync` again",
            stderr=stderr,
            returncode=returncode,
        )
    if "stale info" in low or "fetch first" in low or "non-fast-forward" in low:
        return RemoteError(
            f"{name} changed meanwhile, so the {verb} was refused ({_last(stderr)})",
            "someone else pushed at the same time: run `ptrain sync` again",
            stderr=stderr,
            returncode=returncode,
        )
    if "could not read username" in low or "authentication" in low or "permission" in low:
        return RemoteError(
            f"git {verb} to {name} was not allowed: {_last(stderr)}",
            "check your credentials and push rights for that remote",
            stderr=stderr,
            returncode=returncode,
        )
    return RemoteError(
        f"git {verb} with {name} failed: {said or _last(stderr)}",
        f"run `git {verb} {remote or 'origin'}` by hand to see git's full message",
        stderr=stderr,
        returncode=returncode,
    )
