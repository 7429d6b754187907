"""Feedback analytics on DuckDB: summaries with a per-shard cache, and the ``feedback`` table.

Shards are read by DuckDB's ``read_json`` with a declared schema (``format =
'newline_delimited'``, explicit columns: no type inference). A summary folds every shard into
per-(shard, version, env, variant) groups - counts, sums, first/last time and the list of
latencies (so percentiles stay exact) - cached in ``.ptrain/cache/feedback/groups.parquet``.
Env and variant are read only once a summary has asked for them (until then they are NULL in
the groups): the first summary by env or variant reads every shard again, and the cache keeps
them from then on. ``index.json`` next to it records each shard's (size, mtime, inode) and the
last results: when nothing changed a summary is a handful of ``stat`` calls and no DuckDB at
all; when a shard changed only that shard is read again.

DuckDB's ``ignore_errors`` turns a malformed line into a row of NULLs; such rows (and records
that are not schema_version 1 records of the shard's prompt) are left out and reported with
their line numbers, found by re-reading only the shards that have them. Bytes after a shard's
last newline (a writer killed mid-append, or one still writing) are never read: such a shard is
read from a copy of its complete lines, and the tail is reported.

``duckdb`` is imported only here and in ``query``: never by ``feedback add`` or ``get()``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ptrain.errors import PtrainError
from ptrain.feedback.importing import recover
from ptrain.feedback.reading import check_prompt, parse_since
from ptrain.feedback.shardscan import DIMENSIONS, Session, duckdb_errors, load_groups
from ptrain.feedback.store import Shard, Store, open_store, shards
from ptrain.storage import jsonl

SUMMARY_BY = ("prompt", "version", "env", "variant")
COMPACTED_FILE = "_compacted.parquet"
_FORMAT = 5
# snappy: about as small as lz4_raw here and 10-20 ms faster to write at 1M records
_CACHE_PARQUET = "FORMAT parquet, COMPRESSION snappy"
_MAX_RESULTS = 16


class ParseStats:
    """Counts what a summary had to read; tests and the benchmark assert on it."""

    def __init__(self) -> None:
        self.shards = 0
        self.cached = 0
        self.parsed = 0
        self.bytes_parsed = 0

    def to_dict(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass
class Summary:
    by: str
    rows: list[dict[str, Any]]
    warnings: list[str]
    stats: ParseStats = field(default_factory=ParseStats)

    def to_dict(self) -> dict[str, Any]:
        return {"by": self.by, "rows": self.rows, "warnings": self.warnings,
                "stats": self.stats.to_dict()}  # fmt: skip


# -- the summary query -----------------------------------------------------------------------------


def _keys(by: str) -> list[str]:
    return ["prompt"] if by == "prompt" else ["prompt", by]


def summary_rows(con: Any, source: str, by: str) -> list[dict[str, Any]]:
    """The summary of the groups in ``source`` (a table or query), one row per ``by`` key."""
    keys = ", ".join(_keys(by))
    sql = f"""
    WITH g AS ({source})
    SELECT {keys}, max(version_number) AS version_number, sum(n)::BIGINT AS count,
           sum(successes)::BIGINT AS successes, sum(errors)::BIGINT AS errors,
           sum(ratings)::BIGINT AS ratings, sum(rating_sum) AS rating_sum,
           sum(suggestions)::BIGINT AS suggestions, sum(metrics)::BIGINT AS metrics,
           sum(len(lat))::BIGINT AS latency_samples,
           sum(pt_n) AS pt_n, sum(pt_sum) AS pt_sum, sum(ct_n) AS ct_n, sum(ct_sum) AS ct_sum,
           min(first_ts) AS first_ts, max(last_ts) AS last_ts,
           list_aggregate(flatten(list(lat)), 'quantile_cont', [0.5, 0.95]) AS q
    FROM g GROUP BY {keys}
    ORDER BY {", ".join(f"coalesce({k}, '')" for k in _keys(by))}
    """
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [_row(dict(zip(names, r, strict=True)), by) for r in cur.fetchall()]


def _ratio(a: float, b: float, digits: int) -> float | None:
    return round(a / b, digits) if b else None


def _row(t: dict[str, Any], by: str) -> dict[str, Any]:
    calls = t["successes"] + t["errors"]
    key: dict[str, Any] = {"prompt": t["prompt"]}
    if by == "version":
        key["version"], key["version_number"] = t["version"], t["version_number"]
    elif by != "prompt":
        key[by] = t[by]
    p50, p95 = t["q"] or (None, None)
    return {
        **key,
        "count": t["count"],
        "calls": calls,
        "successes": t["successes"],
        "errors": t["errors"],
        "error_rate": _ratio(t["errors"], calls, 4),
        "success_rate": _ratio(t["successes"], calls, 4),
        "ratings": t["ratings"],
        "avg_rating": _ratio(t["rating_sum"] or 0.0, t["ratings"], 4),
        "suggestions": t["suggestions"],
        "metrics": t["metrics"],
        "latency_samples": t["latency_samples"] or 0,
        "latency_p50_ms": None if p50 is None else round(p50, 1),
        "latency_p95_ms": None if p95 is None else round(p95, 1),
        "avg_prompt_tokens": _ratio(float(t["pt_sum"] or 0), t["pt_n"], 1),
        "avg_completion_tokens": _ratio(float(t["ct_sum"] or 0), t["ct_n"], 1),
        "first_ts": t["first_ts"],
        "last_ts": t["last_ts"],
    }


# -- the cache -------------------------------------------------------------------------------------


def _sig(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino]


@contextlib.contextmanager
def _cache_lock(store: Store) -> Any:
    store.cache.mkdir(parents=True, exist_ok=True)
    fd = os.open(store.cache / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _empty_doc(dims: tuple[str, ...]) -> dict[str, Any]:
    return {"format": _FORMAT, "dims": list(dims), "shards": {}, "warnings": {}, "results": {}}


class Cache:
    def __init__(self, store: Store, enabled: bool):
        self.store, self.enabled = store, enabled
        self.index_path = store.cache / "index.json"
        self.groups_path = store.cache / "groups.parquet"
        self.doc = _empty_doc(())
        if enabled:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                doc = jsonl.loads(self.index_path.read_bytes())
                if doc.get("format") == _FORMAT and self.groups_path.exists():
                    self.doc = doc

    def split_on(self, by: str) -> tuple[str, ...]:
        """The ``DIMENSIONS`` the groups split on: those asked for so far, and ``by``. A new one
        empties the cache, so every shard is read once more (with it) and it is kept from then."""
        dims = tuple(d for d in DIMENSIONS if d in self.doc["dims"] or d == by)
        if list(dims) != self.doc["dims"]:
            self.doc = _empty_doc(dims)
        return dims

    def save(self) -> None:
        if self.enabled:
            with contextlib.suppress(OSError):  # an unwritable cache only costs speed next time
                jsonl.atomic_write(self.index_path, jsonl.dumps(self.doc))


def _in_scope(rel: str, prompt: str | None) -> bool:
    return prompt is None or rel.rsplit("/", 2)[0] == prompt


def summarize(
    root: str | os.PathLike[str],
    prompt: str | None = None,
    *,
    by: str = "prompt",
    since: str | datetime | None = None,
    use_cache: bool = True,
) -> Summary:
    """Counts, rates, average rating, suggestions, latency p50/p95 and average tokens.

    One row per prompt (``by="prompt"``) or per prompt and version / env / variant, including
    what ``prune`` compacted. ``since`` is exact: days before it are skipped, the shards of its
    own day are read record by record, later ones come from the cache.
    """

    if by not in SUMMARY_BY:
        raise PtrainError(f"cannot summarise by {by!r}", f"use --by {' or '.join(SUMMARY_BY)}")
    check_prompt(prompt)
    store = open_store(root)
    recover(store)
    since_ts = parse_since(since)
    items = shards(store, prompt)
    stats = ParseStats()
    stats.shards = len(items)
    sigs: dict[str, list[int]] = {}
    for sh in items:
        with contextlib.suppress(FileNotFoundError):
            sigs[sh.rel()] = _sig(os.stat(sh.fspath))
    compacted = store.shards / COMPACTED_FILE if store.is_repo else None
    csig = _sig(os.stat(compacted)) if compacted is not None and compacted.exists() else None
    cache = Cache(store, use_cache)
    key = f"{prompt or '*'}|{by}|{since_ts or ''}"
    dims = cache.split_on(by)
    known = cache.doc["shards"]
    changed = [sh for sh in items if known.get(sh.rel()) != sigs.get(sh.rel())]
    gone = [r for r in known if _in_scope(r, prompt) and r not in sigs]
    fresh = not changed and not gone and cache.doc.get("compacted") == csig
    hit = cache.doc["results"].get(key) if fresh else None
    if hit is not None:
        stats.cached = len(items)
        return Summary(by, hit["rows"], hit["warnings"], stats)
    with _cache_lock(store), duckdb_errors("feedback summary"):
        return _summarize_locked(
            store, cache, prompt, items, changed, gone, since_ts, by, key, csig, stats, dims
        )


def _summarize_locked(
    store: Store, cache: Cache, prompt: str | None, items: list[Shard], changed: list[Shard],
    gone: list[str], since_ts: str | None, by: str, key: str, csig: list[int] | None,
    stats: ParseStats, dims: tuple[str, ...],
) -> Summary:  # fmt: skip
    session = Session()
    con = session.con
    try:
        if cache.enabled and cache.doc["shards"]:
            con.execute(
                f"CREATE TABLE cached AS SELECT * FROM read_parquet('{_q(cache.groups_path)}')"
            )
            drop = [sh.rel() for sh in changed] + gone
            if drop:
                con.execute("DELETE FROM cached WHERE list_contains($d, shard)", {"d": drop})
            new_warn = load_groups(con, store, changed, "delta", dims=dims)
            con.execute("INSERT INTO cached BY NAME SELECT * FROM delta")
        else:
            cache.doc["shards"], cache.doc["warnings"] = {}, {}
            changed = items
            new_warn = load_groups(con, store, items, "cached", dims=dims)
        if changed:
            stats.parsed = len(changed)
            stats.bytes_parsed = sum(
                os.stat(sh.fspath).st_size for sh in changed if os.path.exists(sh.fspath)
            )
            per: dict[str, list[str]] = {}
            for w in new_warn:
                per.setdefault(w.split(":", 1)[0], []).append(w)
            for sh in changed:
                cache.doc["warnings"][sh.rel()] = per.get(sh.rel(), [])
        for rel in gone:
            cache.doc["shards"].pop(rel, None)
            cache.doc["warnings"].pop(rel, None)
        for sh in changed:
            with contextlib.suppress(FileNotFoundError):
                cache.doc["shards"][sh.rel()] = _sig(os.stat(sh.fspath))
        stats.cached = len(items) - len(changed)
        rels = [sh.rel() for sh in items]
        source, warnings = _scoped_source(con, store, prompt, items, since_ts, rels, dims)
        warnings = [w for r in rels for w in cache.doc["warnings"].get(r, [])] + warnings
        if changed or gone or cache.doc.get("compacted") != csig:
            cache.doc["results"] = {}
            if cache.enabled:
                rows = _summary_writing_cache(session, cache.groups_path, source, by)
            else:
                rows = summary_rows(con, source, by)
        else:
            rows = summary_rows(con, source, by)
        cache.doc["compacted"] = csig
        results = cache.doc["results"]
        results.pop(key, None)
        while len(results) >= _MAX_RESULTS:
            del results[next(iter(results))]
        results[key] = {"rows": rows, "warnings": warnings}
        cache.save()
        return Summary(by, rows, warnings, stats)
    finally:
        session.close()


def _summary_writing_cache(
    session: Session, path: Path, source: str, by: str
) -> list[dict[str, Any]]:
    """``summary_rows`` while a second connection writes the groups to ``path``: DuckDB writes
    a parquet file this small on one thread and the summary mostly runs on one too, so at once
    they take the longer of the two (~15 ms less at 1M records)."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    failed: list[BaseException] = []
    writer = session.other()

    def write() -> None:
        try:
            writer.execute(f"COPY cached TO '{_q(tmp)}' ({_CACHE_PARQUET})")
        except BaseException as exc:  # re-raised by the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=write, name="ptrain-cache-writer")
    thread.start()
    try:
        rows = summary_rows(session.con, source, by)
    finally:
        thread.join()
        writer.close()
    if failed:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise failed[0]
    os.replace(tmp, path)
    return rows


def _q(path: Path | str) -> str:
    return str(path).replace("'", "''")


def _scoped_source(
    con: Any,
    store: Store,
    prompt: str | None,
    items: list[Shard],
    since_ts: str | None,
    rels: list[str],
    dims: tuple[str, ...],
) -> tuple[str, list[str]]:
    """SQL for the groups in scope: cached shards (whole days after ``since``), the boundary
    day's shards read record by record, and the compacted groups of pruned shards."""
    con.execute(
        "CREATE OR REPLACE TABLE scope AS SELECT unnest($r::VARCHAR[]) AS shard",
        {"r": rels or []},
    )
    parts = []
    warnings: list[str] = []
    day = since_ts[:10] if since_ts else None
    boundary = [s for s in items if since_ts and s.day == day and since_ts > f"{day}T00:00:00.000Z"]
    cond = "shard IN (SELECT shard FROM scope)"
    if day:
        cond += f" AND day >= '{day}'"
    if boundary:
        cond += " AND NOT list_contains($b, shard)".replace(
            "$b", "[" + ", ".join(f"'{_q(s.rel())}'" for s in boundary) + "]"
        )
        load_groups(con, store, boundary, "edge", since=since_ts, dims=dims)
        parts.append("SELECT * FROM edge")
    if store.is_repo and (store.shards / "_compacted.json").exists():
        warnings.append(
            "_compacted.json (from an earlier ptrain) is not read: its pruned totals are missing"
        )
    absorbed = _absorbed(con, store, items)
    if absorbed:
        cond += " AND shard NOT IN (" + ", ".join(f"'{_q(r)}'" for r in absorbed) + ")"
    parts.insert(0, f"SELECT * FROM cached WHERE {cond}")
    compacted = store.shards / COMPACTED_FILE
    if store.is_repo and compacted.exists():
        ccond = "true" if prompt is None else f"prompt = '{_q(prompt)}'"
        if day:
            ccond += f" AND day >= '{day}'"
        parts.append(
            "SELECT * EXCLUDE (crc) FROM read_parquet('" + _q(compacted) + f"') WHERE {ccond}"
        )
    return " UNION ALL BY NAME ".join(parts), warnings


def _absorbed(con: Any, store: Store, items: list[Shard]) -> set[str]:
    """Live shards already folded into the compacted file by a prune interrupted before it
    deleted them (same path and same bytes): counted once, from the compacted file."""
    compacted = store.shards / COMPACTED_FILE
    if not store.is_repo or not compacted.exists():
        return set()
    pairs = set(
        con.execute(f"SELECT DISTINCT shard, crc FROM read_parquet('{_q(compacted)}')").fetchall()
    )
    names = {rel for rel, _ in pairs}
    return {sh.rel() for sh in items if sh.rel() in names and (sh.rel(), crc_of(sh.path)) in pairs}


def crc_of(path: Path) -> int:
    return zlib.crc32(jsonl.read_complete(path).data)
