"""Retention: ``prune`` deletes the shards of old days, keeping their aggregates.

Before deleting, the old shards' summary groups (counts, sums, first/last time, latencies) are
added to ``<feedback_dir>/_compacted.parquet`` (committed like the shards; written by DuckDB,
atomically renamed into place). Each group carries its shard's path and CRC-32, so a prune
interrupted after writing the file and before deleting the shards never counts a record twice:
summaries skip a live shard whose path and bytes the compacted file already holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ptrain import faults
from ptrain.errors import PtrainError
from ptrain.feedback.analytics import COMPACTED_FILE, _q, crc_of
from ptrain.feedback.importing import import_lock, recover
from ptrain.feedback.shardscan import Session, load_groups
from ptrain.feedback.store import open_store, shards
from ptrain.storage import jsonl


@dataclass
class PruneReport:
    cutoff_day: str
    shards_removed: list[str]
    records_removed: int
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def prune(
    root: str | os.PathLike[str],
    older_than_days: int | None = None,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> PruneReport:
    """Delete shards of days older than the cutoff, folding their aggregates into
    ``_compacted.parquet`` first, so summaries keep their totals."""

    store = open_store(root)
    if not store.is_repo:
        raise PtrainError(f"{store.root} is not a prompt repository", "run prune in the repository")
    if older_than_days is None:
        older_than_days = store.config.retention_days
    if older_than_days < 1:
        raise PtrainError("--older-than-days must be at least 1", "pass a number of days >= 1")
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=older_than_days)).strftime("%Y-%m-%d")
    recover(store)
    old = [s for s in shards(store) if s.day < cutoff]
    report = PruneReport(cutoff, [s.rel() for s in old], 0, dry_run)
    if not old:
        return report
    target = store.shards / COMPACTED_FILE
    with import_lock(store):
        locks = []
        session = Session()
        con = session.con
        try:
            for sh in old:  # hold every old shard's lock: nobody appends to what we fold in
                cm = jsonl.locked_shard(sh.path)
                cm.__enter__()
                locks.append(cm)
            load_groups(con, store, old, "old")
            report.records_removed = int(
                con.execute("SELECT coalesce(sum(n), 0) FROM old").fetchone()[0]
            )
            if dry_run:
                return report
            crcs = [(sh.rel(), crc_of(sh.path)) for sh in old]
            con.execute("CREATE TABLE crcs (shard VARCHAR, crc BIGINT)")
            con.executemany("INSERT INTO crcs VALUES (?, ?)", crcs)
            con.execute(
                "CREATE TABLE merged AS SELECT o.*, c.crc FROM old o JOIN crcs c USING (shard)"
            )
            if target.exists():  # keep earlier prunes' groups, minus any we just re-read
                con.execute(
                    f"INSERT INTO merged BY NAME SELECT * FROM read_parquet('{_q(target)}') p "
                    "WHERE NOT EXISTS (SELECT 1 FROM crcs c WHERE c.shard = p.shard AND c.crc = p.crc)"
                )
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            con.execute(
                f"COPY (SELECT * FROM merged ORDER BY shard) TO '{_q(tmp)}' (FORMAT parquet)"
            )
            os.replace(tmp, target)
            jsonl.fsync_dir(target.parent)
            faults.step("prune.compacted")
            for sh in old:
                jsonl.remove_quietly(sh.path)
        finally:
            session.close()
            for cm in reversed(locks):
                cm.__exit__(None, None, None)
    for sh in old:
        for d in (sh.path.parent, *sh.path.parent.parents):
            if d == store.shards or store.shards not in d.parents:
                break
            try:
                d.rmdir()
            except OSError:
                break
    return report
