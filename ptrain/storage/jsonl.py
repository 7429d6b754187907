"""Append-only JSONL shards with locking, atomic appends and torn-tail detection.

On-disk format
--------------
A *shard* is a UTF-8 file of JSON objects, one per line, each line ended by ``\\n``. Shards are
only ever appended to (compaction replaces or deletes a whole shard, never edits one in place).

Feedback uses the layout ``<dir>/<prompt path>/<YYYY-MM-DD>/<writer-id>.jsonl`` (the day is the
UTC day of the records' ``ts``; see ``ptrain.feedback``). The writer id is
``<host hash>-<context hash>``: stable for one machine and one checkout/branch, so two machines or
two branches never append to the same file and a GitHub pull request never sees a conflict in it.
``PTRAIN_WRITER_ID`` overrides it (for example one id per replica in a fleet with equal hostnames).

An append:

1. opens the shard ``O_APPEND|O_CREAT`` and takes an exclusive ``flock`` on it;
2. re-checks that the path still names the inode it locked (compaction may have replaced it);
3. if the file does not end in ``\\n`` (a writer was killed mid-line), starts with ``\\n`` so the
   new records never glue onto the torn line;
4. writes all of its complete lines with one ``os.write`` (looping only on a short write),
   ``fsync``s, and releases the lock.

Readers never take the lock. Bytes after the last ``\\n`` are an incomplete tail (a crashed writer
or one mid-write); readers skip them and report them, and the next reader sees them again once
complete. A complete line that does not parse is reported with its line number and skipped.

An append that spans several shards (an import covering several days or prompts) locks all of
them in path order and, on any error, truncates each one back to its size before the append, so
an import is written entirely or not at all. (Only a SIGKILL or power loss between two shards'
writes can leave some shards written; every line written is still whole.)
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson as _orjson  # a declared dependency: several times faster than json here


def dumps(obj: Any) -> bytes:
    return _orjson.dumps(obj)


loads = _orjson.loads
JSONDecodeError: type[Exception] = _orjson.JSONDecodeError


def writer_id(root: Path | None = None) -> str:
    """``<host hash>-<context hash>``: one id per machine and per checkout+branch of ``root``."""
    override = os.environ.get("PTRAIN_WRITER_ID")
    if override:
        safe = "".join(c for c in override if c.isalnum() or c in "-_.")[:64]
        if safe and not safe.startswith("."):
            return safe
    host = hashlib.sha1(os.uname().nodename.encode()).hexdigest()[:8]
    context = ""
    if root is not None:
        root = Path(root).resolve()
        context = f"{root}\0{_git_branch(root)}"
    return f"{host}-{hashlib.sha1(context.encode()).hexdigest()[:6]}"


def _git_branch(root: Path) -> str:
    """The checked-out branch (or detached sha) read straight from ``.git/HEAD`` - no git call."""
    for base in (root, *root.parents):
        dot_git = base / ".git"
        try:
            if dot_git.is_file():  # a worktree: "gitdir: <path>"
                dot_git = Path(dot_git.read_text().split(":", 1)[1].strip())
            if dot_git.is_dir():
                return (dot_git / "HEAD").read_text().strip().removeprefix("ref: refs/heads/")
        except OSError:
            return ""
    return ""


# -- writing -------------------------------------------------------------------------------------


class SymlinkRefused(OSError):
    """A shard path is a symlink: appending through it could write outside the store."""

    def __init__(self, path: Path):
        super().__init__(errno.ELOOP, "is a symlink; refusing to write through it", str(path))
        self.path = path


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable (POSIX needs the directory fsynced)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file, fsync and rename (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise
    fsync_dir(path.parent)


class _Locked:
    __slots__ = ("path", "fd", "size_before", "written")

    def __init__(self, path: Path, fd: int, size_before: int):
        self.path, self.fd, self.size_before, self.written = path, fd, size_before, False


def _open_locked(path: Path) -> _Locked:
    """Open ``path`` for appending and hold an exclusive flock on the inode the path names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:  # O_NOFOLLOW: a shard that is a symlink is refused, never written through
            fd = os.open(
                path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644
            )
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise SymlinkRefused(path) from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            st = os.fstat(fd)
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            if current is not None and (current.st_ino, current.st_dev) == (st.st_ino, st.st_dev):
                return _Locked(path, fd, st.st_size)
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # replaced or removed by compaction while we waited: lock the new file


def _ends_with_newline(fd: int, size: int) -> bool:
    return size == 0 or os.pread(fd, 1, size - 1) == b"\n"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def append(path: Path, payload: bytes) -> None:
    """Append complete lines (``payload`` must end in ``\\n``) to one shard atomically."""
    append_many({Path(path): payload})


def append_many(payloads: Mapping[Path, bytes]) -> None:
    """Append to several shards: all of them, or (on error) none of them."""
    items = sorted((Path(p), b) for p, b in payloads.items() if b)
    for _, data in items:
        if not data.endswith(b"\n"):
            raise ValueError("payload must be complete lines ending in a newline")
    locked: list[_Locked] = []
    try:
        for path, _ in items:  # path order: two multi-shard writers never deadlock
            locked.append(_open_locked(path))
        for lk, (_, data) in zip(locked, items, strict=True):
            if not _ends_with_newline(lk.fd, lk.size_before):
                data = b"\n" + data  # never glue a record onto a torn line
            lk.written = True
            _write_all(lk.fd, data)
            os.fsync(lk.fd)
    except BaseException:
        for lk in locked:
            if lk.written:
                try:
                    os.ftruncate(lk.fd, lk.size_before)
                    os.fsync(lk.fd)
                except OSError:
                    pass
        raise
    finally:
        for lk in locked:
            os.close(lk.fd)  # closing releases the flock


@contextmanager
def locked_shard(path: Path) -> Iterator[int]:
    """Hold the append lock of ``path`` (for compaction or draining a spool); yields the fd."""
    lk = _open_locked(Path(path))
    try:
        yield lk.fd
    finally:
        os.close(lk.fd)


# -- reading -------------------------------------------------------------------------------------


@dataclass
class Chunk:
    """Complete lines of a shard read from ``start``; ``end`` is the offset after the last ``\\n``."""

    data: bytes
    start: int
    end: int
    size: int  # file size when read; size > end means an incomplete (torn or in-progress) tail
    warnings: list[str] = field(default_factory=list)


def read_complete(path: Path, start: int = 0) -> Chunk:
    """Read the complete lines of ``path`` from byte ``start`` (which must begin a line)."""
    with open(path, "rb") as f:
        if start:
            f.seek(start)
        raw = f.read()
    size = start + len(raw)
    cut = raw.rfind(b"\n") + 1
    chunk = Chunk(raw[:cut], start, start + cut, size)
    if cut < len(raw):
        chunk.warnings.append(
            f"{path}: incomplete last line ({len(raw) - cut} bytes at offset {start + cut}) "
            "skipped: a writer was killed mid-append or is still writing"
        )
    return chunk


def iter_lines(data: bytes, first_lineno: int = 1) -> Iterator[tuple[int, bytes]]:
    """(line number, line) for each non-blank line of ``data``."""
    for i, line in enumerate(data.split(b"\n"), first_lineno):
        if line.strip():
            yield i, line


def truncate_locked(fd: int, size: int = 0) -> None:
    os.ftruncate(fd, size)
    os.fsync(fd)


def remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
