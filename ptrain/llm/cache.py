"""The on-disk response cache: re-running an evaluation makes no model calls.

Format: one SQLite file (``responses.sqlite`` in the cache dir, WAL mode, so several processes
can read and write it at once) with one table::

    responses(key TEXT PRIMARY KEY,     -- sha256 of the canonical JSON request (see key())
              model TEXT, text TEXT, prompt_tokens INT, completion_tokens INT,
              created REAL, schema_version INT)

The key covers provider, model, base_url, the messages (role + content) and every generation
parameter (temperature, max_tokens, json_schema, seed), so changing any of them misses.
Only reproducible requests are cached: temperature 0, or any temperature with a seed. Sampling
without a seed is meant to vary (training candidates), so it is never served from the cache.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
FILENAME = "responses.sqlite"


def key(request: dict[str, Any]) -> str:
    blob = json.dumps({"v": SCHEMA_VERSION, **request}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def cacheable(temperature: float, seed: int | None) -> bool:
    return temperature == 0 or seed is not None


class ResponseCache:
    def __init__(self, directory: Path):
        self.path = Path(directory) / FILENAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT, "
                "text TEXT, prompt_tokens INT, completion_tokens INT, created REAL, "
                "schema_version INT)"
            )

    def _conn(self) -> sqlite3.Connection:
        # sqlite3 connections are per thread; batch() workers each get their own.
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get(self, k: str) -> dict | None:
        row = (
            self._conn()
            .execute(
                "SELECT model, text, prompt_tokens, completion_tokens FROM responses "
                "WHERE key = ? AND schema_version = ?",
                (k, SCHEMA_VERSION),
            )
            .fetchone()
        )
        if row is None:
            return None
        return dict(zip(("model", "text", "prompt_tokens", "completion_tokens"), row, strict=True))

    def put(
        self, k: str, model: str, text: str, prompt_tokens: int, completion_tokens: int
    ) -> None:
        self._conn().execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)",
            (k, model, text, prompt_tokens, completion_tokens, time.time(), SCHEMA_VERSION),
        )

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()[0]
