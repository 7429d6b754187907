"""Feedback: records tied to prompt versions, stored as append-only JSONL shards in the repo.

Modules: ``records`` (the record model), ``fields`` and ``check`` (its rules in plain Python,
the fast path of every append), ``store`` (shard layout, locked appends, redaction on write),
``add`` (one record tied to a version: ``record_feedback`` and ``feedback add``), ``importing``
(JSONL/CSV and spool imports, all or nothing), ``reading`` (records back as dicts),
``shardscan`` (shards into DuckDB), ``analytics`` and ``sql`` (summaries, `feedback query`),
``retention`` (prune), ``commit`` (one git commit for new feedback), ``redact``, ``settings``
(the ``feedback:`` model) and ``options`` (the same section read without pydantic).

The public names below are loaded on first use (``__getattr__``), so ``import ptrain.feedback``
costs nothing and ``feedback add`` never imports DuckDB or the analytics code. The package itself
imports none of its modules statically: ``ptrain.repo`` uses the package, and the import module
uses ``ptrain.repo`` (versions by deploy time), without a cycle.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "records": ("SCHEMA_VERSION", "KINDS", "Kind", "Record", "new_id", "format_ts", "now_ts",
                "parse_ts", "reason", "make_record"),
    "store": ("Store", "Shard", "open_store", "shards", "record", "record_many", "FeedbackWriter"),
    "importing": ("Rejected", "ImportReport", "import_file", "import_spool", "recover"),
    "reading": ("parse_since", "iter_feedback", "list_feedback", "FeedbackList"),
    "analytics": ("Summary", "ParseStats", "summarize", "SUMMARY_BY", "COMPACTED_FILE"),
    "sql": ("QueryResult", "query"),
    "retention": ("PruneReport", "prune"),
    "commit": ("commit_feedback",),
    "settings": ("FeedbackConfig",),
}  # fmt: skip
_MODULE_OF = {name: mod for mod, names in _WHERE.items() for name in names}
__all__ = [
    "COMPACTED_FILE",
    "FeedbackConfig",
    "FeedbackList",
    "FeedbackWriter",
    "ImportReport",
    "KINDS",
    "Kind",
    "ParseStats",
    "PruneReport",
    "QueryResult",
    "Record",
    "Rejected",
    "SCHEMA_VERSION",
    "SUMMARY_BY",
    "Shard",
    "Store",
    "Summary",
    "commit_feedback",
    "format_ts",
    "import_file",
    "import_spool",
    "iter_feedback",
    "list_feedback",
    "make_record",
    "new_id",
    "now_ts",
    "open_store",
    "parse_since",
    "parse_ts",
    "prune",
    "query",
    "reason",
    "record",
    "record_many",
    "recover",
    "shards",
    "summarize",
]


def __getattr__(name: str) -> Any:
    mod = _MODULE_OF.get(name)
    if mod is None:
        raise AttributeError(f"module 'ptrain.feedback' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
