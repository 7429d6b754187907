"""Stored evaluation results: the same evaluation is never computed twice.

On-disk format: ``<repo>/.ptrain/evals/<key>.json`` (``.ptrain/`` is git-ignored), one
``EvalResult.to_dict()`` per file, written to a temp file and renamed. ``key`` is the sha256 of
the canonical JSON of everything the result depends on: the prompt's content (not its commit:
an identical candidate file reuses the result of the committed version), the cases (after
defaults are applied), the task model's identity and generation settings, the judge's identity,
the requested metrics, the number of runs and this format's version.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ptrain.storage.yamlio import atomic_write

FORMAT_VERSION = 1


def result_key(parts: dict[str, Any]) -> str:
    blob = json.dumps({"format": FORMAT_VERSION, **parts}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResultStore:
    def __init__(self, directory: Path):
        self.dir = Path(directory)

    @classmethod
    def for_repo(cls, root: Path) -> ResultStore:
        return cls(Path(root) / ".ptrain" / "evals")

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path(key).read_text())
        except (FileNotFoundError, ValueError):
            return None  # a torn or foreign file is recomputed, not trusted
        return data if data.get("format") == FORMAT_VERSION else None

    def put(self, key: str, data: dict[str, Any]) -> Path:
        path = self.path(key)
        atomic_write(path, json.dumps({"format": FORMAT_VERSION, **data}, ensure_ascii=False))
        return path
