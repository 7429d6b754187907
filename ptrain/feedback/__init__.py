"""Feedback: records tied to prompt versions, stored as append-only JSONL shards in the repo.

Modules: ``records`` (the record model), ``store`` (shard layout, locked appends, redaction on
write), ``importing`` (JSONL/CSV and spool imports, all or nothing), ``reading`` (records back as
dicts), ``shardscan`` (shards into DuckDB), ``analytics`` and ``query`` (summaries and SQL),
``retention`` (prune),
``commit`` (one git commit for new feedback), ``redact`` and ``settings``.

The public names below are loaded on first use, so ``import ptrain.feedback`` costs nothing and
``feedback add`` never imports DuckDB or the analytics code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "records": ("SCHEMA_VERSION", "KINDS", "Kind", "Record", "new_id", "format_ts", "now_ts",
                "parse_ts", "reason", "make_record"),
    "store": ("Store", "Shard", "open_store", "shards", "record", "record_many", "FeedbackWriter"),
    "importing": ("Rejected", "ImportReport", "import_file", "import_spool", "recover"),
    "reading": ("parse_since", "iter_feedback", "list_feedback", "FeedbackList"),
    "analytics": ("Summary", "ParseStats", "summarize", "SUMMARY_BY", "COMPACTED_FILE"),
    "query": ("QueryResult", "query"),
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

if TYPE_CHECKING:
    from ptrain.feedback.analytics import COMPACTED_FILE, SUMMARY_BY, ParseStats, Summary, summarize
    from ptrain.feedback.commit import commit_feedback
    from ptrain.feedback.importing import ImportReport, Rejected, import_file, import_spool, recover
    from ptrain.feedback.query import QueryResult, query
    from ptrain.feedback.reading import FeedbackList, iter_feedback, list_feedback, parse_since
    from ptrain.feedback.records import (
        KINDS,
        SCHEMA_VERSION,
        Kind,
        Record,
        format_ts,
        make_record,
        new_id,
        now_ts,
        parse_ts,
        reason,
    )  # fmt: skip
    from ptrain.feedback.retention import PruneReport, prune
    from ptrain.feedback.settings import FeedbackConfig
    from ptrain.feedback.store import (
        FeedbackWriter,
        Shard,
        Store,
        open_store,
        record,
        record_many,
        shards,
    )


def __getattr__(name: str) -> Any:
    mod = _MODULE_OF.get(name)
    if mod is None:
        raise AttributeError(f"module 'ptrain.feedback' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
