"""Git's own files read without running git: packed-refs, ``core.bare``, lock files and
ptrain's temporary indexes (for the fast paths and for ``ptrain doctor``)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

ZERO = "0" * 40


@dataclass(frozen=True)
class RefOp:
    """One step of a ref transaction: create (old must not exist), update (compare-and-swap from
    ``old``) or delete (only if still at ``old``)."""

    verb: str  # "create" | "update" | "delete"
    ref: str
    new: str | None = None
    old: str | None = None

    def line(self) -> str:
        if self.verb == "create":
            return f"create {self.ref} {self.new}"
        if self.verb == "update":
            return f"update {self.ref} {self.new} {self.old or ZERO}"
        return f"delete {self.ref} {self.old}" if self.old else f"delete {self.ref}"


@dataclass(frozen=True)
class LockFile:
    path: Path
    age_s: float


def lock_files(git_dir: Path, common_dir: Path) -> list[LockFile]:
    """Every git lock file in the repository (``index.lock``, ``HEAD.lock``, ``packed-refs.lock``,
    ``refs/**.lock``), with its age. ptrain's own flock file is not one: the kernel releases it."""
    now = time.time()
    found: list[Path] = [
        p for p in (git_dir / "index.lock", git_dir / "HEAD.lock", common_dir / "packed-refs.lock")
    ]
    found = [p for p in found if p.exists()]
    refs = common_dir / "refs"
    if refs.is_dir():
        found += sorted(p for p in refs.rglob("*.lock") if p.is_file())
    out = []
    for p in found:
        try:
            out.append(LockFile(p, max(0.0, now - p.stat().st_mtime)))
        except OSError:
            continue
    return out


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def leaked_temp_indexes(common_dir: Path, tmp_dir: str) -> list[Path]:
    """Temporary indexes (``index.<pid>.<rand>``) whose process is gone: left by a crash."""
    folder = common_dir / tmp_dir
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.iterdir()):
        parts = p.name.split(".")
        ours = len(parts) >= 3 and parts[0] == "index" and parts[1].isdigit()
        if ours and not pid_alive(int(parts[1])):
            out.append(p)
    return out


def _core_bare(git_dir: Path) -> bool | None:
    """``core.bare`` from the repository's own config; None when it does not say or when
    ``core.worktree`` moves the work tree (then git itself must answer)."""
    try:
        text = (git_dir / "config").read_text()
    except OSError:
        return None
    bare = None
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        key = key.strip().lower()
        if sep and key == "worktree":
            return None
        if sep and key == "bare":
            bare = value.strip().lower() == "true"
    return bare


_PACKED: dict[str, tuple[tuple[int, int, int], dict[str, str]]] = {}


def packed_refs(path: str | os.PathLike[str]) -> dict[str, str]:
    """ref name -> sha from a ``packed-refs`` file, without spawning git; cached per process and
    re-read when the file changes (git rewrites it by renaming a new file into place, so the
    inode is part of the stamp)."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {}
    stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
    cached = _PACKED.get(path)
    if cached and cached[0] == stamp:
        return cached[1]
    refs: dict[str, str] = {}
    with open(path) as f:
        for line in f:
            if line.startswith(("#", "^")):
                continue
            sha, _, name = line.strip().partition(" ")
            if name:
                refs[name] = sha
    _PACKED[path] = (stamp, refs)
    return refs
