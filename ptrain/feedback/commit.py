"""``feedback commit``: one git commit of new, grown and pruned feedback files (only those).

What to commit is the difference between the work tree and HEAD (not the index): a file whose
complete lines already equal HEAD's blob is left out, so a ``feedback commit`` killed after it
moved HEAD but before it updated the index is repaired by the next run (nothing committed twice,
nothing deleted). Import stages (hidden ``.import-*`` folders) are finished or removed first and
never committed; symlinks are never followed.
"""

from __future__ import annotations

import os
from typing import Any

from ptrain import faults
from ptrain.errors import PtrainError
from ptrain.feedback.importing import recover
from ptrain.feedback.store import open_store
from ptrain.storage.git import Git


def _complete(path: str, data: bytes) -> bytes:
    return data[: data.rfind(b"\n") + 1] if path.endswith(".jsonl") else data


def _is_record_file(path: str) -> bool:
    return path.endswith(".jsonl") and not os.path.basename(path).startswith("_")


def commit_feedback(root: str | os.PathLike[str], message: str | None = None) -> dict[str, Any]:
    """Commit new, grown and pruned feedback files in one commit (only those paths).

    Only complete lines are committed: a shard being written is committed up to its last
    newline. Returns ``{"commit": sha or None, "files": [...], "records": n}``.
    """

    store = open_store(root)
    if not store.is_repo:
        raise PtrainError(f"{store.root} is not a prompt repository", "run `ptrain init` first")
    recover(store)
    git = Git.discover(store.root)
    rel_dir = store.shards.relative_to(store.root).as_posix()
    with git.lock():
        paths: list[str] = []
        for _, path in git.status_entries([rel_dir]):
            hidden = any(p.startswith(".") for p in path[len(rel_dir) + 1 :].split("/"))
            if not hidden and path not in paths:
                paths.append(path)  # not hidden: an import stage or a temp file is never committed
        head = git.cat_batch([f"HEAD:{p}" for p in paths]) if paths else []
        files: dict[str, bytes | None] = {}
        unchanged: list[str] = []
        records = 0
        for path, blob in zip(paths, head, strict=True):
            old = blob[2] if blob is not None else None
            full = store.root / path
            if full.is_symlink() or (full.exists() and not full.is_file()):
                continue
            data = _complete(path, full.read_bytes()) if full.exists() else None
            if data == old:
                unchanged.append(path)  # HEAD has it already (an earlier run was killed)
                continue
            files[path] = data
            if _is_record_file(path):
                records += (data or b"").count(b"\n") - (old or b"").count(b"\n")
        if unchanged:
            git.sync_index(unchanged)
        if not files:
            return {"commit": None, "files": [], "records": 0}
        msg = (
            message
            or f"feedback: {records} new record{'s' if records != 1 else ''} in {len(files)} file(s)"
        )
        faults.step("feedback-commit.files-read")
        sha = git.commit_files(files, msg)
        faults.step("feedback-commit.committed")
        git.sync_index(list(files))
    return {"commit": sha, "files": sorted(files), "records": records}
